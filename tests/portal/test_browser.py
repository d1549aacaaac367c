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

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import formats, translation

from portal.access import COOKIE, cookie_path
from portal.models import PortalSettings
from portal.selectors import box_ships_on, change_reach
from portal.services import portal_session_start
from preferences.models import PreferenceChange
from subscriptions.models import Subscription
from tests.factories import coffee_schema, open_batch
from tests.portal.conftest import portal_url, subscriber

#: One Chromium for this module's tests (tests/browser.py); each test has its own page.
BROWSER_SCOPE = "module"

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
    from axe_playwright_python.sync_playwright import DEFAULT_OPTIONS, Axe

    # As `Axe().run(page)`, but axe-core (570 kB of script) is injected once per document:
    # a page checked again at another width already has it.
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(Axe().axe_script)
    response = page.evaluate(f"axe.run({json.dumps(DEFAULT_OPTIONS)})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} - "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in response["violations"]
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

# Wednesday 2 December 2026, 12:00 in Paris: the open batch's cut-off.
CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def change_grind(page, language: str, grind: str) -> str:
    """Choose `grind`, save, and return the message the page then shows."""
    page.select_option("#id_grind", grind)
    page.get_by_role("button", name=SAVE_BUTTON[language]).click()
    message = page.locator(".messages li")
    message.wait_for()
    assert page.locator("#id_grind").input_value() == grind
    return message.inner_text()


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_subscriber_changes_the_grind_before_and_after_the_cutoff(
    page,
    screenshots,
    live_server,
    org_a,
    portal_customer_a,
    portal_subscription_a,
    language,
    viewport,
):
    # Given Alice, subscriber of the roaster, who reads the portal in her language, and the
    # week's batch, open until Wednesday noon
    coffee_schema(org_a)
    batch = open_batch(org_a, CUTOFF)
    portal_customer_a.language = language
    portal_customer_a.save(update_fields=["language"])
    with translation.override(language):
        reach = change_reach(organization=org_a, now=CUTOFF - timedelta(minutes=2))
        reach_text = reach.text()
        reach_after = change_reach(organization=org_a, now=CUTOFF + timedelta(minutes=2)).text()
        this_box, next_box = (
            formats.date_format(day, "j F") for day in (reach.this_box, reach.next_box)
        )
    page.set_viewport_size(viewport)
    preferences = portal_url(org_a, "preferences", subscription_id=portal_subscription_a.pk)

    with time_machine.travel(CUTOFF - timedelta(minutes=2)):  # the clock ticks from there
        # When she opens her portal two minutes before the cut-off
        sign_in(page, live_server, portal_customer_a)
        page.goto(portal_url(org_a, "home"))
        assert page.locator("html").get_attribute("lang") == language
        screenshots(page, "home")
        assert_accessible(page)

        # ...and her preferences: the page says which box a change reaches before she saves
        page.goto(preferences)
        assert page.locator(".reach").inner_text() == reach_text
        assert page.locator("#id_grind").input_value() == "beans"
        screenshots(page, "preferences")
        assert_accessible(page)

        # Then the grind she chooses reaches this week's box, and the message says so
        assert change_grind(page, language, "espresso") == SAVED[language].format(date=this_box)
        screenshots(page, "saved-before-the-cutoff")
        assert_accessible(page)

    with time_machine.travel(CUTOFF + timedelta(minutes=2)):
        # When she changes it again two minutes after the cut-off, the batch still open
        page.goto(preferences)
        assert page.locator(".reach").inner_text() == reach_after
        # Then it lands in next week's box
        assert change_grind(page, language, "filter") == SAVED[language].format(date=next_box)
        screenshots(page, "saved-after-the-cutoff")
        assert_accessible(page)

    first, second = PreferenceChange.objects.filter(subscription=portal_subscription_a).order_by(
        "changed_at"
    )
    reached = [
        box_ships_on(organization=org_a, cutoff_at=change.effective_cutoff_at)
        for change in (first, second)
    ]
    assert reached == [reach.this_box, reach.next_box]
    assert first.effective_cycle == batch.cycle_date
    assert {change.actor_label for change in (first, second)} == {"alice@example.com"}
    assert {change.source for change in (first, second)} == {"portal"}


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


def test_a_subscriber_moves_and_a_shop_subscriber_is_sent_to_the_shop(
    page, screenshots, live_server, org_a, portal_customer_a, portal_subscription_a
):
    # Given Alice (French), whose boxes go to Lyon, on her phone
    address = portal_customer_a.addresses.get()
    Subscription.objects.filter(pk=portal_subscription_a.pk).update(shipping_address=address)
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, portal_customer_a)
    page.goto(portal_url(org_a, "address", subscription_id=portal_subscription_a.pk))
    assert page.locator("#id_line1").input_value() == "12 rue des Lilas"

    # When she clears the street, the refusal is on the field, announced with it
    page.fill("#id_line1", "")
    page.get_by_role("button", name="Enregistrer l\u2019adresse").click()
    line1 = page.locator("#id_line1")
    line1.wait_for()
    assert line1.get_attribute("aria-invalid") == "true"
    assert "id_line1_error" in line1.get_attribute("aria-describedby")
    screenshots(page, "refused")
    assert_accessible(page)

    # ...and with a new street, her boxes go there from the box the page named
    reach = change_reach(organization=org_a)
    page.fill("#id_line1", "5 quai Saint-Vincent")
    page.get_by_role("button", name="Enregistrer l\u2019adresse").click()
    message = page.locator(".messages li")
    message.wait_for()
    with translation.override("fr"):
        assert formats.date_format(reach.this_box, "j F") in message.inner_text()
    assert "5 quai Saint-Vincent" in page.locator("address").inner_text()
    screenshots(page, "moved")
    assert_accessible(page)

    # Given Carla, whose subscription the shop manages
    PortalSettings.objects.filter(organization=org_a).update(
        shop_account_url="https://shop.example/my-account/subscriptions/"
    )
    carla, theirs = subscriber(org_a, "carla@example.com", source="woocommerce")
    page.context.clear_cookies()
    sign_in(page, live_server, carla)
    page.goto(portal_url(org_a, "address", subscription_id=theirs.pk))
    # Then there is no form: the page links the shop's account page
    assert page.locator("#id_line1").count() == 0
    link = page.get_by_role("link", name="Aller à mon compte sur la boutique")
    assert link.get_attribute("href") == "https://shop.example/my-account/subscriptions/"
    screenshots(page, "shop")
    assert_accessible(page)
