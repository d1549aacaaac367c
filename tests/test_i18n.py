"""French and English: the catalogue is complete and the admin speaks the browser's language."""

import re
from datetime import datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.template.base import Lexer, TokenType
from django.utils import translation

from crm.models import Customer, Membership
from tests.factories import ChargeFactory, SubscriptionFactory, open_batch

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def test_every_french_entry_is_translated_and_not_fuzzy():
    catalogue = polib.pofile(str(CATALOGUE))

    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]

    assert untranslated == []
    assert fuzzy == []
    assert len(catalogue.translated_entries()) > 50


# "%(name)s", "%s" (Python) and "{name}" (an organization's e-mail texts, str.format).
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sd]|\{\w+\}")


def test_placeholders_survive_translation():
    for entry in polib.pofile(str(CATALOGUE)).translated_entries():
        if entry.msgid_plural:
            # A language's singular may say "un" where English says "%(count)d".
            wanted = set(PLACEHOLDER.findall(entry.msgid + entry.msgid_plural))
            translations = list(entry.msgstr_plural.values())
            assert all(set(PLACEHOLDER.findall(t)) <= wanted for t in translations), entry.msgid
            assert set(PLACEHOLDER.findall(translations[-1])) >= set(
                PLACEHOLDER.findall(entry.msgid_plural)
            ), entry.msgid
        else:
            assert set(PLACEHOLDER.findall(entry.msgstr)) == set(
                PLACEHOLDER.findall(entry.msgid)
            ), entry.msgid


def test_models_and_choices_are_translated():
    with translation.override("fr"):
        assert str(Customer._meta.verbose_name_plural) == "clients"
        assert str(Membership.Role.VIEWER.label) == "Lecteur"
    with translation.override("en"):
        assert str(Customer._meta.verbose_name_plural) == "customers"


def test_a_subscription_is_terminated_and_everything_else_called_off_in_french():
    from fulfillment.admin import BatchAdmin
    from fulfillment.models import Batch, Shipment
    from returns.models import ReturnRequest
    from subscriptions.models import Subscription

    with translation.override("fr"):
        # "Résilier" is for a contract; a batch, a case or a survey is "annulé".
        assert str(Subscription.Status.CANCELED.label) == "Résilié"
        assert str(Subscription.cancel._django_fsm.transitions["active"].custom["label"]) == (
            "Résilier"
        )
        assert str(Batch.Status.CANCELED.label) == "Annulé"
        assert str(ReturnRequest.Status.CANCELED.label) == "Annulé"
        assert "Résilier" not in {str(label) for label in BatchAdmin.action_labels.values()}
        # A shipment is "un envoi": its statuses agree with it.
        assert [str(label) for label in Shipment.Status.labels][:3] == ["Créé", "Expédié", "Livré"]


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


