"""Acceptance, in a real browser: a roaster's week in the back office, on the demo data.

Marie, admin of "Purea Café" (not a superuser), logs in through the login form
and does what the week asks: reads the dashboard, pauses a subscription until
a date, locks, prepares and dispatches the open batch, resolves an after-sales
case with a replacement box, finds a customer by a parcel's tracking number and reads
their page, skips a date of a subscription, pauses three subscriptions at once (one
refused), locks the open batch before its cut-off, and reads it all in French.
Each test starts from `load_demo`; a screenshot per step lands in the run's folder
(tests/browser.py).

Every page visited in French goes through the French-labels check
(tests/backoffice/french.py): it fails on an English label left untranslated.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import formats, timezone, translation

from crm.models import Organization
from fulfillment.models import Batch, BatchLine, Shipment
from returns.models import ReturnRequest
from subscriptions.models import Subscription
from tests.backoffice.french import FrenchLabels
from woocommerce.models import WebhookDelivery

#: One Chromium for this module's tests (tests/browser.py); each test has its own page.
BROWSER_SCOPE = "module"

PASSWORD = "demo-password"
ORGANIZATION = "purea-cafe"

SUBSCRIPTIONS = "/admin/subscriptions/subscription/"
BATCHES = "/admin/fulfillment/batch/"
BATCH_LINES = "/admin/fulfillment/batchline/"
CASES = "/admin/returns/returnrequest/"
SURVEYS = "/admin/satisfaction/satisfactionsurvey/"


def load_demo() -> Organization:
    """The demo data (about 7 s), its output kept out of the test's."""
    call_command("load_demo", password=PASSWORD, stdout=StringIO())
    return Organization.objects.get(slug=ORGANIZATION)


def log_in(page, screenshots, username: str = "marie") -> None:
    """Through the login form, as staff do; lands on the admin's home page."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    screenshots(page, "login")
    page.click("input[type=submit]")
    page.wait_for_url(lambda url: "/admin/login/" not in url)


def status_shown(page) -> str:
    """The status field of an admin change page, as displayed."""
    return page.locator(".field-status .readonly").first.inner_text().strip()


def press(page, action: str) -> None:
    """A button beside "History" (crm.fsm_admin): it opens the action's form."""
    page.click(f"a.fsm-transition[data-transition={action}]")
    page.wait_for_url(re.compile(rf"/transition/{action}/"))


def confirm(page) -> None:
    """Submit an action's form; back on the row's page with its message."""
    page.click(".submit-row input[type=submit]")
    page.wait_for_url(lambda url: "/transition/" not in url)


def success_message(page) -> str:
    messages = page.locator(".messagelist li.success")
    assert messages.count(), page.locator("#content").inner_text()[:2000]
    return messages.first.inner_text()


def switch_language(page, code: str) -> None:
    """The language switch in the header (templates/admin/base_site.html)."""
    with page.expect_navigation():
        page.select_option("#language-switch", code)
    assert page.locator("html").get_attribute("lang") == code


