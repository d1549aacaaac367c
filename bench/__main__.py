"""Run every benchmark module in bench/ and print one table of ratios."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

from bench import Row


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    package_dir = Path(__file__).parent
    modules = [
        m.name for m in pkgutil.iter_modules([str(package_dir)]) if not m.name.startswith("_")
    ]
    rows: list[Row] = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "run"):
            rows.extend(module.run())
    if not rows:
        print("No benchmarks yet: they arrive with the renewals, webhooks and batch issues.")
        return 0
    print(f"{'benchmark':<48} {'value':>12} {'baseline':>12} {'unit':<10} {'ratio':>7}")
    for row in rows:
        numbers = f"{row.value:>12.1f} {row.baseline:>12.1f} {row.unit:<10} {row.ratio:>7.2f}"
        print(f"{row.name:<48} {numbers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
