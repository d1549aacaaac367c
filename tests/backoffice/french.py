"""The French-labels check: on an admin page rendered in French, every English label left.

A page's visible texts (text nodes of visible elements, button values,
placeholders, titles, the options of visible selects) are read in the browser,
and the same URL is rendered again in English, in a second browser context
logged in as the same staff member with English chosen (a copy of the
session: see `FrenchLabels._english_cookies`). A French text is
flagged when it is also on the English page (translated texts differ; data
such as names, SKUs, e-mails, amounts and dates is the same in both) and

- it is a catalogue's msgid whose French translation differs (marked for
  translation but rendered in English, e.g. translated at import time), or a
  msgid the catalogue has no French for (empty or fuzzy), or
- it has a word of the interface's English: a word of the catalogues' msgids
  (this project's, Django's and the apps') that is in none of their French
  msgstrs, so that words both languages share ("Actions", "date", "total") and
  data in French are not flagged; words the msgids only ever capitalise are
  names (countries, languages) and left out too.

Run `make messages` first: a label marked for translation but missing from
the catalogue is caught by its words only, and one not marked at all too.

The comparison is what keeps data out: a customer called "Olivia Smith" is
the same in both renders, but "Smith" is no word of the interface. If the
English render still comes back in French, the check goes on with the
vocabulary alone. Only what a GET shows is compared: a message after an
action is not on the English render, so it is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from pathlib import Path

import django
import polib
from django.apps import apps
from django.conf import settings
from django.utils.translation import get_language_info

from crm.middleware import LANGUAGE_SESSION_KEY as STAFF_LANGUAGE_KEY
from tests.browser import VIEWPORT

#: The texts a staff member reads on the page, as [kind, text] (run in the page by Playwright).
VISIBLE_TEXTS_JS = """
() => {
  const seen = new Map();
  const shown = (element) => {
    if (!seen.has(element)) seen.set(element, element.checkVisibility({visibilityProperty: true}));
    return seen.get(element);
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !node.nodeValue.trim()) continue;
    if (parent.closest("script, style, noscript, template, option")) continue;
    if (shown(parent)) texts.push(["", node.nodeValue]);
  }
  const attributes = "[title], [placeholder], [aria-label], [alt], input[type=submit], "
    + "input[type=button], input[type=reset], select";
  for (const element of document.body.querySelectorAll(attributes)) {
    if (!shown(element)) continue;
    for (const name of ["title", "placeholder", "aria-label", "alt"]) {
      if (element.hasAttribute(name)) texts.push([name, element.getAttribute(name)]);
    }
    if (element.matches("input[type=submit], input[type=button], input[type=reset]")) {
      texts.push(["button", element.value]);
    }
    if (element.matches("select")) {
      for (const option of element.options) texts.push(["option", option.text]);
    }
  }
  texts.push(["page title", document.title]);
  return texts;
}
"""

_PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sdfr]|\{\w*\}|<[^>]+>|&\w+;")
_WORD = re.compile(r"[^\W\d_]+")
#: A token with a digit, an @, a dot or a hyphen inside is data (SKU, e-mail, amount, time).
_DATA_TOKEN = re.compile(r"\S*[\d@]\S*|\S+[.\-/]\S+")


def normalized(text: str) -> str:
    return " ".join(text.split())


def words(text: str, *, lower: bool = True) -> list[str]:
    """The words of a text (lower case): placeholders, markup and data tokens left out."""
    text = _DATA_TOKEN.sub(" ", _PLACEHOLDER.sub(" ", text))
    found = [word for word in _WORD.findall(text) if len(word) > 1]
    return [word.lower() for word in found] if lower else found


@dataclass
class Catalogue:
    """The French catalogues' msgids and msgstrs, and the words only the msgids use."""

    #: msgid -> its French translations (several with contexts), and where it is used.
    translations: dict[str, set[str]] = field(default_factory=dict)
    occurrences: dict[str, list[str]] = field(default_factory=dict)
    english_only: frozenset[str] = frozenset()

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> Catalogue:
        catalogue = cls()
        english: set[str] = set()
        french: set[str] = set()
        for path in paths:
            for entry in polib.pofile(str(path)):
                if entry.obsolete:
                    continue
                msgstrs = [entry.msgstr] if entry.msgstr else []
                msgstrs += [text for text in entry.msgstr_plural.values() if text]
                for text in msgstrs:
                    french.update(words(text))
                if "fuzzy" in entry.flags:
                    msgstrs = []  # not compiled: the page shows the msgid
                for msgid in filter(None, [entry.msgid, entry.msgid_plural]):
                    # Words never written in lower case are names (countries, languages,
                    # "Saint Martin"): a customer may be called so.
                    english.update(word for word in words(msgid, lower=False) if word.islower())
                    key = normalized(msgid)
                    catalogue.translations.setdefault(key, set()).update(
                        normalized(text) for text in msgstrs
                    )
                    catalogue.occurrences.setdefault(key, []).extend(
                        f"{file}:{line}" for file, line in entry.occurrences
                    )
        catalogue.english_only = frozenset(english - french)
        return catalogue

    def translated_msgid(self, text: str) -> str | None:
        """The msgid `text` is (or, capitalised, is a variant of) that French says otherwise."""
        for candidate in (text, text[:1].lower() + text[1:], text.lower()):
            translations = self.translations.get(candidate)
            if translations and candidate not in translations:
                return candidate
        return None

    def untranslated_msgid(self, text: str) -> str | None:
        """The msgid `text` is (or a capitalised variant of) that has no French translation."""
        for candidate in (text, text[:1].lower() + text[1:], text.lower()):
            if candidate in self.translations and not self.translations[candidate]:
                return candidate
        return None

    def why(self, text: str, msgid: str) -> str:
        french = " / ".join(sorted(self.translations[msgid]))
        if msgid == text:
            return f"marked for translation (French: {french!r}) but rendered in English"
        return f"not in the catalogue as such; {msgid!r} is (French: {french!r})"


