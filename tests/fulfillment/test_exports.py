"""The packing room's exports: pick list, packing slips and production plan, as CSV and pages.

Organization A ("Purea Café") roasts two coffees; Alice and Bob are due in the
batch closing Wednesday 2 December 2026 at noon in Paris. Bob's address is
edited one second after the cut-off, before the lock task runs.
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone, translation

from core.actors import Actor
from crm.models import Membership
from fulfillment import exports
from fulfillment.models import Batch, BatchLine
from fulfillment.services import batch_dispatch, line_exclude, line_prepare, lock_due_batches
from preferences.models import PreferenceChoice, PreferenceField
from subscriptions import renewals
from tests.factories import (
    AddressFactory,
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    open_batch,
)
from tests.helpers import write_preferences

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
FR = {"HTTP_ACCEPT_LANGUAGE": "fr"}
KINDS = [
    f"{name}.{fmt}"
    for name in ("pick-list", "packing-slips", "production-plan")
    for fmt in ("csv", "html", "pdf")
]
PICK_HEADER = ["Code", "Subscription", "Customer", "SKU", "Product", "Quantity", "Status"]
TIMES = "\N{MULTIPLICATION SIGN}"
PREFERENCE_HEADER = ["Grind", "Roast", "Decaf", "Avoid_Origins", "Grams", "Note"]


def url(batch, kind):
    return reverse("fulfillment:batch-export", args=[batch.pk, kind])


def read_csv(response):
    """The rows of a CSV export, checking it is the UTF-8 with BOM and `;` Excel opens."""
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def due(customer, address, items):
    """A weekly subscription whose cycle 1 starts Monday 30 November: due in the batch."""
    return SubscriptionFactory(
        customer=customer,
        status="active",
        billing_period="week",
        billing_anchor=CUTOFF - timedelta(days=9),
        shipping_address=address,
        items=items,
    )


def customer_with_address(org, first_name, last_name, line1):
    customer = CustomerFactory(organization=org, first_name=first_name, last_name=last_name)
    address = AddressFactory(
        customer=customer, name=f"{first_name} {last_name}", line1=line1, city="Lyon"
    )
    return customer, address


class Roastery:
    """The organization's coffees, customers and batch."""

    def __init__(self, org):
        self.org = org
        billing_settings(org)
        coffee_schema(org)
        grind = PreferenceField.objects.get(organization=org, key="grind")
        grind.labels = {"fr": "Mouture"}
        grind.save()
        PreferenceChoice.objects.filter(field=grind, value="espresso").update(
            labels={"fr": "Expresso"}
        )
        self.guji = ProductFactory(
            organization=org, sku="ETH-GUJI", name="Ethiopia Guji", net_weight_grams=250
        )
        self.cerrado = ProductFactory(
            organization=org, sku="BRA-CER", name="Brazil Cerrado", net_weight_grams=1000
        )
        self.batch = open_batch(org, CUTOFF)
        alice, alice_address = customer_with_address(org, "Alice", "Martin", "3 rue Mercière")
        bob, self.bob_address = customer_with_address(org, "Bob", "Durand", "8 quai Rambaud")
        self.alice = due(alice, alice_address, [(self.guji, 2)])
        self.bob = due(bob, self.bob_address, [(self.cerrado, 1), (self.guji, 1)])

    def prepare_before_cutoff(self):
        with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
            write_preferences(self.alice, grind="espresso", note="Ring twice")
            write_preferences(self.bob, grind="filter", roast="dark", decaf=True)
            renewals.run()

    def lock(self):
        self.prepare_before_cutoff()
        with time_machine.travel(CUTOFF + timedelta(seconds=1), tick=False):
            self.bob_address.line1 = "99 avenue Nouvelle"
            self.bob_address.save()
        with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
            lock_due_batches()
        self.batch.refresh_from_db()
        assert self.batch.status == Batch.Status.LOCKED
        self.lines = {
            line.subscription_id: line for line in BatchLine.objects.filter(batch=self.batch)
        }
        return self.batch

    def code(self, subscription):
        return self.lines[subscription.pk].code


@pytest.fixture
def roastery(org_a):
    shop = Roastery(org_a)
    shop.lock()
    return shop


# --- Pick list ---------------------------------------------------------------------------