def figure(page, label: str):
    """A dashboard figure (templates/admin/dashboard/figure.html) by its label."""
    exactly = page.locator(".label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator("#dashboard a.figure", has=exactly).first


def assert_dashboard_numbers(page, organization: Organization) -> None:
    """The dashboard's figures are the demo's, and a figure leads to the rows it counts.

    (tests/dashboard checks every figure against its list, and the amounts by hand.)
    """
    subscriptions = Subscription.objects.filter(organization=organization)
    cases = ReturnRequest.objects.filter(organization=organization, status__in=ReturnRequest.OPEN)
    deliveries = WebhookDelivery.objects.filter(organization=organization)
    expected = {
        "Active subscribers": subscriptions.filter(status="active").count(),
        "Paused": subscriptions.filter(status="paused").count(),
        "Past due": subscriptions.filter(status="past_due").count(),
        "Open cases": cases.count(),
        "Overdue": cases.filter(due_at__lt=timezone.now()).count(),
        "Failed": deliveries.filter(status="failed").count(),
    }
    shown = {label: figure(page, label).locator(".value").inner_text() for label in expected}
    assert shown == {label: str(count) for label, count in expected.items()}
    assert expected["Overdue"] == 1  # the demo's one
    assert "EUR" in figure(page, "Monthly recurring revenue").locator(".value").inner_text()
    batch = page.locator("#dashboard-batch h3").inner_text()
    assert "Batch of" in batch or "BATCH OF" in batch
    assert page.locator("#dashboard-batch table.production-plan tbody tr").count() >= 1
    assert page.locator("#dashboard-satisfaction .nps-headline").inner_text().startswith("NPS")
    assert page.locator("#dashboard-satisfaction svg.nps-chart").count() == 1
    assert page.locator("#dashboard-subscriptions svg.subscribers-by-week").count() == 1
    assert "Boutique Purea" in page.locator("#dashboard-webhooks").inner_text()

    active = figure(page, "Active subscribers")
    active.click()
    page.wait_for_url(re.compile(r"/admin/subscriptions/subscription/\?"))
    assert page.locator("#result_list tbody tr").count() == expected["Active subscribers"]


# --- 1. The home page ---------------------------------------------------------------------


def test_marie_logs_in_and_sees_the_dashboard(page, screenshots):
    # Given the demo data
    organization = load_demo()

    # When Marie logs in through the login form
    log_in(page, screenshots)

    # Then the admin's home page is her organization's dashboard
    assert page.url.endswith("/admin/")
    assert "Subscription back office" in page.locator("#site-name").inner_text()
    assert "Purea Café" in page.locator("h1").inner_text()
    assert "marie" in page.locator("#user-tools").inner_text().lower()
    screenshots(page, "dashboard")
    # ...with the demo's numbers, each leading to its list
    assert_dashboard_numbers(page, organization)
    screenshots(page, "active-subscribers")


# --- 2. A pause with a resume date ----------------------------------------------------------


def test_marie_pauses_a_subscription_until_a_date_and_sees_it_in_its_timeline(page, screenshots):
    # Given an active subscription of the demo
    organization = load_demo()
    subscription = (
        Subscription.objects.filter(
            organization=organization, status="active", source=Subscription.Source.NATIVE
        )
        .order_by("pk")
        .first()
    )
    assert subscription is not None
    today = timezone.localtime(timezone.now(), organization.tzinfo).date()
    resume_on = today + timedelta(days=21)
    log_in(page, screenshots)

    # When Marie opens it from the list of subscriptions
    page.goto(f"{SUBSCRIPTIONS}?status__exact=active")
    screenshots(page, "active-subscriptions")
    page.click(f"#result_list a[href*='/{subscription.pk}/change/']")
    assert status_shown(page) == "Active"
    screenshots(page, "subscription")

    # ...presses "Pause", gives the date it resumes and confirms
    press(page, "pause")
    page.fill("#id_resume_at", f"{resume_on:%Y-%m-%d}T09:00")
    page.fill("#id_reason", "Vacances")
    screenshots(page, "pause-form")
    confirm(page)

    # Then the page says so, shows it paused, and its timeline has the pause and the date
    assert "paused until" in success_message(page)
    assert status_shown(page) == "Paused"
    screenshots(page, "paused", full_page=False)
    resume_at = timezone.make_aware(
        datetime.combine(resume_on, datetime.min.time()).replace(hour=9), organization.tzinfo
    )
    with translation.override("en"), timezone.override(organization.tzinfo):
        shown_date = formats.date_format(timezone.localtime(resume_at), "DATETIME_FORMAT")
    event = page.locator("tr", has_text="resumes on").first
    assert "Paused" in event.inner_text()
    assert shown_date in event.inner_text(), (shown_date, event.inner_text())
    event.scroll_into_view_if_needed()
    screenshots(page, "paused-in-timeline", full_page=False)
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    assert subscription.resume_at == resume_at


# --- 3. The open batch: locked, prepared, dispatched --------------------------------------


def test_marie_locks_prepares_and_dispatches_the_open_batch(page, screenshots):
    # Given the demo's open batch
    organization = load_demo()
    batch = Batch.objects.get(organization=organization, status="open")
    log_in(page, screenshots)

    # When Marie opens it from the list of batches
    page.goto(BATCHES)
    screenshots(page, "batches")
    page.locator("#result_list tr", has_text="Open").locator("th a, td a").first.click()
    assert status_shown(page) == "Open"
    screenshots(page, "open-batch")
    # ...reads the preview's two numbers: what locking now freezes, what would move
    promised = page.locator(".batch-preview .preview-total")
    boxes, later = (
        int(promised.get_attribute("data-boxes")),
        int(promised.get_attribute("data-later")),
    )

    # ...locks it, the confirmation saying both numbers
    press(page, "lock")
    screenshots(page, "lock-form")
    question = page.locator("#content").inner_text()
    assert re.search(rf"freezes {boxes} box(es)? \(", question), question
    if later:
        assert re.search(rf"{later} box(es)? due before the cut-off move", question), question
    else:
        assert "No box due before the cut-off moves to the next batch." in question
    confirm(page)
    assert "The batch is locked" in success_message(page)
    assert status_shown(page) == "Locked"
    batch_line_count = BatchLine.objects.filter(batch=batch).count()
    assert batch_line_count > 0
    # ...and the batch holds exactly the promised boxes
    assert (
        BatchLine.objects.filter(batch=batch).exclude(status__in=["rolled", "excluded"]).count()
        == boxes
    )
    screenshots(page, "locked")

    # ...selects every line of the batch and marks them prepared with the list's action
    page.goto(f"{BATCH_LINES}?batch__id__exact={batch.pk}")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "mark_prepared")
    screenshots(page, "lines-selected")
    page.click("button[name=index]")
    page.wait_for_load_state()
    screenshots(page, "lines-prepared")
    assert "marked prepared" in success_message(page)
    lines_expected = BatchLine.objects.filter(batch=batch, status="prepared").count()
    assert lines_expected > 0
    # ...which the list shows under "Prepared"
    page.goto(f"{BATCH_LINES}?batch__id__exact={batch.pk}&status__exact=prepared")
    assert page.locator("#result_list tbody tr").count() == lines_expected

    # ...and dispatches the batch from its page
    page.goto(f"{BATCHES}{batch.pk}/change/")
    press(page, "dispatch")
    screenshots(page, "dispatch-form")
    confirm(page)

    # Then the batch is dispatched, with a shipment per prepared, paid line
    assert "The batch is dispatched" in success_message(page)
    assert status_shown(page) == "Dispatched"
    screenshots(page, "dispatched")
    shipments = Shipment.objects.filter(batch=batch).count()
    assert 0 < shipments <= lines_expected
    assert f"{shipments} shipment" in success_message(page)


