"""Issue 28's acceptance, in a real browser (Debian's Chromium on the live server, see
tests/browser.py and tests/portal/test_browser.py):

- a subscriber's journey, at phone width and on a desktop, in French and in English:
  sign in with the code read from the e-mail the portal sent, change the grind two minutes
  before the cut-off (this week's box) and again two minutes after (next week's), skip a
  date, pause until a date, open a case with a photo about last week's box, answer a survey,
  sign out (the portal then asks to sign in again). The whole journey runs at phone+French
  and desktop+English; the two other pairs sign in with the code and read their home page
  (the CI budget is tight: a browser test costs seconds).
- axe-core on every page of the portal: each route of the `portal` namespace (enumerated as
  the isolation sweep does, so a new route fails here until it is visited or said to be no
  page) with the customer's own ids, plus the pages a refused form renders.

The live server is a thread of this process: the e-mails it sends land in
`django.core.mail.outbox` (locmem backend), and `time_machine` moves its clock too.
"""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import formats, timezone, translation

from core.actors import Actor
from portal.selectors import change_reach
from portal.services import portal_settings_ensure
from preferences.models import PreferenceChange
from returns.models import ReturnRequest
from satisfaction.models import SatisfactionSurvey
from subscriptions import services as subscriptions
from subscriptions.models import Subscription
from tests.factories import (
    ReturnRequestFactory,
    SatisfactionSurveyFactory,
    ShipmentFactory,
    SubscriptionFactory,
    coffee_schema,
    open_batch,
)
from tests.portal.conftest import portal_url
from tests.portal.test_browser import (
    DESKTOP,
    PHONE,
    SAVED,
    assert_accessible,
    change_grind,
)
from tests.portal.test_isolation import portal_routes
from tests.portal.test_sign_in import CODE, LINK

#: One Chromium for this module's tests (tests/browser.py); each test has its own page.
BROWSER_SCOPE = "module"


