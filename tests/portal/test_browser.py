"""Acceptance, in a real browser: a subscriber changes their grind in the portal, on a phone
and on a desktop, in French and in English, and every page they see passes axe-core.

The portal's browser tools live here for the other portal tests to import:

- `sign_in(page, live_server, customer)`: the browser signed in as the customer, by the
  portal's own cookie (a session started by `portal.services.portal_session_start`), as the
  sign-in link leaves it; the e-mailed-code sign-in has its own browser test.
- `axe_violations(page)`: the serious and critical violations axe-core finds on the page
  (axe-playwright-python, which ships axe-core's axe.min.js; run through `page.evaluate`,
  which the page's Content-Security-Policy does not govern, so no policy is relaxed).
- `PHONE` and `DESKTOP` viewports.

Headless Chromium (Debian's) on the live server, see tests/browser.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.utils import formats, translation

from portal.access import COOKIE, cookie_path
from portal.selectors import change_reach
from portal.services import portal_session_start
from preferences.models import PreferenceChange
from tests.factories import coffee_schema
from tests.portal.conftest import portal_url

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}

#: axe-core's impact levels the portal must not have.
BLOCKING_IMPACTS = ("serious", "critical")


def sign_in(page, live_server, customer) -> None:
    """Give the page's browser the customer's portal cookie (a new session of theirs)."""
    _session, key = portal_session_start(customer=customer)
    page.context.add_cookies(
        [
            {
                "name": COOKIE,
                "value": key,
                "domain": urlsplit(live_server.url).hostname,
                "path": cookie_path(customer.organization),
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each (none: [])."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} - "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + "\n".join(violations)


SAVED = {
    "fr": (
        "Vos préférences sont enregistrées : elles s\u2019appliquent à partir de la box du {date}."
    ),
    "en": "Your preferences are saved: they apply from the box of {date}.",
}
SAVE_BUTTON = {"fr": "Enregistrer mes préférences", "en": "Save my preferences"}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_subscriber_changes_the_grind_and_reads_which_box_it_reaches(
    page,
    screenshots,
    live_server,
    org_a,
    portal_customer_a,
    portal_subscription_a,
    language,
    viewport,
):
    # Given Alice, subscriber of the roaster, who reads the portal in her language
    coffee_schema(org_a)
    portal_customer_a.language = language
    portal_customer_a.save(update_fields=["language"])
    with translation.override(language):
        reach = change_reach(organization=org_a)
        reach_text = reach.text()
        expected = SAVED[language].format(date=formats.date_format(reach.this_box, "j F"))
    page.set_viewport_size(viewport)
    sign_in(page, live_server, portal_customer_a)

    # When she opens her portal
    page.goto(portal_url(org_a, "home"))
    assert page.locator("html").get_attribute("lang") == language
    screenshots(page, "home")
    assert_accessible(page)

    # ...and her preferences: the page says which box a change reaches before she saves
    page.goto(portal_url(org_a, "preferences", subscription_id=portal_subscription_a.pk))
    assert page.locator(".reach").inner_text() == reach_text
    assert page.locator("#id_grind").input_value() == "beans"
    screenshots(page, "preferences")
    assert_accessible(page)
    page.select_option("#id_grind", "espresso")
    page.get_by_role("button", name=SAVE_BUTTON[language]).click()

    # Then the message names the box the change reached, and the form shows her choice
    message = page.locator(".messages li")
    message.wait_for()
    assert message.inner_text() == expected
    assert page.locator("#id_grind").input_value() == "espresso"
    screenshots(page, "saved")
    assert_accessible(page)
    change = PreferenceChange.objects.get(subscription=portal_subscription_a)
    assert change.effective_cycle == reach.this_box
    assert (change.source, change.actor_label) == ("portal", "alice@example.com")


def test_the_phone_layout_does_not_scroll_sideways(
    page, live_server, org_a, portal_customer_a, portal_subscription_a
):
    coffee_schema(org_a)
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, portal_customer_a)
    for name in ("preferences", "address"):
        page.goto(portal_url(org_a, name, subscription_id=portal_subscription_a.pk))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"portal:{name} is {width}px wide on a phone"
        assert_accessible(page)