def test_the_pick_list_csv_has_a_row_per_box_and_product_sorted_by_product_then_code(
    roastery, admin_client_a
):
    batch = roastery.batch
    alice, bob = roastery.code(roastery.alice), roastery.code(roastery.bob)

    response = admin_client_a.get(url(batch, "pick-list.csv"), **EN)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="batch-2026-12-02-pick-list.csv"'
    )
    header, *rows = read_csv(response)
    assert header == PICK_HEADER + PREFERENCE_HEADER
    a, b = str(roastery.alice.pk), str(roastery.bob.pk)
    bob_values = ["Filter", "Dark", "Yes", "", "", ""]
    alice_values = ["Espresso", "", "No", "", "", "Ring twice"]
    assert rows == [
        [bob, b, "Bob Durand", "BRA-CER", "Brazil Cerrado", "1", "Ready", *bob_values],
        [alice, a, "Alice Martin", "ETH-GUJI", "Ethiopia Guji", "2", "Ready", *alice_values],
        [bob, b, "Bob Durand", "ETH-GUJI", "Ethiopia Guji", "1", "Ready", *bob_values],
    ]


def test_the_pick_list_speaks_the_staff_members_language(roastery, admin_client_a):
    header, *rows = read_csv(admin_client_a.get(url(roastery.batch, "pick-list.csv"), **FR))

    assert header[7] == "Mouture"
    assert rows[1][7] == "Expresso"
    assert rows[0][9] == "Oui"


def test_the_pick_list_page_groups_by_product_with_a_total_and_a_box_to_tick(
    roastery, admin_client_a
):
    response = admin_client_a.get(url(roastery.batch, "pick-list.html"), **EN)

    assert response.status_code == 200
    page = response.text
    groups = response.context["groups"]
    assert [(g.name, g.quantity, [r.quantity for r in g.rows]) for g in groups] == [
        ("Brazil Cerrado", 1, [1]),
        ("Ethiopia Guji", 3, [2, 1]),
    ]
    assert page.count('type="checkbox"') == 3
    assert "Total Ethiopia Guji" in page
    assert page.index("Brazil Cerrado") < page.index("Ethiopia Guji")
    assert roastery.code(roastery.alice) in page
    assert "<th>Grind</th>" in page
    assert "Preview" not in page


def test_excluded_and_rolled_lines_are_left_out(org_a, staff_user_a, admin_client_a):
    shop = Roastery(org_a)
    carol_customer, carol_address = customer_with_address(org_a, "Carol", "Petit", "1 rue Neuve")
    carol = due(carol_customer, carol_address, [(shop.guji, 1)])
    batch = shop.lock()
    staff = Actor.for_user(staff_user_a)
    line_exclude(line=shop.lines[shop.alice.pk], actor=staff, reason="Out of stock")

    locked = read_csv(admin_client_a.get(url(batch, "pick-list.csv"), **EN))[1:]

    assert sorted({row[2] for row in locked}) == ["Bob Durand", "Carol Petit"]

    # Dispatch: Bob's prepared line ships; Carol's, paid but not prepared, rolls.
    bob_line = shop.lines[shop.bob.pk]
    line_prepare(line=bob_line, actor=staff)
    report = batch_dispatch(batch=batch, actor=staff)
    assert (report.shipped, report.rolled) == (1, 1)
    assert BatchLine.objects.get(pk=shop.lines[carol.pk].pk).status == "rolled"

    shipped = read_csv(admin_client_a.get(url(batch, "pick-list.csv"), **EN))[1:]
    slips = read_csv(admin_client_a.get(url(batch, "packing-slips.csv"), **EN))[1:]
    plan = read_csv(admin_client_a.get(url(batch, "production-plan.csv"), **EN))[1:]

    assert [(row[0], row[2], row[4], row[6]) for row in shipped] == [
        (bob_line.code, "Bob Durand", "Brazil Cerrado", "Shipped"),
        (bob_line.code, "Bob Durand", "Ethiopia Guji", "Shipped"),
    ]
    assert [row[0] for row in slips] == [bob_line.code]
    assert [row[4] for row in plan if row[2] == ""] == ["1", "1"]


def test_a_rolled_line_is_in_the_next_batchs_preview_with_its_code(
    org_a, staff_user_a, admin_client_a
):
    shop = Roastery(org_a)
    shop.lock()
    shop.alice.refresh_from_db()
    batch_dispatch(
        batch=shop.batch, actor=Actor.for_user(staff_user_a)
    )  # nobody prepared: both roll
    following = Batch.objects.get(organization=org_a, status="open")
    copies = {line.subscription_id: line for line in BatchLine.objects.filter(batch=following)}

    rows = read_csv(admin_client_a.get(url(following, "pick-list.csv"), **EN))[1:]

    assert {(row[0], row[2]) for row in rows} >= {
        (copies[shop.alice.pk].code, "Alice Martin"),
        (copies[shop.bob.pk].code, "Bob Durand"),
    }
    assert copies[shop.alice.pk].code != shop.code(shop.alice)


