"""French and English: the catalogue is complete and the admin speaks the browser's language."""

from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

from crm.models import Customer, Membership

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def test_every_french_entry_is_translated_and_not_fuzzy():
    catalogue = polib.pofile(str(CATALOGUE))

    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]

    assert untranslated == []
    assert fuzzy == []
    assert len(catalogue.translated_entries()) > 50


def test_placeholders_survive_translation():
    for entry in polib.pofile(str(CATALOGUE)).translated_entries():
        for placeholder in ("%(key)s", "%(value)s", "%(count)d"):
            translations = [entry.msgstr] if entry.msgstr else entry.msgstr_plural.values()
            for text in translations:
                assert (placeholder in entry.msgid) == (placeholder in text), entry.msgid


def test_models_and_choices_are_translated():
    with translation.override("fr"):
        assert str(Customer._meta.verbose_name_plural) == "clients"
        assert str(Membership.Role.VIEWER.label) == "Lecteur"
    with translation.override("en"):
        assert str(Customer._meta.verbose_name_plural) == "customers"


@pytest.mark.django_db
def test_the_admin_follows_the_browsers_language(admin_client):
    french = admin_client.get("/admin/crm/customer/", HTTP_ACCEPT_LANGUAGE="fr")
    english = admin_client.get("/admin/crm/customer/", HTTP_ACCEPT_LANGUAGE="en")

    assert "Back-office des abonnements" in french.text
    assert "Clients" in french.text
    assert "Customers" not in french.text
    assert "Subscription back office" in english.text
    assert "Customers" in english.text


@pytest.mark.django_db
def test_the_catalogue_does_not_change_the_admins_own_wording(admin_client):
    # "Change" is both the language switch's button and Django's change links:
    # the project's entry wins over Django's, so it must keep Django's "Modifier".
    index = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="fr")

    assert 'class="changelink"' in index.text
    assert ">Modifier</a>" in index.text
    assert ">Changer</a>" not in index.text


@pytest.mark.django_db
def test_the_language_switch_sets_french_for_the_session(admin_client):
    response = admin_client.post(
        "/i18n/setlang/", {"language": "fr", "next": "/admin/"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert "Back-office des abonnements" in page.text


APPS = ["config", "crm", "subscriptions", "woocommerce", "fulfillment", "preferences"]
APPS += ["satisfaction", "returns"]
KEYWORDS = [
    "gettext_noop",
    "gettext_lazy",
    "ngettext_lazy:1,2",
    "pgettext:1c,2",
    "npgettext:1c,2,3",
    "pgettext_lazy:1c,2",
    "npgettext_lazy:1c,2,3",
    "_",
    "gettext",
    "ngettext:1,2",
]


def _source_msgids(tmp_path) -> set[str]:
    """Every msgid in the project's Python files and templates, as xgettext finds them."""
    import shutil
    import subprocess

    from django.utils.translation.template import templatize

    xgettext = shutil.which("xgettext")
    if xgettext is None:
        pytest.skip("GNU gettext's xgettext is not installed; cannot read msgids from the source")
    base = Path(settings.BASE_DIR)
    sources = [p for app in APPS for p in (base / app).rglob("*.py") if "migrations" not in p.parts]
    for template in (base / "templates").rglob("*.html"):
        converted = tmp_path / (template.name + ".py")
        converted.write_text(templatize(template.read_text(), origin=str(template)))
        sources.append(converted)
    pot = tmp_path / "source.pot"
    subprocess.run(  # noqa: S603
        [xgettext, "-L", "Python", "--from-code=UTF-8", "-o", str(pot)]
        + [f"--keyword={k}" for k in KEYWORDS]
        + [str(p) for p in sources],
        check=True,
    )
    return {entry.msgid for entry in polib.pofile(str(pot))}


def test_every_string_in_the_source_has_a_french_entry(tmp_path):
    in_catalogue = {entry.msgid for entry in polib.pofile(str(CATALOGUE)).translated_entries()}

    missing = sorted(_source_msgids(tmp_path) - in_catalogue)

    assert missing == [], "run `make messages` and translate: " + repr(missing)