def catalogue_files() -> list[Path]:
    """The French catalogues the admin is translated with: the project's, Django's, the apps'."""
    folders = [Path(path) for path in settings.LOCALE_PATHS]
    folders.append(Path(django.__file__).parent / "conf" / "locale")
    folders += [Path(config.path) / "locale" for config in apps.get_app_configs()]
    return [
        path
        for folder in folders
        for path in (folder / "fr" / "LC_MESSAGES").glob("*.po")
        if path.is_file()
    ]


@cache
def language_names() -> frozenset[str]:
    """Each language's name in itself ("English", "Français"), as the switch shows them."""
    return frozenset(
        get_language_info(code)["name_local"].capitalize() for code, _name in settings.LANGUAGES
    )


@cache
def french_catalogue() -> Catalogue:
    return Catalogue.from_files(catalogue_files())


@dataclass(frozen=True)
class Finding:
    #: The text as shown (with where it is, e.g. "(alt)" for an image's alternative text).
    text: str
    why: str
    #: Where the catalogue's msgid is used, when the text is one.
    where: tuple[str, ...] = ()

    def __str__(self) -> str:
        located = f" [{', '.join(self.where[:3])}]" if self.where else ""
        return f"{self.text}: {self.why}{located}"


def _text(item: str | Sequence[str]) -> tuple[str, str]:
    """A page's text as (where on the page, text): "alt", "title"... or "" for a text node."""
    return ("", item) if isinstance(item, str) else (item[0], item[1])


