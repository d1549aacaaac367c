"""The packing room's back office: a batch's lines and the shipments, through the admin URLs.

Organization A ("Purea Café") is the staff member's; organization B is someone else's.
Lines are written as a lock leaves them (snapshots of items, preferences, address),
each with the charge of its cycle: paid for a ready line, failed for an unpaid one.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from core.actors import Actor
from crm.models import Membership
from fulfillment import services
from fulfillment.models import Batch, BatchLine, Shipment
from subscriptions.models import Charge
from tests.factories import (
    BatchLineFactory,
    ChargeFactory,
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    ShipmentFactory,
    SubscriptionFactory,
    UserFactory,
    coffee_schema,
    open_batch,
    preference_field,
)
from tests.helpers import listed, messages_of

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = BatchLine.Status
CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
LINES = "/admin/fulfillment/batchline/"
SHIPMENTS = "/admin/fulfillment/shipment/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NUMBERS = itertools.count()


def add_line(batch, *, name, items, preferences=None, status=Status.READY):
    """A line of `batch` for a new subscriber `name` ("First Last"), paid unless awaiting."""
    first, last = name.split()
    customer = CustomerFactory(
        organization=batch.organization,
        first_name=first,
        last_name=last,
        email=f"{first.lower()}@example.com" if last.isalpha() else f"{first}.{last}@example.com",
    )
    subscription = SubscriptionFactory(customer=customer, status="active", items=items)
    awaiting = status == Status.AWAITING_PAYMENT
    if awaiting:  # its next cycle, whose charge failed
        ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.FAILED)
    return BatchLineFactory(
        batch=batch,
        subscription=subscription,
        cycle=1 if awaiting else 0,
        status=status,
        preferences=preferences or {},
    )


def state(*rows):
    return [
        (type(row).objects.filter(pk=row.pk).values_list("status", "updated_at").get())
        for row in rows
    ]


def act(client, url, action, rows, **data):
    return client.post(
        url,
        {"action": action, ACTION_CHECKBOX_NAME: [row.pk for row in rows], **data},
        follow=True,
        **EN,
    )


@pytest.fixture
def coffee(org_a):
    return ProductFactory(organization=org_a, sku="COF-1", name="Ethiopia")


@pytest.fixture
def filters(org_a):
    return ProductFactory(organization=org_a, sku="FIL-1", name="Paper filters")


@pytest.fixture
def batch(org_a):
    coffee_schema(org_a)
    return open_batch(org_a, CUTOFF, status="locked")


@pytest.fixture
def lines(batch, coffee, filters):
    """Alice's box is paid, Bob's is not, Carol's is packed already."""
    alice = add_line(
        batch,
        name="Alice Martin",
        items=[(coffee, 2)],
        preferences={"grind": "espresso", "decaf": False},
    )
    bob = add_line(
        batch,
        name="Bob Durand",
        items=[(coffee, 1), (filters, 1)],
        preferences={"grind": "filter", "decaf": True},
        status=Status.AWAITING_PAYMENT,
    )
    carol = add_line(
        batch,
        name="Carol Petit",
        items=[(filters, 3)],
        preferences={"grind": "beans", "decaf": False},
        status=Status.PREPARED,
    )
    return alice, bob, carol


@pytest.fixture
def theirs(org_b):
    """Organization B's locked batch, with a paid line and its own preferences."""
    preference_field(org_b, "leaf", "choice", choices=[("whole", "Whole leaf")], label="Leaf size")
    batch = open_batch(org_b, CUTOFF + timedelta(days=1), status="locked")
    tea = ProductFactory(organization=org_b, sku="TEA-1", name="Darjeeling")
    return add_line(batch, name="Dave Leroy", items=[(tea, 1)], preferences={"leaf": "whole"})


# --- Lines -------------------------------------------------------------------------


