"""Bulk actions on the subscription list (issue 25, item 15): pause, skip the next box,
swap a product or variant, change the next date; through the services one subscription
at a time, each done or refused with its service's reason; in the admin and the API.

Organization A ("Purea Café", Europe/Paris) is the staff member's; B is someone else's.
Subscriptions are monthly, cycle 0 paid, cycle 1 next (`SubscriptionFactory`).
"""

from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.actors import Actor, ActorKind
from core.errors import ApplicationError
from crm.models import ApiKey
from subscriptions import services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    ChargeFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    VariantFactory,
    api_key_for,
)
from tests.helpers import messages_of

pytestmark = pytest.mark.django_db

S = Subscription.Status
Kind = SubscriptionEvent.Kind
STAFF = Actor(ActorKind.USER, label="staff")
LIST = "/admin/subscriptions/subscription/"
BULK = "/api/v1/subscriptions/bulk/"
PARIS = ZoneInfo("Europe/Paris")


def active(organization, **fields):
    customer = CustomerFactory(organization=organization)
    return SubscriptionFactory(customer=customer, status=S.ACTIVE, **fields)


def bulk(organization, action, subscriptions, **kwargs):
    ids = [s if isinstance(s, int) else s.pk for s in subscriptions]
    return services.subscriptions_bulk(
        organization=organization, action=action, ids=ids, actor=STAFF, **kwargs
    )


def status_of(subscription):
    return Subscription.objects.get(pk=subscription.pk).status


@pytest.fixture
def mixed(org_a, org_b):
    """Two active subscriptions, a canceled one, a shop's one, and B's active one."""
    return {
        "active": [active(org_a), active(org_a)],
        "canceled": SubscriptionFactory(
            customer=CustomerFactory(organization=org_a), status=S.CANCELED
        ),
        "shop": active(org_a, source=Subscription.Source.WOOCOMMERCE),
        "theirs": active(org_b),
    }


# --- The service ----------------------------------------------------------------------------


def test_pause_pauses_those_it_may_and_says_why_not_for_the_others(org_a, mixed):
    resume_at = timezone.now() + timedelta(days=20)
    one, two = mixed["active"]

    report = bulk(
        org_a,
        "pause",
        [one, two, mixed["canceled"], mixed["shop"], mixed["theirs"]],
        resume_at=resume_at,
    )

    assert report.done == [one.pk, two.pk]
    assert report.refused == {
        mixed["canceled"].pk: "Cannot pause: the subscription is canceled.",
        mixed["shop"].pk: (
            "This subscription is managed by WooCommerce: change it in the shop, the change "
            "will be synchronized here."
        ),
        mixed["theirs"].pk: "Not found.",
    }
    assert [status_of(s) for s in (one, two)] == [S.PAUSED, S.PAUSED]
    assert Subscription.objects.get(pk=one.pk).resume_at == resume_at
    # Another organization's subscription is never touched
    assert status_of(mixed["theirs"]) == S.ACTIVE
    assert not mixed["theirs"].events.exists()


def test_skip_skips_the_next_box_and_refuses_one_whose_next_charge_is_under_way(org_a):
    one, two = active(org_a), active(org_a)
    ChargeFactory(subscription=two, cycle=1, status=Charge.Status.PENDING)
    paused = SubscriptionFactory(customer=CustomerFactory(organization=org_a), status=S.PAUSED)

    report = bulk(org_a, "skip", [one, two, paused])

    assert report.done == [one.pk]
    assert report.refused[two.pk] == (
        "The next cycle is already being charged (pending): it cannot be changed."
    )
    assert report.refused[paused.pk].startswith("The subscription is paused with no resume date")
    one.refresh_from_db()
    assert (one.skipped_cycles, one.next_cycle) == ([1], 2)
    assert Subscription.objects.get(pk=two.pk).skipped_cycles == []


def test_move_next_date_moves_each_and_refuses_a_date_inside_one_paid_period(org_a):
    one = active(org_a)
    later = active(org_a, billing_anchor=timezone.now() + timedelta(days=20))
    at = timezone.now() + timedelta(days=40)

    report = bulk(org_a, "move-next-date", [one, later], at=at)

    assert report.done == [one.pk]
    assert report.refused[later.pk].startswith(
        "The next charge date cannot be before the end of the paid period"
    )
    assert Subscription.objects.get(pk=one.pk).next_charge_at == at


def test_swap_replaces_a_variant_by_another_products_at_its_price_keeping_the_quantity(org_a):
    old = VariantFactory(product__organization=org_a, unit_price=Decimal("9.90"))
    new = VariantFactory(product__organization=org_a, unit_price=Decimal("14.00"))
    other = ProductFactory(organization=org_a, unit_price=Decimal("5.00"))
    holder = active(org_a, items=[(old, 2), (other, 1)])
    without = active(org_a, items=[(other, 1)])
    ending = active(org_a, items=[(old, 1)], cancel_at_period_end=True)

    report = bulk(org_a, "swap", [holder, without, ending], from_variant=old.pk, to_variant=new)

    assert report.done == [holder.pk]
    assert report.refused == {
        without.pk: f"It holds no {old}.",
        ending.pk: (
            "The subscription ends with its paid period: no later charge would settle a "
            "change of items. Withdraw the cancellation first."
        ),
    }
    items = sorted(
        (i.product_id, i.variant_id, i.quantity, i.unit_price) for i in holder.items.all()
    )
    assert items == sorted(
        [(new.product_id, new.pk, 2, Decimal("14.00")), (other.pk, None, 1, Decimal("5.00"))]
    )
    event = holder.events.get(kind=Kind.ITEMS_CHANGED)
    assert event.data["proration"] is not None  # inside the paid period: pro-rated