def untranslated(
    french_texts: Iterable[str | Sequence[str]],
    english_texts: Iterable[str | Sequence[str]] | None,
    catalogue: Catalogue,
) -> list[Finding]:
    """The English labels among a French page's texts (see the module).

    Texts are strings, or (kind, text) pairs as `VISIBLE_TEXTS_JS` gives them.
    `english_texts` are the same page's texts in English; None when no English
    render could be had (then every text is examined).
    """
    english = None
    if english_texts is not None:
        english = {normalized(_text(item)[1]) for item in english_texts}
    findings: dict[str, Finding] = {}
    for item in french_texts:
        kind, raw = _text(item)
        text = normalized(raw or "")
        if not text or text in findings or (english is not None and text not in english):
            continue
        if text in language_names():
            continue  # the language switch names each language in that language
        shown = f"{text!r} ({kind})" if kind else repr(text)
        msgid = catalogue.translated_msgid(text)
        if msgid is not None:
            findings[text] = Finding(
                shown, catalogue.why(text, msgid), tuple(catalogue.occurrences[msgid])
            )
            continue
        msgid = catalogue.untranslated_msgid(text)
        if msgid is not None:
            findings[text] = Finding(
                shown,
                "in the catalogue without a French translation (empty or fuzzy)",
                tuple(catalogue.occurrences[msgid]),
            )
            continue
        leftover = [word for word in words(text) if word in catalogue.english_only]
        if leftover:
            findings[text] = Finding(shown, f"English words: {', '.join(leftover)}")
    return list(findings.values())


class FrenchLabels:
    """Checks pages of a logged-in French browser page against their English render.

    `check(page)` examines the page as it is now and keeps what it finds;
    `assert_none()` fails listing every page's findings. One English browser
    context and page, opened on the first check, serve them all.
    """

    def __init__(self, catalogue: Catalogue | None = None):
        self.catalogue = catalogue or french_catalogue()
        self.findings: dict[str, list[Finding]] = {}
        self.checked: list[str] = []
        self._english_page = None

    def check(self, page) -> list[Finding]:
        path = page.url.split("//", 1)[-1].partition("/")[2]
        assert page.locator("html").get_attribute("lang") == "fr", f"/{path} is not in French"
        french_texts = page.evaluate(VISIBLE_TEXTS_JS)
        english_texts = self._english_texts(page)
        found = untranslated(french_texts, english_texts, self.catalogue)
        self.checked.append(f"/{path}")
        if found:
            self.findings[f"/{path}"] = found
        return found

    def _english_texts(self, page) -> list[str] | None:
        if self._english_page is None:
            context = page.context.browser.new_context(locale="en-GB", viewport=VIEWPORT)
            context.add_cookies(self._english_cookies(page))
            self._english_page = context.new_page()
        english = self._english_page
        english.goto(page.url)
        assert "/login/" not in english.url, "the English render is not logged in"
        if english.locator("html").get_attribute("lang") != "en":
            return None
        return english.evaluate(VISIBLE_TEXTS_JS)

    @staticmethod
    def _english_cookies(page) -> list[dict]:
        """A session of its own for the same staff member, in English.

        Not the French page's session: the staff member's language is kept in it
        (crm.middleware), and switching it would switch the French page too. A copy
        of it, with English chosen, as the language switch would leave it.
        """
        url = page.url
        cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies(url)}
        engine = import_module(settings.SESSION_ENGINE)
        french = engine.SessionStore(session_key=cookies.get(settings.SESSION_COOKIE_NAME))
        english = engine.SessionStore()
        english.update(french.load())
        english[STAFF_LANGUAGE_KEY] = "en"
        english.save()
        cookies[settings.SESSION_COOKIE_NAME] = english.session_key
        cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return [{"name": name, "value": value, "url": url} for name, value in cookies.items()]

    def report(self) -> str:
        lines = []
        for path, found in self.findings.items():
            lines.append(f"{path}:")
            lines += [f"  {finding}" for finding in found]
        return "\n".join(lines)

    def assert_none(self) -> None:
        assert not self.findings, (
            "English labels left in the French admin ("
            + ", ".join(self.findings)
            + "):\n"
            + self.report()
        )

    def close(self) -> None:
        if self._english_page is not None:
            self._english_page.context.close()
            self._english_page = None