def test_lines_are_listed_with_their_snapshot_and_payment(admin_client_a, lines, theirs):
    alice, bob, carol = lines

    response = admin_client_a.get(LINES, **EN)

    assert listed(response) == {alice, bob, carol}
    content = response.content.decode()
    assert alice.code in content
    assert "Alice Martin &lt;alice@example.com&gt;" in content
    assert "2 x Ethiopia" in content
    assert "1 x Ethiopia, 1 x Paper filters" in content
    assert "Grind: Espresso, Decaf: No" in content
    assert "Grind: Filter, Decaf: Yes" in content
    assert "Awaiting payment" in content
    assert "Failed" in content  # Bob's charge
    assert "Darjeeling" not in content
    assert "dave@example.com" not in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "ready"}, {"alice"}),
        ({"status__exact": "awaiting_payment"}, {"bob"}),
        ({"product": "coffee"}, {"alice", "bob"}),
        ({"product": "filters"}, {"bob", "carol"}),
        ({"preference": "grind=espresso"}, {"alice"}),
        ({"preference": "grind=beans"}, {"carol"}),
        ({"preference": "decaf=true"}, {"bob"}),
        ({"preference": "decaf=false"}, {"alice", "carol"}),
        ({"product": "coffee", "preference": "decaf=false"}, {"alice"}),
        ({"batch__id__exact": "batch"}, {"alice", "bob", "carol"}),
        ({"batch__id__exact": "earlier"}, set()),
    ],
)
def test_lines_are_filtered_by_status_product_preference_and_batch(
    admin_client_a, org_a, batch, coffee, filters, lines, query, expected
):
    alice, bob, carol = lines
    earlier = open_batch(org_a, CUTOFF - timedelta(days=7), status="completed")
    ids = {
        "coffee": coffee.pk,
        "filters": filters.pk,
        "batch": batch.pk,
        "earlier": earlier.pk,
    }
    params = {key: ids.get(value, value) for key, value in query.items()}
    names = {alice: "alice", bob: "bob", carol: "carol"}

    response = admin_client_a.get(LINES, params)

    assert response.status_code == 200
    assert {names[line] for line in listed(response)} == expected


def test_the_filters_offer_only_the_organizations_batches_products_and_values(
    admin_client_a, org_a, lines, theirs
):
    open_batch(org_a, CUTOFF - timedelta(days=7), status="completed")

    response = admin_client_a.get(LINES, **EN)

    choices = {
        str(spec.title): [choice["display"] for choice in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].filter_specs
    }
    assert choices["product"] == ["All", "Ethiopia (COF-1)", "Paper filters (FIL-1)"]
    assert choices["batch"] == ["All", "Batch of Dec. 2, 2026", "Batch of Nov. 25, 2026"]
    assert "Grind: Espresso" in choices["preference"]
    assert "Decaf: Yes" in choices["preference"]
    assert not [label for label in choices["preference"] if "Leaf" in label]
    assert "Roast: Dark" in choices["preference"]
    assert not [label for label in choices["preference"] if label.startswith("Note")]
    # Another organization's product or preference filters to nothing here.
    tea = theirs.items[0]["product"]
    assert listed(admin_client_a.get(LINES, {"product": tea})) == set()
    assert listed(admin_client_a.get(LINES, {"batch__id__exact": theirs.batch_id})) == set()


def test_lines_are_found_by_customer_name_email_or_code(admin_client_a, lines, theirs):
    alice, bob, _carol = lines

    assert listed(admin_client_a.get(LINES, {"q": "Alice Martin"})) == {alice}
    assert listed(admin_client_a.get(LINES, {"q": "bob@example.com"})) == {bob}
    assert listed(admin_client_a.get(LINES, {"q": alice.code})) == {alice}
    assert listed(admin_client_a.get(LINES, {"q": theirs.code})) == set()


def test_mark_prepared_prepares_the_ready_lines_and_reports_the_others(
    admin_client_a, staff_user_a, lines
):
    alice, bob, carol = lines
    before = state(bob, carol)

    response = act(admin_client_a, LINES, "mark_prepared", [alice, bob, carol])

    assert messages_of(response) == [
        "1 line marked prepared.",
        f"1 line not prepared: Not paid yet. ({bob.code})",
        f"1 line not prepared: Already prepared. ({carol.code})",
    ]
    alice.refresh_from_db()
    assert (alice.status, alice.prepared_by) == (Status.PREPARED, staff_user_a)
    assert state(bob, carol) == before


def test_lines_of_a_batch_not_locked_yet_are_not_prepared(admin_client_a, org_a, coffee):
    open_one = open_batch(org_a, CUTOFF)
    rolled_in = add_line(open_one, name="Eve Blanc", items=[(coffee, 1)])
    before = state(rolled_in)

    response = act(admin_client_a, LINES, "mark_prepared", [rolled_in])

    assert messages_of(response) == [
        f"1 line not prepared: Its batch is not locked. ({rolled_in.code})"
    ]
    assert state(rolled_in) == before


def test_the_actions_ignore_another_organizations_lines(admin_client_a, lines, theirs):
    alice, _bob, _carol = lines
    before = state(theirs)

    response = act(admin_client_a, LINES, "mark_prepared", [alice, theirs])
    only_theirs = act(admin_client_a, LINES, "mark_prepared", [theirs])

    assert messages_of(response) == ["1 line marked prepared."]
    assert messages_of(only_theirs) == [
        "Items must be selected in order to perform actions on them. No items have been changed."
    ]
    assert state(theirs) == before