def test_swap_of_a_product_replaces_any_of_its_variants(org_a):
    first = VariantFactory(product__organization=org_a)
    second = VariantFactory(product=first.product)
    simple = ProductFactory(organization=org_a, unit_price=Decimal("7.00"))
    a, b = active(org_a, items=[(first, 1)]), active(org_a, items=[(second, 3)])

    report = bulk(org_a, "swap", [a, b], from_product=first.product_id, to_product=simple.pk)

    assert report.done == [a.pk, b.pk]
    assert [(i.product_id, i.variant_id, i.quantity) for i in b.items.all()] == [
        (simple.pk, None, 3)
    ]


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"to_product": "sold_by_variant"}, "to_product", "is sold by variant"),
        ({"to_variant": "retired"}, "to_variant", "is retired"),
        ({"to_variant": "theirs"}, "to_variant", "unknown variant"),
        ({"to_variant": "same"}, "to_product", "The replacement is what it replaces."),
    ],
)
def test_a_swap_the_catalog_refuses_is_refused_once_for_all(
    org_a, org_b, arguments, field, message
):
    old = VariantFactory(product__organization=org_a)
    retired = VariantFactory(product__organization=org_a, active=False)
    theirs = VariantFactory(product__organization=org_b)
    subscription = active(org_a, items=[(old, 1)])
    values = {
        "sold_by_variant": retired.product_id,
        "retired": retired.pk,
        "theirs": theirs.pk,
        "same": old.pk,
    }
    (name, value) = next(iter(arguments.items()))

    with pytest.raises(ApplicationError) as refused:
        bulk(org_a, "swap", [subscription], from_variant=old.pk, **{name: values[value]})

    assert message in " ".join(refused.value.extra["fields"][field])
    assert not subscription.events.exists()


def test_more_than_500_subscriptions_at_once_are_refused(org_a):
    with pytest.raises(ApplicationError) as refused:
        bulk(org_a, "skip", list(range(1, 502)))
    assert refused.value.extra["fields"]["ids"] == ["At most 500 subscriptions at once."]


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        ("pause", {}),
        ("skip", {}),
        ("move-next-date", {"at": "later"}),
        ("swap", {"swap": True}),
    ],
)
def test_the_queries_grow_by_the_same_number_for_each_subscription(org_a, action, kwargs):
    old = VariantFactory(product__organization=org_a)
    new = VariantFactory(product__organization=org_a)
    anchor = timezone.now()
    if kwargs.get("at"):
        kwargs = {"at": anchor + timedelta(days=45)}
    if kwargs.get("swap"):
        kwargs = {"from_variant": old.pk, "to_variant": new.pk}

    def queries(count):
        subscriptions = [
            active(org_a, items=[(old, 1)], billing_anchor=anchor) for _ in range(count)
        ]
        with CaptureQueriesContext(connection) as context:
            report = bulk(org_a, action, subscriptions, **kwargs)
        assert len(report.done) == count, report.refused
        return len(context.captured_queries)

    three, four, thirty = queries(3), queries(4), queries(30)

    per_subscription = four - three
    assert per_subscription <= 25
    assert thirty - three == 27 * per_subscription


# --- The admin ------------------------------------------------------------------------------


def run_action(client, name, subscriptions, data=None, language="fr"):
    return client.post(
        LIST,
        {
            "action": name,
            "_selected_action": [s.pk for s in subscriptions],
            "index": 0,
            **({"apply": "yes", **data} if data is not None else {}),
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE=language,
    )


def test_the_admin_asks_for_the_date_then_pauses_and_reports_in_french(
    admin_client_a, org_a, mixed
):
    one, two = mixed["active"]
    selected = [one, two, mixed["canceled"]]

    page = run_action(admin_client_a, "bulk_pause", selected)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Mettre les abonnements en pause" in html
    assert 'name="resume_at"' in html
    assert status_of(one) == S.ACTIVE  # nothing done before the form is sent

    done = run_action(admin_client_a, "bulk_pause", selected, {"resume_at": "2099-01-05T09:00"})

    assert messages_of(done) == [
        "2 abonnements mis en pause.",
        "1 abonnement non modifié : Impossible de mettre en pause : l\u2019abonnement est "
        f"résilié. ({mixed['canceled']})",
    ]
    assert [status_of(s) for s in (one, two)] == [S.PAUSED, S.PAUSED]
    # The date was typed in the organization's time zone (Paris, winter: UTC+1)
    resume_at = Subscription.objects.get(pk=one.pk).resume_at
    assert resume_at.astimezone(UTC).hour == 8


def test_the_admin_skips_the_next_box_and_names_each_refused_subscription(admin_client_a, org_a):
    one = active(org_a)
    busy = [active(org_a), active(org_a)]
    for subscription in busy:
        ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.SCHEDULED)

    done = run_action(admin_client_a, "bulk_skip", [one, *busy], {"reason": ""}, language="en")

    assert messages_of(done) == [
        "1 subscription skips its next box.",
        "2 subscriptions not changed: The next cycle is already being charged (scheduled): "
        f"it cannot be changed. ({busy[0]}, {busy[1]})",
    ]


