"""The French-labels check flags an English label left on a French page, and no data."""

import pytest

from tests.backoffice.french import (
    VISIBLE_TEXTS_JS,
    Catalogue,
    french_catalogue,
    untranslated,
)

#: What a subscription's French page shows that is the same in English: data.
DATA = [
    "Camille Martin",
    "camille.martin@example.fr",
    "Olivia Smith",
    "PUR-ETH-250",
    "Éthiopie Yirgacheffe 250 g",
    "Floral, agrumes, thé noir.",
    "Assemblage Espresso 500 g",
    "12,90 EUR",
    "12.90",
    "26/11/2026 09:30",
    "#12",
    "Purea Café",
    "Le sachet est arrivé déchiré, un tiers du café s'est renversé dans le carton.",
    "marie",
    "English",  # the language switch names each language in that language
]


def test_an_english_label_on_a_french_page_is_flagged_and_the_data_is_not():
    # Given a French page where "Next charge" was left in English, beside data
    french = ["Prochain prélèvement", "Next charge", "Abonnements", *DATA]
    english = ["Next charge", "Next charge", "Subscriptions", *DATA]

    # When the check compares the two renders
    found = untranslated(french, english, french_catalogue())

    # Then "Next charge" is the one finding
    assert [finding.text for finding in found] == ["'Next charge'"]


def test_a_marked_string_rendered_in_english_is_flagged_with_where_it_is_used():
    # "Subscription back office" is in the catalogue with a French translation
    found = untranslated(["Subscription back office"], None, french_catalogue())

    assert [finding.text for finding in found] == ["'Subscription back office'"]
    assert "'Back-office des abonnements'" in found[0].why
    assert "rendered in English" in found[0].why
    assert any("crm/admin.py" in place for place in found[0].where)


def test_a_capitalised_variant_of_a_msgid_says_which_msgid_is_translated(tmp_path):
    # Given a catalogue with "after-sales" (a column's header) and no "After-sales"
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "after-sales"\nmsgstr "SAV"\n',
        encoding="utf-8",
    )

    found = untranslated([("", "After-sales")], [("", "After-sales")], Catalogue.from_files([po]))

    assert len(found) == 1
    assert "not in the catalogue as such; 'after-sales' is" in found[0].why


def test_a_msgid_the_catalogue_has_no_french_for_is_flagged(tmp_path):
    # Given a catalogue where "Long operations" waits for its translation
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#: operations/apps.py:8\nmsgid "Long operations"\nmsgstr ""\n\n'
        'msgid "Subscriptions"\nmsgstr "Abonnements"\n',
        encoding="utf-8",
    )
    catalogue = Catalogue.from_files([po])

    # When a French page shows it as is
    found = untranslated(["Long operations", "Abonnements"], ["Long operations"], catalogue)

    # Then it is flagged, with where the code uses it
    assert [finding.text for finding in found] == ["'Long operations'"]
    assert "without a French translation" in found[0].why
    assert found[0].where == ("operations/apps.py:8",)


def test_an_english_sentence_no_catalogue_has_is_flagged_by_its_words():
    # A label nobody marked for translation: not in the catalogue, but English words
    found = untranslated(
        ["Paused until the customer resumes"],
        ["Paused until the customer resumes"],
        french_catalogue(),
    )

    assert len(found) == 1
    assert "English words" in found[0].why


def test_a_text_translated_differently_is_not_flagged():
    # The French page says it in French: no English text is the same
    found = untranslated(
        ["Mettre en pause", "Verrouiller", "Expédier"],
        ["Pause", "Lock", "Dispatch"],
        french_catalogue(),
    )

    assert found == []


def test_words_both_languages_share_are_not_flagged():
    # "Actions", "Date", "Total", "Notes": the same word in French
    shared = ["Actions", "Date", "Total", "Notes", "Options", "Description"]

    found = untranslated(shared, shared, french_catalogue())

    assert found == [], [str(finding) for finding in found]


@pytest.mark.parametrize(
    ("html", "expected", "hidden"),
    [
        (
            '<p>Prochain prélèvement</p><p style="display:none">Hidden label</p>'
            '<input type="submit" value="Next charge"><input placeholder="Search">'
            '<select><option>Mark prepared</option></select><span title="Locked at">x</span>',
            {"Prochain prélèvement", "Next charge", "Search", "Mark prepared", "Locked at"},
            "Hidden label",
        ),
    ],
)
def test_the_page_texts_are_the_visible_ones_with_buttons_and_options(
    browser, html, expected, hidden
):
    page = browser.new_page()
    page.set_content(f"<html lang='fr'><body>{html}</body></html>")

    texts = {text.strip() for _kind, text in page.evaluate(VISIBLE_TEXTS_JS)}

    assert expected <= texts
    assert hidden not in texts
    page.close()