@pytest.mark.django_db
def test_api_errors_follow_the_clients_accept_language(org_a, api_client_for):
    # Given an active subscription, and an integration asking to pause it until yesterday
    subscription = SubscriptionFactory(organization=org_a, status="active")
    client = api_client_for(org_a)
    url = f"/api/v1/subscriptions/{subscription.pk}/pause/"
    past = {"resume_at": "2020-01-01T00:00:00Z"}

    french = client.post(url, past, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    english = client.post(url, past, format="json", HTTP_ACCEPT_LANGUAGE="en")
    french_invalid = client.post(
        url, {"resume_at": "soon"}, format="json", HTTP_ACCEPT_LANGUAGE="fr"
    )

    # Then the service's refusal, and the input errors, are in the client's language
    assert french.status_code == english.status_code == 400
    assert french.json()["extra"]["fields"]["resume_at"] == [
        "La date de reprise doit être dans le futur."
    ]
    assert english.json()["extra"]["fields"]["resume_at"] == [
        "The resume date must be in the future."
    ]
    assert french_invalid.json()["message"] == "Données invalides."
    assert french_invalid.json()["extra"]["fields"]["resume_at"][0].startswith("La date")


@pytest.mark.django_db
def test_amounts_and_dates_in_labels_are_written_as_the_locale_writes_them(org_a):
    charge = ChargeFactory(subscription__organization=org_a, amount=Decimal("1234.5"))
    batch = open_batch(org_a, datetime(2026, 12, 2, 10, tzinfo=org_a.tzinfo))

    with translation.override("fr"):
        assert str(charge).endswith(": 1\xa0234,50 EUR")
        assert str(batch) == "Lot du 2 décembre 2026"
    with translation.override("en"):
        assert str(charge).endswith(": 1,234.50 EUR")
        assert str(batch) == "Batch of Dec. 2, 2026"


APPS = ["config", "crm", "subscriptions", "woocommerce", "fulfillment", "preferences"]
APPS += ["satisfaction", "returns", "dashboard", "operations", "carriers", "core", "signin"]
APPS += ["portal"]
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


def _project_templates() -> list[Path]:
    """The project's templates (HTML pages, text e-mails): its own folder and its apps'."""
    base = Path(settings.BASE_DIR)
    folders = [Path(folder) for engine in settings.TEMPLATES for folder in engine["DIRS"]]
    folders += [
        Path(config.path) / "templates"
        for config in apps.get_app_configs()
        if Path(config.path).parent == base  # the project's apps, not the libraries
    ]
    found = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    return sorted(path for path in found if path.suffix in (".html", ".txt"))


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
    for number, template in enumerate(_project_templates()):
        converted = tmp_path / f"{number}-{template.name}.py"
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


# --- Templates: every word a person reads goes through the catalogue -----------------------

# The blocks whose text no one reads: comments, CSS, class names; and what is translated.
_UNREAD = {"comment": "endcomment", "verbatim": "endverbatim"}
_TRANSLATED = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans"}
_MARKUP_BLOCKS = {"bodyclass", "style", "extrastyle", "extrahead"}
_READ_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label"}
_WORD = re.compile(r"[^\W\d_]{2,}")
#: Words that are the same in every language (none yet).
_UNTRANSLATED_WORDS: set[str] = set()


def _template_text(source: str) -> str:
    """The template with every tag, variable, comment and translated block as "§"."""
    parts, closing = [], None
    for token in Lexer(source).tokenize():
        if closing:
            if token.token_type == TokenType.BLOCK and token.split_contents()[0] == closing:
                closing = None
            parts.append("\n" * token.contents.count("\n"))  # keep line numbers
        elif token.token_type == TokenType.TEXT:
            parts.append(token.contents)
        else:
            bits = token.split_contents() if token.token_type == TokenType.BLOCK else [""]
            if bits[0] in _UNREAD or bits[0] in _TRANSLATED:
                closing = {**_UNREAD, **_TRANSLATED}[bits[0]]
            elif bits[0] == "block" and bits[1] in _MARKUP_BLOCKS:
                closing = "endblock"
            parts.append("§")
    return "".join(parts)


def _has_words(text: str) -> bool:
    return any(w not in _UNTRANSLATED_WORDS for w in _WORD.findall(text.replace("§", " ")))


class _ReadableText(HTMLParser):
    """Text a person reads in an HTML page: its text nodes and a few attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._in_code = 0  # inside <style> or <script>

    def handle_starttag(self, tag, attrs):
        self._in_code += tag in ("style", "script")
        attributes = dict(attrs)
        read = set(_READ_ATTRIBUTES)
        if tag == "input" and attributes.get("type") in ("submit", "button"):
            read.add("value")
        for name in read & attributes.keys():
            if attributes[name] and _has_words(attributes[name]):
                self.found.append((self.getpos()[0], f'{name}="{attributes[name]}"'))

    def handle_endtag(self, tag):
        self._in_code -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._in_code and _has_words(data):
            self.found.append((self.getpos()[0], " ".join(data.split())))


def untranslated_text(source: str, *, html: bool = True) -> list[tuple[int, str]]:
    """(line, text) of the words in a template that no translate tag holds."""
    text = _template_text(source)
    if not html:
        lines = enumerate(text.splitlines(), start=1)
        return [(number, line.strip()) for number, line in lines if _has_words(line)]
    parser = _ReadableText()
    parser.feed(text)
    parser.close()
    return parser.found


def test_the_template_scan_finds_words_outside_translate_tags():
    source = """{% load i18n %}{% comment %}Not read.{% endcomment %}
<style>.note { color: red; }</style>
<h1 class="title-{{ kind }}">{% translate "Hello" %}, {{ name }}!</h1>
<p>{% blocktranslate %}Hi {{ name }}{% endblocktranslate %} · 12 € ✓</p>
<p>Order received</p><input type="submit" value="Send"><img alt="{% translate 'Logo' %}">
<span title="Shipped">{% translate "Shipped" %}</span>"""

    assert untranslated_text(source) == [
        (5, "Order received"),
        (5, 'value="Send"'),
        (6, 'title="Shipped"'),
    ]
    text_mail = "{% load i18n %}{% translate 'Due' %}: {{ when }}\nby nobody"
    assert untranslated_text(text_mail, html=False) == [(2, "by nobody")]


def test_every_word_of_every_template_is_translated():
    found = [
        f"{template}:{line}: {text}"
        for template in _project_templates()
        for line, text in untranslated_text(template.read_text(), html=template.suffix == ".html")
    ]

    assert found == [], "wrap in {% translate %} or {% blocktranslate %}:\n" + "\n".join(found)
