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
def test_the_language_switch_sets_french_for_the_session(admin_client):
    response = admin_client.post(
        "/i18n/setlang/", {"language": "fr", "next": "/admin/"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert "Back-office des abonnements" in page.text