# --- 4. An after-sales case resolved by a replacement ---------------------------------------


def test_marie_resolves_an_after_sales_case_with_a_replacement(page, screenshots):
    # Given a box delivered a few days ago, about which nobody asked anything yet
    organization = load_demo()
    shipment = (
        Shipment.objects.filter(
            organization=organization, status="delivered", return_requests__isnull=True
        )
        .order_by("-delivered_at")
        .first()
    )
    assert shipment is not None
    log_in(page, screenshots)

    # When Marie opens an after-sales case from the shipment's page
    page.goto(f"/admin/fulfillment/shipment/{shipment.pk}/change/")
    screenshots(page, "shipment")
    page.get_by_role("link", name="Open an after-sales case").first.click()
    page.wait_for_url(re.compile(r"/admin/returns/returnrequest/add/"))
    page.select_option("#id_reason", index=1)
    page.fill("#id_description", "Le sachet est arrivé ouvert.")
    screenshots(page, "case-form")
    page.click("input[name=_save]")
    page.wait_for_url(lambda url: "/add/" not in url)
    case = ReturnRequest.objects.get(shipment=shipment)
    if "/change/" not in page.url:
        page.goto(f"{CASES}{case.pk}/change/")
    screenshots(page, "case-opened")

    # ...approves it, marks the goods received, and resolves it with a replacement
    for action in ("approve", "receive"):
        press(page, action)
        confirm(page)
        success_message(page)
    screenshots(page, "case-received")
    press(page, "resolve")
    page.select_option("#id_resolution", "replacement")
    page.fill("#id_note", "Une nouvelle box part avec la prochaine expédition.")
    screenshots(page, "resolve-form")
    confirm(page)

    # Then the case is resolved, and its replacement box is a line of the open batch
    assert "resolved" in success_message(page)
    assert status_shown(page) == "Resolved"
    screenshots(page, "case-resolved")
    open_batch = Batch.objects.get(organization=organization, status="open")
    case.refresh_from_db()
    replacement = case.replacement_line
    assert replacement is not None
    assert replacement.batch_id == open_batch.pk
    page.goto(f"{BATCH_LINES}?batch__id__exact={open_batch.pk}")
    row = page.locator("#result_list tbody tr", has_text=replacement.code)
    assert row.count() == 1, page.locator("#result_list").inner_text()[:2000]
    assert "Replacement" in row.inner_text()
    assert shipment.customer.email in row.inner_text()
    row.scroll_into_view_if_needed()
    screenshots(page, "replacement-in-open-batch", full_page=False)


