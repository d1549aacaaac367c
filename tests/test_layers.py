"""The layers between the apps are enforced: an upward import fails `make lint`.

`make lint` runs import-linter's contracts (pyproject.toml, docs/architecture.md "Layers").
These tests run the same contracts on a copy of the project's packages: as they are (kept),
then with one upward import planted (broken, and named in the report), so a contract that
silently stopped checking would be noticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


@pytest.fixture
def project_copy(tmp_path):
    for package in _packages():
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "templates", "static", "locale"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(  # noqa: S603 - our own virtualenv's lint-imports
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_project_keeps_its_layers(project_copy):
    result = _lint(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(project_copy):
    # crm is below fulfillment: the CRM reading a batch would be an upward import.
    (project_copy / "crm" / "planted.py").write_text("from fulfillment.models import Batch\n")
    result = _lint(project_copy)
    assert result.returncode == 1
    assert "crm is not allowed to import fulfillment" in result.stdout
    assert "crm.planted -> fulfillment.models" in result.stdout


def test_a_lazy_import_inside_a_function_counts_too(project_copy):
    (project_copy / "subscriptions" / "planted.py").write_text(
        "def later():\n    from returns import services\n\n    return services\n"
    )
    result = _lint(project_copy)
    assert result.returncode == 1
    assert "subscriptions is not allowed to import returns" in result.stdout


def test_an_admin_importing_another_apps_admin_breaks_the_contract(project_copy):
    admin = project_copy / "returns" / "admin.py"
    if not admin.exists():  # an admin package
        admin = project_copy / "returns" / "admin" / "__init__.py"
    admin.write_text(admin.read_text() + "\nfrom satisfaction import admin as _planted\n")
    result = _lint(project_copy)
    assert result.returncode == 1
    assert "returns.admin is not allowed to import satisfaction.admin" in result.stdout