def test_a_member_of_two_organizations_prepares_only_where_they_are_staff(
    admin_client_for, staff_user_a, org_b, lines, theirs
):
    alice, _bob, _carol = lines
    MembershipFactory(organization=org_b, user=staff_user_a, role=Role.VIEWER)
    before = state(theirs)

    page = admin_client_for(staff_user_a).get(LINES)
    response = act(admin_client_for(staff_user_a), LINES, "mark_prepared", [alice, theirs])

    assert theirs in listed(page)
    assert messages_of(response) == [
        "1 line marked prepared.",
        f"1 line not prepared: You may not change it. ({theirs.code})",
    ]
    assert state(theirs) == before


def test_a_superuser_prepares_lines_of_several_organizations_at_once(
    admin_client_for, lines, theirs
):
    alice, _bob, _carol = lines
    superuser = UserFactory(is_superuser=True)

    response = act(admin_client_for(superuser), LINES, "mark_prepared", [alice, theirs])

    assert messages_of(response) == ["2 lines marked prepared."]
    assert set(
        BatchLine.objects.filter(pk__in=[alice.pk, theirs.pk]).values_list("status", flat=True)
    ) == {Status.PREPARED}


def test_a_viewer_cannot_prepare_lines(admin_client_for, org_a, lines):
    alice, _bob, _carol = lines
    viewer = admin_client_for(MembershipFactory(organization=org_a, role=Role.VIEWER).user)
    before = state(alice)

    page = viewer.get(LINES)
    response = act(viewer, LINES, "mark_prepared", [alice])

    assert page.status_code == 200
    assert "mark_prepared" not in page.content.decode()
    # Viewers have one action, "Print labels" (a read): Django refuses any other as unknown.
    assert messages_of(response) == ["No action selected."]
    assert state(alice) == before


def test_excluding_asks_why_then_excludes_through_the_service(admin_client_a, staff_user_a, lines):
    alice, bob, _carol = lines
    services.line_exclude(line=bob, actor=Actor.system(), reason="Asked by the customer")
    before = state(alice, bob)

    asked = act(admin_client_a, LINES, "exclude_lines", [alice, bob])
    no_reason = act(admin_client_a, LINES, "exclude_lines", [alice, bob], apply="yes", reason="")
    after_no_reason = state(alice, bob)
    done = act(
        admin_client_a, LINES, "exclude_lines", [alice, bob], apply="yes", reason="Out of stock"
    )

    assert asked.status_code == 200
    assert "Alice Martin" in asked.content.decode()
    assert "reason" in asked.context["form"].fields
    assert no_reason.context["form"].errors["reason"] == ["This field is required."]
    assert after_no_reason == before
    assert messages_of(done) == [
        f"Line {bob.code}: This batch line is excluded: it cannot be excluded.",
        "1 line excluded.",
    ]
    alice.refresh_from_db()
    assert alice.status == Status.EXCLUDED
    assert alice.reason == f"Out of stock ({staff_user_a.username})"