# --- 5. In French ---------------------------------------------------------------------------


@pytest.fixture
def french_labels(page):
    check = FrenchLabels()
    yield check
    check.close()


def test_marie_switches_the_admin_to_french_and_no_page_of_the_week_has_an_english_label(
    page, screenshots, french_labels
):
    # Given the demo data, Marie logged in (in English)
    organization = load_demo()
    log_in(page, screenshots)
    assert page.locator("html").get_attribute("lang") == "en"

    # When she picks "Français" in the header's language switch
    switch_language(page, "fr")

    # Then the admin speaks French, and stays so from page to page
    assert "Back-office des abonnements" in page.locator("#site-name").inner_text()
    screenshots(page, "francais")
    page.goto(SUBSCRIPTIONS)
    assert page.locator("h1").inner_text().strip().startswith("Sélectionnez")
    assert "Abonnements" in page.locator(".breadcrumbs").inner_text()

    # ...and no page of the week's routine shows an English label (tests 1 to 4's)
    subscriptions = Subscription.objects.filter(
        organization=organization, source=Subscription.Source.NATIVE
    )
    active = subscriptions.filter(status="active").first()
    paused = subscriptions.filter(status="paused").first()
    batch = Batch.objects.get(organization=organization, status="open")
    shipment = Shipment.objects.filter(organization=organization).order_by("-pk").first()
    past_batch = shipment.batch
    cases = ReturnRequest.objects.filter(organization=organization)
    received = cases.filter(status="received").first()
    resolved = cases.filter(status="resolved").first()
    # ...and of tests 6 to 9's: the search, a customer's page, a skipped date, the boxes
    # due later in the open batch's preview
    skipped = subscriptions.filter(status="active").exclude(skipped_cycles=[]).first()
    open_batch_cycle(organization, batch)
    pages = {
        "accueil": "/admin/",
        "abonnements": SUBSCRIPTIONS,
        "abonnement": f"{SUBSCRIPTIONS}{active.pk}/change/",
        "mise-en-pause": f"{SUBSCRIPTIONS}{active.pk}/transition/pause/",
        "abonnement-en-pause": f"{SUBSCRIPTIONS}{paused.pk}/change/",
        "lots": BATCHES,
        "lot-ouvert": f"{BATCHES}{batch.pk}/change/",
        "verrouillage": f"{BATCHES}{batch.pk}/transition/lock/",
        "lot-passe": f"{BATCHES}{past_batch.pk}/change/",
        "lignes": f"{BATCH_LINES}?batch__id__exact={past_batch.pk}",
        "colis": f"/admin/fulfillment/shipment/{shipment.pk}/change/",
        "sav": CASES,
        "dossier-recu": f"{CASES}{received.pk}/change/",
        "resolution": f"{CASES}{received.pk}/transition/resolve/",
        "dossier-resolu": f"{CASES}{resolved.pk}/change/",
        "satisfaction": SURVEYS,
        "rapport-satisfaction": f"{SURVEYS}report/",
        "recherche": f"/admin/search/?q={shipment.tracking_number}&go=0",
        "recherche-client": f"/admin/search/?q={shipment.customer.last_name}&go=0",
        "client": f"/admin/customers/{shipment.customer_id}/",
        "date-sautee": f"{SUBSCRIPTIONS}{skipped.pk}/change/",
    }

    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, (url, response.status)
        screenshots(page, name)
        french_labels.check(page)

    # Then the check read every page in French and found no English label
    assert len(french_labels.checked) == len(pages)
    french_labels.assert_none()