# --- Packing slips -----------------------------------------------------------------------


def test_the_packing_slips_csv_has_the_addresses_as_they_stood_at_the_cutoff(
    roastery, admin_client_a
):
    batch = roastery.batch

    response = admin_client_a.get(url(batch, "packing-slips.csv"), **EN)

    assert response["Content-Disposition"] == (
        'attachment; filename="batch-2026-12-02-packing-slips.csv"'
    )
    header, *rows = read_csv(response)
    assert header == [
        "Code",
        "Subscription",
        "Customer",
        "Name",
        "Company",
        "Address line 1",
        "Address line 2",
        "Postcode",
        "City",
        "State / region",
        "Country",
        "Phone",
        "Items",
        *PREFERENCE_HEADER,
        "Cycle",
        "Ships on",
        "Status",
    ]
    dates = ["2026-12-02", batch.ships_on.isoformat(), "Ready"]
    alice = [roastery.code(roastery.alice), str(roastery.alice.pk), "Alice Martin"]
    alice_address = ["Alice Martin", "", "3 rue Mercière", "", "69003", "Lyon", "", "FR", ""]
    alice_box = [f"2 {TIMES} Ethiopia Guji (ETH-GUJI)", "Espresso", "", "No", "", "", "Ring twice"]
    bob = [roastery.code(roastery.bob), str(roastery.bob.pk), "Bob Durand"]
    # Bob's address as it stood at the cut-off, not as edited one second later.
    bob_address = ["Bob Durand", "", "8 quai Rambaud", "", "69003", "Lyon", "", "FR", ""]
    bob_items = f"1 {TIMES} Brazil Cerrado (BRA-CER), 1 {TIMES} Ethiopia Guji (ETH-GUJI)"
    bob_box = [bob_items, "Filter", "Dark", "Yes", "", "", ""]
    assert rows == [
        [*alice, *alice_address, *alice_box, *dates],
        [*bob, *bob_address, *bob_box, *dates],
    ]


def test_a_label_prints_the_state_and_a_snapshot_taken_before_states_still_prints():
    address = {
        "name": "Jo Smith",
        "company": "",
        "line1": "969 Market",
        "line2": "",
        "postcode": "94103",
        "city": "San Francisco",
        "state": "CA",
        "country": "US",
        "phone": "",
    }
    older = {key: value for key, value in address.items() if key != "state"}

    with translation.override("en"):
        assert exports.address_lines(address) == [
            "Jo Smith",
            "969 Market",
            "94103 San Francisco",
            "CA",
            "United States of America",
        ]
        assert exports.address_lines(older) == [
            "Jo Smith",
            "969 Market",
            "94103 San Francisco",
            "United States of America",
        ]


def test_the_packing_slips_page_prints_one_slip_per_page_and_is_self_contained(
    roastery, admin_client_a
):
    response = admin_client_a.get(url(roastery.batch, "packing-slips.html"), **EN)

    page = response.text
    slips = response.context["slips"]
    assert [slip.parcel.customer_name for slip in slips] == ["Alice Martin", "Bob Durand"]
    assert page.count('<article class="slip">') == 2
    assert "page-break-after: always" in page
    assert "@media print" in page
    assert "window.print()" in page
    for code in (roastery.code(roastery.alice), roastery.code(roastery.bob)):
        assert f'<div class="code" data-code="{code}">{code}</div>' in page
    assert "8 quai Rambaud" in page
    assert "99 avenue Nouvelle" not in page
    assert "France" in page
    assert "<strong>Note:</strong> Ring twice" in page
    assert "<dt>Grind</dt><dd>Filter</dd>" in page
    assert "<dt>Decaf</dt><dd>Yes</dd>" in page
    assert page.count("Dec. 2, 2026") >= 2  # the cycle, on every slip
    # Nothing fetched from elsewhere: the packing room may be offline.
    for external in ("<link", "<script src", "@import", "http://", "https://", "url("):
        assert external not in page


# --- Production plan ---------------------------------------------------------------------