def test_the_admin_swaps_among_the_organizations_products(admin_client_a, org_a, org_b):
    old = VariantFactory(product__organization=org_a)
    new = VariantFactory(product__organization=org_a, unit_price=Decimal("11.00"))
    theirs = VariantFactory(product__organization=org_b)
    subscription = active(org_a, items=[(old, 1)])

    page = run_action(admin_client_a, "bulk_swap", [subscription], language="en")
    html = page.content.decode()
    assert f'value="v{new.pk}"' in html
    assert f'value="v{theirs.pk}"' not in html  # B's catalog is not offered

    done = run_action(
        admin_client_a,
        "bulk_swap",
        [subscription],
        {"replace": f"v{old.pk}", "by": f"v{new.pk}", "reason": "out of stock"},
        language="en",
    )

    assert messages_of(done) == ["1 subscription changed: the product is swapped."]
    assert [i.variant_id for i in subscription.items.all()] == [new.pk]


def test_the_admin_moves_the_next_date(admin_client_a, org_a):
    subscription = active(org_a)

    at = (timezone.now() + timedelta(days=45)).astimezone(PARIS).replace(second=0, microsecond=0)

    done = run_action(
        admin_client_a, "bulk_move_next_date", [subscription], {"at": f"{at:%Y-%m-%dT%H:%M}"}, "en"
    )

    assert messages_of(done) == ["1 subscription has a new next charge date."]
    assert Subscription.objects.get(pk=subscription.pk).next_charge_at == at


def test_the_admin_runs_nothing_on_another_organizations_subscriptions(admin_client_a, mixed):
    theirs = mixed["theirs"]

    response = run_action(admin_client_a, "bulk_pause", [theirs], {"resume_at": ""}, language="en")

    assert status_of(theirs) == S.ACTIVE
    assert "Items must be selected" in " ".join(messages_of(response))


# --- The API --------------------------------------------------------------------------------


def test_the_api_answers_each_id_done_or_refused_with_why(api_client_for, org_a, mixed):
    client = api_client_for(org_a)
    one, two = mixed["active"]
    ids = [one.pk, two.pk, mixed["canceled"].pk, mixed["theirs"].pk]

    response = client.post(BULK, {"action": "skip", "ids": ids}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "done": [{"id": one.pk}, {"id": two.pk}],
        "refused": sorted(
            [
                {
                    "id": mixed["canceled"].pk,
                    "reason": "Cannot skip the next cycle: the subscription is canceled.",
                },
                {"id": mixed["theirs"].pk, "reason": "Not found."},
            ],
            key=lambda row: row["id"],
        ),
    }
    assert not mixed["theirs"].events.exists()


def test_the_api_swaps_by_variant(api_client_for, org_a):
    old = VariantFactory(product__organization=org_a)
    new = VariantFactory(product__organization=org_a)
    subscription = active(org_a, items=[(old, 1)])

    response = api_client_for(org_a).post(
        BULK,
        {"action": "swap", "ids": [subscription.pk], "from_variant": old.pk, "to_variant": new.pk},
        format="json",
    )

    assert response.json() == {"done": [{"id": subscription.pk}], "refused": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "skip", "ids": list(range(1, 502))}, "ids"),
        ({"action": "skip", "ids": []}, "ids"),
        ({"action": "explode", "ids": [1]}, "action"),
        ({"action": "move-next-date", "ids": [1]}, "at"),
        ({"action": "swap", "ids": [1]}, "from_product"),
    ],
)
def test_the_api_refuses_bad_input_with_400(api_client_for, org_a, body, field):
    response = api_client_for(org_a).post(BULK, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


def test_the_api_refuses_another_organizations_product_in_a_swap(api_client_for, org_a, org_b):
    theirs = VariantFactory(product__organization=org_b)
    subscription = active(org_a)

    response = api_client_for(org_a).post(
        BULK,
        {"action": "swap", "ids": [subscription.pk], "from_variant": theirs.pk, "to_product": 1},
        format="json",
    )

    assert response.status_code == 400
    assert "from_variant" in response.json()["extra"]["fields"]


def test_a_read_only_key_may_not_run_a_bulk_action(org_a, mixed):
    from rest_framework.test import APIClient

    _row, key = api_key_for(org_a, scope=ApiKey.Scope.READ)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = client.post(BULK, {"action": "skip", "ids": [mixed["active"][0].pk]}, format="json")

    assert response.status_code == 403
    assert not mixed["active"][0].events.exists()