# --- 6. A customer found by a tracking number, and their page ---------------------------------


def listed_count(page) -> int:
    """How many rows an admin list holds, from its paginator ("12 subscriptions")."""
    return int(re.findall(r"\d+", page.locator("p.paginator").inner_text())[-1])


def test_marie_finds_a_customer_by_a_tracking_number_and_their_page_counts_what_their_lists_hold(
    page, screenshots
):
    # Given a parcel of the demo with its tracking number
    organization = load_demo()
    shipment = (
        Shipment.objects.filter(organization=organization)
        .exclude(tracking_number="")
        .order_by("-pk")
        .first()
    )
    assert shipment is not None
    customer = shipment.customer
    log_in(page, screenshots)

    # When Marie types the tracking number in the header's search box
    page.fill("#global-search", shipment.tracking_number)
    with page.expect_navigation():
        page.press("#global-search", "Enter")
    # ...lands on the parcel (the only hit), opens its customer, then the customer's page
    assert f"/admin/fulfillment/shipment/{shipment.pk}/change/" in page.url, page.url
    screenshots(page, "parcel-found")
    page.locator(".field-customer a").first.click()
    page.wait_for_url(re.compile(rf"/admin/crm/customer/{customer.pk}/change/"))
    page.get_by_role("link", name="Open the customer's page").first.click()
    page.wait_for_url(re.compile(rf"/admin/customers/{customer.pk}/$"))
    screenshots(page, "customer-page")

    # Then each section's number is the number of rows its link lists
    assert shipment.tracking_number in page.locator("#customer-boxes").inner_text()
    sections = ["subscriptions", "charges", "boxes", "cases", "surveys"]
    shown = {}
    for section in sections:
        heading = page.locator(f"#customer-{section} h2").inner_text()
        shown[section] = (int(re.search(r"\((\d+)\)", heading)[1]), page.url)
    for section in sections:
        count, story_url = shown[section]
        page.goto(story_url)
        page.locator(f"#customer-{section} h2 a").click()
        page.wait_for_url(lambda url: "/admin/customers/" not in url)
        assert listed_count(page) == count, (section, page.url)
        if count <= 100:
            assert page.locator("#result_list tbody tr").count() == count, section
        screenshots(page, f"customer-{section}")
    assert shown["boxes"][0] >= 1
    assert shown["subscriptions"][0] == Subscription.objects.filter(customer=customer).count()


# --- 7. A date skipped from a subscription's schedule ---------------------------------------


