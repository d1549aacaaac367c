"""The test session compiles the translation catalogues it needs (tests/conftest.py)."""

import os
from pathlib import Path

import polib
from django.conf import settings
from django.utils import translation

from tests.conftest import compile_translations


def catalogues(locale_path) -> list[tuple[Path, Path]]:
    return [
        (po, po.with_suffix(".mo")) for po in sorted(Path(locale_path).glob("*/LC_MESSAGES/*.po"))
    ]


def test_every_catalogue_is_compiled_and_at_least_as_new_as_its_po_once_the_session_starts():
    found = [pair for path in settings.LOCALE_PATHS for pair in catalogues(path)]

    assert found, "the project has catalogues"
    for po, mo in found:
        assert mo.exists(), f"{mo} is compiled"
        assert mo.stat().st_mtime >= po.stat().st_mtime, f"{mo} is not older than {po.name}"


def test_the_french_catalogue_answers_in_french():
    with translation.override("fr"):
        assert translation.gettext("Administrator") == "Administrateur"


def write_catalogue(locale_path: Path, msgstr: str) -> Path:
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    po.append(polib.POEntry(msgid="Box", msgstr=msgstr))
    path = locale_path / "fr" / "LC_MESSAGES" / "django.po"
    path.parent.mkdir(parents=True)
    po.save(str(path))
    return path


def test_a_missing_catalogue_is_compiled(tmp_path, settings):
    settings.BASE_DIR, settings.LOCALE_PATHS = tmp_path, [tmp_path]
    po = write_catalogue(tmp_path, "Colis")

    printed = compile_translations()

    assert "1 catalogue(s) compiled" in printed
    assert polib.mofile(str(po.with_suffix(".mo"))).find("Box").msgstr == "Colis"


def test_a_stale_catalogue_is_compiled_again_and_a_fresh_one_is_left_alone(tmp_path, settings):
    settings.BASE_DIR, settings.LOCALE_PATHS = tmp_path, [tmp_path]
    po = write_catalogue(tmp_path, "Colis")
    compile_translations()
    assert "0 catalogue(s) compiled" in compile_translations()

    entries = polib.pofile(str(po))
    entries.find("Box").msgstr = "Boîte"
    entries.save(str(po))
    mo = po.with_suffix(".mo")
    old = mo.stat().st_mtime - 60
    os.utime(mo, (old, old))  # the .po was edited after the last compilation

    assert "1 catalogue(s) compiled" in compile_translations()
    assert polib.mofile(str(mo)).find("Box").msgstr == "Boîte"