def test_the_production_plan_csv_totals_products_and_each_choice_in_kilograms(
    roastery, admin_client_a
):
    response = admin_client_a.get(url(roastery.batch, "production-plan.csv"), **EN)

    header, *rows = read_csv(response)
    assert header == ["SKU", "Product", "Preference", "Value", "Quantity", "Kilograms"]
    cerrado, guji = ["BRA-CER", "Brazil Cerrado"], ["ETH-GUJI", "Ethiopia Guji"]
    assert rows == [
        [*cerrado, "", "", "1", "1.000"],
        [*cerrado, "Grind", "Filter", "1", "1.000"],
        [*cerrado, "Roast", "Dark", "1", "1.000"],
        [*cerrado, "Decaf", "Yes", "1", "1.000"],
        [*guji, "", "", "3", "0.750"],
        [*guji, "Grind", "Filter", "1", "0.250"],
        [*guji, "Grind", "Espresso", "2", "0.500"],
        [*guji, "Roast", "Dark", "1", "0.250"],
        [*guji, "Roast", "(not set)", "2", "0.500"],
        [*guji, "Decaf", "No", "2", "0.500"],
        [*guji, "Decaf", "Yes", "1", "0.250"],
    ]


def test_the_production_plan_writes_french_decimals_for_french_excel(roastery, admin_client_a):
    rows = read_csv(admin_client_a.get(url(roastery.batch, "production-plan.csv"), **FR))

    assert rows[5] == ["ETH-GUJI", "Ethiopia Guji", "", "", "3", "0,750"]
    assert ["ETH-GUJI", "Ethiopia Guji", "Mouture", "Expresso", "2", "0,500"] in rows


def test_the_production_plan_page(roastery, admin_client_a):
    response = admin_client_a.get(url(roastery.batch, "production-plan.html"), **EN)

    page = response.text
    assert response.status_code == 200
    totals = [
        (p.total.name, p.total.quantity, p.total.kilograms) for p in response.context["products"]
    ]
    assert [(name, quantity, str(kg)) for name, quantity, kg in totals] == [
        ("Brazil Cerrado", 1, "1.000"),
        ("Ethiopia Guji", 3, "0.750"),
    ]
    for shown in ("0.750", "0.500", "Espresso", "(not set)"):
        assert shown in page


def test_a_product_without_a_weight_has_no_kilograms(org_a, admin_client_a):
    shop = Roastery(org_a)
    shop.cerrado.net_weight_grams = None
    shop.cerrado.save()
    shop.lock()

    rows = read_csv(admin_client_a.get(url(shop.batch, "production-plan.csv"), **EN))

    assert rows[1] == ["BRA-CER", "Brazil Cerrado", "", "", "1", ""]


# --- An open batch -----------------------------------------------------------------------


def test_an_open_batch_exports_its_live_preview(org_a, staff_user_a, admin_client_for):
    shop = Roastery(org_a)
    with time_machine.travel(CUTOFF - timedelta(days=2), tick=False):
        write_preferences(shop.alice, grind="espresso")
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        admin_client_a = admin_client_for(staff_user_a)
        page = admin_client_a.get(url(shop.batch, "pick-list.html"), **EN)
        csv_response = admin_client_a.get(url(shop.batch, "pick-list.csv"), **EN)
        slips = admin_client_a.get(url(shop.batch, "packing-slips.html"), **EN)
        plan = admin_client_a.get(url(shop.batch, "production-plan.csv"), **EN)
    with translation.override("en"):
        cutoff = formats.date_format(timezone.localtime(CUTOFF, org_a.tzinfo), "DATETIME_FORMAT")

    assert shop.batch.status == Batch.Status.OPEN
    assert f"Preview: the batch is still open until {cutoff}" in page.text
    assert "noon" in cutoff  # the cut-off in Paris time, not 11 a.m. UTC
    assert "Preview: the batch is still open until" in slips.text
    assert csv_response["Content-Disposition"] == (
        'attachment; filename="batch-2026-12-02-pick-list-preview.csv"'
    )
    rows = read_csv(csv_response)[1:]
    # No line yet, so no code; not charged yet, so awaiting payment.
    assert [(row[0], row[2], row[4], row[5], row[6], row[7]) for row in rows] == [
        ("", "Bob Durand", "Brazil Cerrado", "1", "Awaiting payment", "Whole beans"),
        ("", "Alice Martin", "Ethiopia Guji", "2", "Awaiting payment", "Espresso"),
        ("", "Bob Durand", "Ethiopia Guji", "1", "Awaiting payment", "Whole beans"),
    ]
    assert read_csv(plan)[5] == ["ETH-GUJI", "Ethiopia Guji", "", "", "3", "0.750"]