def open_batch_cycle(organization: Organization, batch: Batch):
    """A weekly subscription of a demo customer whose next cycle starts between now and the
    open batch's cut-off (the demo's start before now: none is ahead in the open batch),
    and that cycle as its schedule shows it (subscriptions.selectors.subscription_schedule).
    """
    from crm.models import Customer, Product
    from subscriptions.selectors import subscription_schedule
    from tests.factories import SubscriptionFactory

    now = timezone.now()
    starts_at = (now + (batch.cutoff_at - now) / 2).replace(microsecond=0)
    subscription = SubscriptionFactory(
        customer=Customer.objects.filter(organization=organization).order_by("pk").first(),
        status="active",
        billing_period="week",
        billing_anchor=starts_at - timedelta(days=7),
        items=[(Product.objects.filter(organization=organization).order_by("pk").first(), 1)],
    )
    row = subscription_schedule(subscription=subscription)[0]
    assert (row.starts_at, row.batch.id, row.can_skip) == (starts_at, batch.pk, True)
    return subscription, row


def test_marie_skips_a_date_of_a_subscription_and_its_box_leaves_the_batch_preview(
    page, screenshots
):
    # Given a subscription whose next box, on a date ahead, is due in the open batch
    organization = load_demo()
    batch = Batch.objects.get(organization=organization, status="open")
    subscription, cycle = open_batch_cycle(organization, batch)
    preview_row = f".batch-preview tr[data-subscription='{subscription.pk}']"
    log_in(page, screenshots)
    page.goto(f"{BATCHES}{batch.pk}/change/")
    assert page.locator(preview_row).count() == 1
    screenshots(page, "preview-before")

    # When Marie presses "Skip" on that date in the subscription's schedule
    page.goto(f"{SUBSCRIPTIONS}{subscription.pk}/change/")
    row = page.locator(f"table.next-cycles tr[data-cycle='{cycle.cycle}']")
    date_shown = row.locator("td").nth(1).inner_text()
    row.scroll_into_view_if_needed()
    screenshots(page, "schedule", full_page=False)
    with page.expect_navigation():
        row.get_by_role("button", name="Skip").click()

    # Then the page says so, and the schedule shows that date skipped, with "Unskip"
    assert "is skipped: neither charged nor shipped" in success_message(page)
    assert date_shown in success_message(page)
    row = page.locator(f"table.next-cycles tr[data-cycle='{cycle.cycle}']")
    assert row.locator("td.state-skipped").inner_text().strip() == "skipped"
    assert row.get_by_role("button", name="Unskip").count() == 1
    row.scroll_into_view_if_needed()
    screenshots(page, "skipped", full_page=False)
    subscription.refresh_from_db()
    assert cycle.cycle in subscription.skipped_cycles
    # ...and the open batch's preview no longer has the box
    page.goto(f"{BATCHES}{batch.pk}/change/")
    assert page.locator(".batch-preview").count() == 1
    assert page.locator(preview_row).count() == 0
    screenshots(page, "preview-after")


# --- 8. Three subscriptions paused at once, one refused ----------------------------------------