def png(width: int = 4, height: int = 3) -> bytes:
    """A small, valid PNG (RGB, one colour): what a phone's photo is to the portal."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xb0\x60\x30" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def last_weeks_box(customer, subscription, *, delivered_at):
    """The customer's box of last week's batch, delivered at `delivered_at`."""
    organization = customer.organization
    return ShipmentFactory(
        organization=organization,
        line__organization=organization,
        line__customer=customer,
        line__subscription=subscription,
        line__batch__organization=organization,
        line__batch__cutoff_at=delivered_at - timedelta(days=2),
        status="delivered",
        shipped_at=delivered_at - timedelta(days=1),
        delivered_at=delivered_at,
    )


def pending_survey(shipment):
    now = timezone.now()
    return SatisfactionSurveyFactory(
        shipment=shipment,
        status="sent",
        sent_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=10),
    )


def sign_in_with_the_emailed_code(page, organization, customer, screenshots=None):
    """Ask for a code on the sign-in page, read it from the e-mail, enter it."""
    page.goto(portal_url(organization, "sign-in"))
    if screenshots:
        screenshots(page, "sign-in")
    sent = len(mail.outbox)
    page.fill("input[name=email]", customer.email.upper())
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**{portal_url(organization, 'sign-in-code')}")
    new = [message for message in mail.outbox[sent:] if message.to == [customer.email]]
    assert len(new) == 1, f"one sign-in e-mail to {customer.email}, got {len(new)}"
    code = CODE.search(new[0].body).group(1)
    if screenshots:
        screenshots(page, "code")
    page.fill("input[name=code]", code)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**{portal_url(organization, 'home')}")
    assert page.locator("html").get_attribute("lang") == customer.language
    return new[0]


def message_text(page) -> str:
    message = page.locator(".messages li").first
    message.wait_for()
    return message.inner_text()


# --- The journey --------------------------------------------------------------------------

PAIRS = [
    pytest.param(PHONE, "fr", True, id="phone-fr-full"),
    pytest.param(DESKTOP, "en", True, id="desktop-en-full"),
    pytest.param(PHONE, "en", False, id="phone-en-sign-in"),
    pytest.param(DESKTOP, "fr", False, id="desktop-fr-sign-in"),
]


@pytest.mark.parametrize(("viewport", "language", "full"), PAIRS)
def test_a_subscribers_journey(
    page,
    screenshots,
    live_server,
    org_a,
    portal_customer_a,
    portal_subscription_a,
    viewport,
    language,
    full,
):
    alice, subscription = portal_customer_a, portal_subscription_a
    alice.language = language
    alice.save(update_fields=["language"])
    page.set_viewport_size(viewport)

    if not full:
        # Given Alice on her device: she signs in with the e-mailed code and reads her home
        message = sign_in_with_the_emailed_code(page, org_a, alice, screenshots)
        with translation.override(language):
            assert change_reach(organization=org_a).text() == page.locator(".reach").inner_text()
        assert message.subject  # the e-mail in her language: tests/portal/test_sign_in.py
        screenshots(page, "home")
        assert_accessible(page)
        return

    # Given the roaster's preferences, this week's batch open until its cut-off, Alice's
    # box of last week (delivered five days before the cut-off) and its survey
    coffee_schema(org_a)
    cutoff = change_reach(organization=org_a).cutoff_at
    batch = open_batch(org_a, cutoff)
    with translation.override(language):
        before = change_reach(organization=org_a, now=cutoff - timedelta(minutes=2))
        this_box, next_box = (
            formats.date_format(day, "j F") for day in (before.this_box, before.next_box)
        )

    def step(name: str) -> None:
        screenshots(page, name)
        assert_accessible(page)

    with time_machine.travel(cutoff - timedelta(minutes=2)) as clock:  # it ticks from there
        box = last_weeks_box(alice, subscription, delivered_at=cutoff - timedelta(days=5))
        survey = pending_survey(box)

        # When she signs in two minutes before the cut-off, with the code from her e-mail
        sign_in_with_the_emailed_code(page, org_a, alice, screenshots)
        step("home")

        # ...and changes her grind: it reaches this week's box, and the page says so
        mine = portal_url(org_a, "subscription", subscription_id=subscription.pk)
        page.locator(f"a[href='{mine}']").click()
        page.locator("a[href$='/preferences/']").click()
        with translation.override(language):
            assert page.locator(".reach").inner_text() == before.text()
        assert change_grind(page, language, "espresso") == SAVED[language].format(date=this_box)
        step("grind-before-the-cut-off")

        # When she changes it again two minutes after the cut-off, it lands in next week's
        clock.move_to(cutoff + timedelta(minutes=2))
        page.reload()
        assert change_grind(page, language, "filter") == SAVED[language].format(date=next_box)
        step("grind-after-the-cut-off")
        reached = list(
            PreferenceChange.objects.filter(subscription=subscription)
            .order_by("changed_at")
            .values_list("effective_cycle", flat=True)
        )
        assert reached[0] == batch.cycle_date
        assert reached[1] > batch.cycle_date

        # She skips her next delivery, from her subscription's page
        page.goto(portal_url(org_a, "subscription", subscription_id=subscription.pk))
        page.locator("a[href*='/skip/']").first.click()
        page.locator("main form button[name=confirm]").click()
        page.wait_for_url(f"**{mine}")
        message_text(page)
        subscription.refresh_from_db()
        assert subscription.skipped_cycles == [1]
        assert page.locator(".delivery.skipped").count() == 1
        step("skipped")

        # ...and pauses until a date six weeks ahead
        until = timezone.localdate(timezone.now(), org_a.tzinfo) + timedelta(days=45)
        page.locator("a[href$='/pause/']").click()
        page.fill("input[name=until]", until.isoformat())
        page.locator("main form button[type=submit]").click()
        with translation.override(language):
            assert formats.date_format(until, "l j F Y") in message_text(page)
        subscription.refresh_from_db()
        assert subscription.status == Subscription.Status.PAUSED
        assert timezone.localtime(subscription.resume_at, org_a.tzinfo).date() == until
        step("paused")

        # She opens a case about last week's box, with a photo of the torn bag
        page.goto(portal_url(org_a, "boxes"))
        page.locator(f"a[href='{portal_url(org_a, 'case-open', shipment_id=box.pk)}']").click()
        page.locator("input[name=reason]").first.check()
        page.fill("textarea[name=description]", "Le sachet est arrivé déchiré.")
        page.set_input_files(
            "input[name=photos]",
            files=[{"name": "sachet.png", "mimeType": "image/png", "buffer": png()}],
        )
        step("case-form")
        page.locator("form.case-form button[type=submit]").click()
        page.wait_for_url("**/cases/*/")
        message_text(page)
        case = ReturnRequest.objects.get(shipment=box)
        assert case.customer == alice
        assert case.photos.count() == 1
        photo = page.locator(".case-photos img")
        photo.wait_for()
        assert photo.evaluate("image => image.complete && image.naturalWidth") == 4
        step("case")

        # She answers the survey the home page lists for her
        page.goto(portal_url(org_a, "home"))
        page.locator(f"a[href='{portal_url(org_a, 'survey', survey_id=survey.pk)}']").click()
        page.check("input[name=score][value='9']")
        page.fill("textarea[name=comment]", "Très bon café")
        page.locator("form.survey-form button[type=submit]").click()
        page.wait_for_url(f"**{portal_url(org_a, 'cases')}")
        message_text(page)
        survey.refresh_from_db()
        assert survey.status == SatisfactionSurvey.Status.ANSWERED
        assert survey.score == 9
        step("answered")

        # Then she signs out, and her home page asks her to sign in
        page.locator(f"footer form[action='{portal_url(org_a, 'sign-out')}'] button").click()
        page.wait_for_url(f"**{portal_url(org_a, 'sign-in')}")
        message_text(page)
        page.goto(portal_url(org_a, "home"))
        assert portal_url(org_a, "sign-in") in page.url
        assert page.locator("input[name=email]").is_visible()
        step("signed-out")

    # Each change was hers, from the portal, and e-mailed to her
    events = list(subscription.events.order_by("id").values_list("kind", "actor_kind"))
    assert ("skipped", "customer") in events
    assert ("paused", "customer") in events
    to_alice = [m for m in mail.outbox if m.to == [alice.email]]
    assert len(to_alice) == 7  # the code; grind twice, skip, pause, case, survey: one each


# --- axe-core on every page --------------------------------------------------------------

#: Routes of the portal namespace that are not pages, and why axe-core does not read them.
NOT_PAGES = {
    "theme": "a style sheet",
    "case-photo": "an image (the journey checks it loads on the case page)",
}
#: Routes a signed-out browser sees (visited before signing in, by the sign-in flow).
SIGNED_OUT = ("sign-in", "sign-in-code", "sign-in-link")
#: What a page shows in the state the test builds (its form, not a refusal in its place).
SHOWS = {
    "skip": "main form button[name=confirm]",
    "unskip": "main form button[name=confirm]",
    "resume": "main form button[name=confirm]",
    "pause": "input[name=until]",
    "frequency": "input[name=frequency]",
    "swap": "input[name=by]",
    "cancel": "select[name=reason]",
    "preferences": "select[name=grind]",
    "address": "input[name=line1]",
    "case-open": "input[name=photos]",
    "case": ".case-facts",
    "survey": "input[name=score]",
    "surveys-stop": "main form button[type=submit]",
}


def test_every_portal_page_passes_axe(
    page, screenshots, live_server, org_a, portal_customer_a, portal_subscription_a
):
    # Given Alice (French, on her phone, then on a desktop), with everything a page can
    # show: preferences, a subscription with a skipped box, a paused one, a delivered box
    # with a case, another without, a pending survey, payments
    alice, subscription = portal_customer_a, portal_subscription_a
    alice.language = "fr"
    alice.save(update_fields=["language"])
    portal_settings_ensure(organization=org_a)
    coffee_schema(org_a)
    skipping = SubscriptionFactory(customer=alice, status="active")
    on = timezone.localtime(skipping.next_charge_at, org_a.tzinfo).date()
    subscriptions.subscription_skip_cycle(
        subscription=skipping, actor=Actor.for_customer(alice), on=on
    )
    paused = SubscriptionFactory(
        customer=alice, status="paused", resume_at=timezone.now() + timedelta(days=30)
    )
    delivered_at = timezone.now() - timedelta(days=5)
    box = last_weeks_box(alice, subscription, delivered_at=delivered_at)
    survey = pending_survey(box)
    earlier = last_weeks_box(alice, skipping, delivered_at=delivered_at - timedelta(days=7))
    case = ReturnRequestFactory(shipment=earlier, description="Sachet déchiré")
    ids = {
        "subscription_id": subscription.pk,
        "shipment_id": box.pk,
        "case_id": case.pk,
        "survey_id": survey.pk,
        "on": timezone.localtime(subscription.next_charge_at, org_a.tzinfo).date().isoformat(),
    }
    special = {
        "unskip": {"subscription_id": skipping.pk, "on": on.isoformat()},
        "resume": {"subscription_id": paused.pk},
    }
    routes = dict(portal_routes())
    visited: list[str] = []

    def check(name: str, url: str | None = None, **kwargs) -> None:
        if url is None:
            params = special.get(name) or {param: ids[param] for param in routes[name]}
            url = portal_url(org_a, name, **params)
        response = page.goto(url)
        assert response.status < 400 or kwargs.get("status") == response.status, (
            f"portal:{name} answered {response.status}"
        )
        if name in SHOWS:
            assert page.locator(SHOWS[name]).count() >= 1, f"portal:{name} has no {SHOWS[name]}"
        screenshots(page, name)
        assert_accessible(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"portal:{name} is {width}px wide on a phone"
        page.set_viewport_size(DESKTOP)  # the same page laid out for a desktop
        assert_accessible(page)
        page.set_viewport_size(PHONE)
        visited.append(name)

    page.set_viewport_size(PHONE)
    # Signed out: the sign-in page, the code page, the link's confirmation, a dead link
    check("sign-in")
    sent = len(mail.outbox)
    page.fill("input[name=email]", alice.email)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**{portal_url(org_a, 'sign-in-code')}")
    check("sign-in-code", page.url)
    page.fill("input[name=code]", "000000")  # a wrong code: the error tied to its field
    page.locator("main form button[type=submit]").click()
    page.locator("#code-errors").wait_for()
    assert_accessible(page)
    (email,) = mail.outbox[sent:]
    link = LINK.search(email.body).group(1)
    check("sign-in-link", portal_url(org_a, "sign-in-link", token="not-a-token"), status=404)
    check("sign-in-link", link)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**{portal_url(org_a, 'home')}")

    # Signed in: every other page, in her language
    for name in sorted(routes):
        if name in NOT_PAGES or name in SIGNED_OUT:
            continue
        check(name)
        assert page.locator("html").get_attribute("lang") == "fr", name
    # ...and the pages a refused form renders (errors tied to their fields)
    for name, submit in (
        ("pause", "main form button[type=submit]"),
        ("case-open", "form.case-form button[type=submit]"),
        ("survey", "form.survey-form button[type=submit]"),
    ):
        page.goto(portal_url(org_a, name, **{param: ids[param] for param in routes[name]}))
        page.locator(submit).click()
        page.locator("[aria-invalid=true], .errorlist").first.wait_for()
        screenshots(page, f"{name}-refused")
        assert_accessible(page)

    missing = set(routes) - set(visited) - set(NOT_PAGES)
    assert not missing, f"portal routes no axe-core check visited: {sorted(missing)}"