def test_a_lines_page_is_read_only_and_shows_its_snapshot(admin_client_a, lines, theirs):
    alice, _bob, _carol = lines

    page = admin_client_a.get(f"{LINES}{alice.pk}/change/", **EN)

    content = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in content
    assert "12 rue des Lilas<br>69003 Lyon<br>FR" in content
    assert "<td>COF-1</td><td>Ethiopia</td><td>2</td>" in content
    assert "<tr><th>Grind</th><td>Espresso</td></tr>" in content
    assert admin_client_a.get(f"{LINES}add/").status_code == 403
    assert admin_client_a.post(f"{LINES}{alice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client_a.get(f"{LINES}{theirs.pk}/change/").status_code == 404
    assert BatchLine.objects.filter(pk=alice.pk).exists()


def test_the_lines_list_queries_do_not_grow_with_its_length(
    admin_client_a, batch, coffee, filters, django_assert_max_num_queries
):
    def boxes(count):
        for _ in range(count):
            add_line(
                batch,
                name=f"Some One{next(NUMBERS)}",
                items=[(coffee, 2), (filters, 1)],
                preferences={"grind": "espresso", "decaf": True},
            )

    boxes(3)
    admin_client_a.get(LINES)  # warm the session and content types
    query = {"batch__id__exact": batch.pk, "preference": "grind=espresso", "product": coffee.pk}

    with django_assert_max_num_queries(16) as few:
        admin_client_a.get(LINES, query)
    boxes(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(LINES, query, **EN)

    assert response.context["cl"].result_count == 30
    assert response.content.decode().count("Grind: Espresso, Decaf: Yes") == 30


# --- Shipments ---------------------------------------------------------------------


def ship(line, carrier="Colissimo", tracking_number=""):
    return ShipmentFactory(line=line, carrier=carrier, tracking_number=tracking_number)


@pytest.fixture
def dispatched(org_a, coffee):
    """A dispatched batch with two parcels: Alice's by Colissimo, Bob's by Chronopost."""
    batch = open_batch(org_a, CUTOFF, status="dispatched")
    alice = add_line(batch, name="Alice Martin", items=[(coffee, 1)], status=Status.SHIPPED)
    bob = add_line(batch, name="Bob Durand", items=[(coffee, 1)], status=Status.SHIPPED)
    return batch, ship(alice, tracking_number="6A123"), ship(bob, carrier="Chronopost")


@pytest.fixture
def their_shipment(org_b):
    batch = open_batch(org_b, CUTOFF, status="dispatched")
    tea = ProductFactory(organization=org_b, name="Darjeeling")
    line = add_line(batch, name="Dave Leroy", items=[(tea, 1)], status=Status.SHIPPED)
    return ship(line, carrier="DHL", tracking_number="DHL999")


def test_shipments_are_listed_and_filtered_by_status_batch_and_carrier(
    admin_client_a, org_a, dispatched, their_shipment
):
    batch, alice, bob = dispatched
    services.shipment_transition(shipment=alice, action="ship", actor=Actor.system())
    earlier = open_batch(org_a, CUTOFF - timedelta(days=7), status="completed")

    response = admin_client_a.get(SHIPMENTS, **EN)

    assert listed(response) == {alice, bob}
    content = response.content.decode()
    assert "6A123" in content
    assert "Alice Martin &lt;alice@example.com&gt;" in content
    assert "DHL" not in content
    assert listed(admin_client_a.get(SHIPMENTS, {"status__exact": "shipped"})) == {alice}
    assert listed(admin_client_a.get(SHIPMENTS, {"carrier": "Chronopost"})) == {bob}
    assert listed(admin_client_a.get(SHIPMENTS, {"batch__id__exact": batch.pk})) == {alice, bob}
    assert listed(admin_client_a.get(SHIPMENTS, {"batch__id__exact": earlier.pk})) == set()
    assert listed(admin_client_a.get(SHIPMENTS, {"carrier": "DHL"})) == set()
    carriers = next(spec for spec in response.context["cl"].filter_specs if spec.title == "carrier")
    assert [choice["display"] for choice in carriers.choices(response.context["cl"])] == [
        "All",
        "Chronopost",
        "Colissimo",
    ]


def test_shipments_are_found_by_tracking_number_or_customer(
    admin_client_a, dispatched, their_shipment
):
    _batch, alice, bob = dispatched

    assert listed(admin_client_a.get(SHIPMENTS, {"q": "6A123"})) == {alice}
    assert listed(admin_client_a.get(SHIPMENTS, {"q": "Bob Durand"})) == {bob}
    assert listed(admin_client_a.get(SHIPMENTS, {"q": "DHL999"})) == set()


def test_the_carrier_and_tracking_number_are_saved_through_the_service(
    admin_client_a, staff_user_a, dispatched, monkeypatch
):
    _batch, alice, _bob = dispatched
    calls = []
    update = services.shipment_update

    def recording(**kwargs):
        calls.append({key: kwargs[key] for key in kwargs if key != "shipment"})
        return update(**kwargs)

    monkeypatch.setattr(services, "shipment_update", recording)
    url = f"{SHIPMENTS}{alice.pk}/change/"

    page = admin_client_a.get(url, **EN)
    saved = admin_client_a.post(url, {"carrier": "Chronopost", "tracking_number": " XY42 "})

    assert set(page.context["adminform"].form.fields) == {"carrier", "tracking_number"}
    assert saved.status_code == 302
    assert calls == [
        {
            "actor": Actor.for_user(staff_user_a),
            "carrier": "Chronopost",
            "tracking_number": "XY42",
        }
    ]
    alice.refresh_from_db()
    assert (alice.carrier, alice.tracking_number, alice.status) == (
        "Chronopost",
        "XY42",
        Shipment.Status.CREATED,
    )


def test_a_closed_shipment_keeps_its_carrier_and_tracking_number(admin_client_a, dispatched):
    _batch, alice, _bob = dispatched
    services.shipment_transition(shipment=alice, action="deliver", actor=Actor.system())
    url = f"{SHIPMENTS}{alice.pk}/change/"

    page = admin_client_a.get(url)
    admin_client_a.post(url, {"carrier": "Chronopost", "tracking_number": "XY42"})

    assert page.context["adminform"].form.fields == {}
    alice.refresh_from_db()
    assert (alice.carrier, alice.tracking_number) == ("Colissimo", "6A123")


def test_a_refused_update_is_shown_on_the_form_and_writes_nothing(
    admin_client_a, dispatched, monkeypatch
):
    """The shipment was delivered while the page was open: the service refuses."""
    _batch, alice, _bob = dispatched
    url = f"{SHIPMENTS}{alice.pk}/change/"
    original = services.shipment_update

    def delivered_meanwhile(**kwargs):
        services.shipment_transition(shipment=alice, action="deliver", actor=Actor.system())
        return original(**kwargs)

    monkeypatch.setattr(services, "shipment_update", delivered_meanwhile)

    response = admin_client_a.post(url, {"carrier": "Chronopost", "tracking_number": "XY42"}, **EN)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "This shipment is delivered: it cannot be changed."
    ]
    # The page's writes are undone with the refusal (its savepoint). The delivery "meanwhile"
    # is faked inside the same request, so it is undone too; a real one, committed by another
    # transaction, would stay.
    alice.refresh_from_db()
    assert (alice.carrier, alice.tracking_number) == ("Colissimo", "6A123")


def test_shipment_actions_move_them_on_and_report_the_refused(admin_client_a, dispatched):
    batch, alice, bob = dispatched
    services.shipment_transition(shipment=bob, action="deliver", actor=Actor.system())
    bob_before = state(bob)

    shipped = act(admin_client_a, SHIPMENTS, "mark_shipped", [alice, bob])

    assert messages_of(shipped) == [
        f"Shipment {bob.pk}: This shipment is delivered: it cannot be shipped.",
        "1 shipment marked shipped.",
    ]
    assert state(bob) == bob_before
    alice.refresh_from_db()
    assert alice.status == Shipment.Status.SHIPPED
    assert alice.shipped_at is not None

    lost = act(admin_client_a, SHIPMENTS, "mark_lost", [alice])
    returned = act(admin_client_a, SHIPMENTS, "mark_returned", [bob])

    assert messages_of(lost) == ["1 shipment marked lost."]
    assert messages_of(returned) == ["1 shipment marked returned."]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED  # its last open shipment closed


def test_mark_delivered_closes_the_shipments(admin_client_a, dispatched):
    _batch, alice, bob = dispatched

    response = act(admin_client_a, SHIPMENTS, "mark_delivered", [alice, bob])

    assert messages_of(response) == ["2 shipments marked delivered."]
    assert set(Shipment.objects.values_list("status", flat=True)) == {"delivered"}


def test_another_organizations_shipments_are_not_found_nor_changed(
    admin_client_a, dispatched, their_shipment
):
    _batch, alice, _bob = dispatched
    before = state(their_shipment)
    url = f"{SHIPMENTS}{their_shipment.pk}/change/"

    assert admin_client_a.get(url).status_code == 404
    assert admin_client_a.post(url, {"carrier": "X", "tracking_number": "Y"}).status_code == 404
    response = act(admin_client_a, SHIPMENTS, "mark_shipped", [alice, their_shipment])
    assert messages_of(response) == ["1 shipment marked shipped."]
    assert admin_client_a.get(f"{SHIPMENTS}add/").status_code == 403
    their_shipment.refresh_from_db()
    assert (their_shipment.carrier, their_shipment.tracking_number) == ("DHL", "DHL999")
    assert state(their_shipment) == before


def test_the_shipments_list_queries_do_not_grow_with_its_length(
    admin_client_a, org_a, coffee, django_assert_max_num_queries
):
    batch = open_batch(org_a, CUTOFF, status="dispatched")

    def parcels(count):
        for _ in range(count):
            ship(
                add_line(
                    batch,
                    name=f"Some One{next(NUMBERS)}",
                    items=[(coffee, 1)],
                    status=Status.SHIPPED,
                )
            )

    parcels(3)
    admin_client_a.get(SHIPMENTS)  # warm the session and content types

    with django_assert_max_num_queries(12) as few:
        admin_client_a.get(SHIPMENTS)
    parcels(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(SHIPMENTS)

    assert response.context["cl"].result_count == 30