def test_marie_pauses_three_subscriptions_from_the_list_and_the_refused_one_is_explained(
    page, screenshots
):
    # Given the demo's active subscriptions, one of them the shop's (WooCommerce charges it)
    organization = load_demo()
    today = timezone.localtime(timezone.now(), organization.tzinfo).date()
    resume_on = today + timedelta(days=28)
    log_in(page, screenshots)
    page.goto(f"{SUBSCRIPTIONS}?status__exact=active")
    listed = {
        int(pk)
        for pk in page.locator("input.action-select").evaluate_all(
            "boxes => boxes.map(box => box.value)"
        )
    }
    active = Subscription.objects.filter(pk__in=listed).order_by("pk")
    natives = list(active.filter(source=Subscription.Source.NATIVE)[:2])
    shops = active.exclude(source=Subscription.Source.NATIVE).first()
    assert len(natives) == 2
    assert shops is not None
    chosen = [*natives, shops]

    # When Marie ticks the three, picks "Pause until a date" and gives the resume date
    for subscription in chosen:
        page.check(f"input.action-select[value='{subscription.pk}']")
    page.select_option("select[name=action]", "bulk_pause")
    screenshots(page, "three-ticked")
    with page.expect_navigation():
        page.click("button[name=index]")
    form = page.locator("#content-main").inner_text()
    assert all(str(subscription) in form for subscription in chosen), form
    page.fill("#id_resume_at", f"{resume_on:%Y-%m-%d}T09:00")
    screenshots(page, "resume-date")
    with page.expect_navigation():
        page.click(".submit-row input[type=submit]")

    # Then the report says two are paused and names the refused one with its reason
    screenshots(page, "report")
    assert "2 subscriptions paused." in success_message(page)
    refusals = page.locator(".messagelist li.error")
    assert refusals.count() == 1
    refusal = refusals.first.inner_text()
    assert refusal.startswith("1 subscription not changed: "), refusal
    assert refusal.endswith(f"({shops})"), refusal
    reason = refusal.removeprefix("1 subscription not changed: ").removesuffix(f" ({shops})")
    assert "managed by WooCommerce" in reason, refusal
    statuses = dict(
        Subscription.objects.filter(pk__in=[s.pk for s in chosen]).values_list("pk", "status")
    )
    assert statuses == {natives[0].pk: "paused", natives[1].pk: "paused", shops.pk: "active"}


# --- 9. The open batch locked before its cut-off ---------------------------------------------


def test_marie_locks_the_open_batch_early_and_it_holds_exactly_the_promised_boxes(
    page, screenshots
):
    # Given the open batch, and a box due before its cut-off whose cycle starts later
    from subscriptions.selectors import subscription_schedule

    organization = load_demo()
    batch = Batch.objects.get(organization=organization, status="open")
    later_subscription, _cycle = open_batch_cycle(organization, batch)
    log_in(page, screenshots)

    # When Marie reads the preview's two numbers and the boxes each one counts
    page.goto(f"{BATCHES}{batch.pk}/change/")
    promised = page.locator(".batch-preview .preview-total")
    boxes = int(promised.get_attribute("data-boxes"))
    later = int(promised.get_attribute("data-later"))
    assert page.locator(".batch-preview .preview-more").count() == 0  # every box listed

    def listed(table: str) -> list[int]:
        return sorted(
            int(pk)
            for pk in page.locator(f"table.{table} tbody tr").evaluate_all(
                "rows => rows.map(row => row.dataset.subscription)"
            )
        )

    frozen, moved = listed("preview-boxes"), listed("preview-later-boxes")
    assert (len(frozen), len(moved)) == (boxes, later)
    assert later_subscription.pk in moved
    assert later_subscription.pk not in frozen
    screenshots(page, "preview")

    # ...and locks it now, before its cut-off
    press(page, "lock")
    question = page.locator("#content").inner_text()
    assert re.search(rf"freezes {boxes} box(es)? \(", question), question
    assert re.search(rf"{later} box(es)? due before the cut-off move", question), question
    screenshots(page, "lock-form")
    confirm(page)

    # Then the batch holds exactly the boxes the preview promised, and not the later one
    assert "The batch is locked" in success_message(page)
    assert status_shown(page) == "Locked"
    screenshots(page, "locked")
    held = BatchLine.objects.filter(batch=batch).exclude(status__in=["rolled", "excluded"])
    assert sorted(held.values_list("subscription_id", flat=True)) == frozen
    # ...and that one's box is due in the next batch
    next_box = subscription_schedule(subscription=later_subscription)[0]
    assert next_box.batch.id != batch.pk
    assert next_box.batch.cycle_date > batch.cycle_date