def test_a_csv_cell_never_runs_as_a_spreadsheet_formula():
    assert exports.csv_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [exports.csv_cell(v) for v in ("+33 6", "@SUM(A1)", "-1+1", "Café")] == [
        "'+33 6",
        "'@SUM(A1)",
        "'-1+1",
        "Café",
    ]
    assert [exports.csv_cell(v) for v in (3, None, Decimal("0.25"))] == ["3", "", "0.250"]


def test_a_retired_preference_is_a_column_only_while_a_box_still_has_it(roastery, admin_client_a):
    PreferenceField.objects.filter(organization=roastery.org, key="roast").update(active=False)
    PreferenceField.objects.filter(organization=roastery.org, key="grams").update(active=False)

    header = read_csv(admin_client_a.get(url(roastery.batch, "pick-list.csv"), **EN))[0]

    assert header[7:] == ["Grind", "Roast", "Decaf", "Avoid_Origins", "Note"]


# --- Who may read them -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_member_reads_them_viewers_included(roastery, admin_client_for, kind):
    viewer = MembershipFactory(organization=roastery.org, role=Membership.Role.VIEWER).user

    response = admin_client_for(viewer).get(url(roastery.batch, kind), **EN)

    assert response.status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_another_organizations_staff_gets_not_found(roastery, admin_client_for, staff_user_b, kind):
    response = admin_client_for(staff_user_b).get(url(roastery.batch, kind), **EN)

    assert response.status_code == 404
    assert "Alice" not in response.text


def test_anonymous_is_sent_to_the_login_page(roastery, admin_client_a):
    from django.test import Client

    address = url(roastery.batch, "pick-list.csv")

    response = Client().get(address)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=" in response["Location"]


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(roastery, admin_client_for):
    # A membership makes a user staff (crm.services.user_staff_status_sync): someone with
    # none, and so no staff status, is sent to log in.
    from tests.factories import UserFactory

    outsider = UserFactory(is_staff=False)

    response = admin_client_for(outsider).get(url(roastery.batch, "pick-list.html"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_unknown_kind_or_batch_is_not_found(roastery, admin_client_a):
    batch = roastery.batch

    for kind in ("pick-list.docx", "pick-list", "labels.csv", "PICK-LIST.CSV", "labels.pdf"):
        assert admin_client_a.get(url(batch, kind)).status_code == 404
    missing = reverse("fulfillment:batch-export", args=[batch.pk + 1000, "pick-list.csv"])
    assert admin_client_a.get(missing).status_code == 404


# --- Bounded queries ---------------------------------------------------------------------


def populate(org, count):
    """`count` due subscriptions of one coffee in `org`'s batch, with the coffee schema."""
    billing_settings(org)
    coffee_schema(org)
    coffee = ProductFactory(organization=org, net_weight_grams=250)
    batch = open_batch(org, CUTOFF)
    for _ in range(count):
        customer = CustomerFactory(organization=org)
        address = AddressFactory(customer=customer)
        due(customer, address, [(coffee, 1)])
    return batch


def queries_of(admin_client_a, batch, kind):
    with CaptureQueriesContext(connection) as context:
        response = admin_client_a.get(url(batch, kind), **EN)
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.fixture
def small_and_large(org_a, org_b, staff_user_a, staff_user_b, admin_client_for):
    small, large = populate(org_a, 3), populate(org_b, 40)
    return (admin_client_for(staff_user_a), small), (admin_client_for(staff_user_b), large)


def test_a_locked_batchs_exports_read_the_same_queries_for_3_and_40_lines(
    small_and_large, django_assert_max_num_queries
):
    (small_client, small), (large_client, large) = small_and_large
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        lock_due_batches()
    assert BatchLine.objects.filter(batch=large).count() == 40

    for kind in KINDS:
        allowed = queries_of(small_client, small, kind)
        with django_assert_max_num_queries(allowed):
            large_client.get(url(large, kind), **EN)


def test_an_open_batchs_preview_reads_the_same_queries_for_3_and_40_boxes(
    small_and_large, django_assert_max_num_queries
):
    (small_client, small), (large_client, large) = small_and_large
    for kind in KINDS:
        allowed = queries_of(small_client, small, kind)
        with django_assert_max_num_queries(allowed):
            response = large_client.get(url(large, kind), **EN)
        assert response.status_code == 200
    assert len(read_csv(large_client.get(url(large, "pick-list.csv"), **EN))) == 41
