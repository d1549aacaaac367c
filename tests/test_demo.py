"""`load_demo`: subscriptions in every status, built through the services, and idempotent."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Q
from django.utils import timezone

from crm.models import Customer, Organization, Product
from dashboard.demo import subscriptions as subscriptions_demo
from fulfillment.models import Batch, BatchLine
from preferences.models import PreferenceChange
from preferences.selectors import preferences_at
from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem
from subscriptions.tasks import run_renewals
from tests.factories import OrganizationFactory
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db

S = Subscription.Status


PARIS = ZoneInfo("Europe/Paris")


def _snapshot():
    return (
        Customer.objects.count(),
        sorted(Subscription.objects.values_list("pk", "status")),
        Charge.objects.count(),
        SubscriptionEvent.objects.count(),
    )


def test_load_demo_builds_subscriptions_in_every_status_and_runs_twice():
    output = load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    tea = Organization.objects.get(slug="maison-du-the")
    subscriptions = Subscription.objects.filter(organization__in=[purea, tea])

    assert set(subscriptions.values_list("status", flat=True)) == set(S.values)
    assert 12 <= subscriptions.count() <= 30
    assert set(subscriptions.values_list("billing_period", flat=True)) >= {"week", "month"}
    assert Subscription.objects.filter(organization=tea).exists()
    assert purea.billing_settings.gateway == "test"
    assert tea.billing_settings.gateway == "manual"
    # History: past cycles were charged, one charge per cycle, with their events.
    assert Charge.objects.filter(organization=purea, status=Charge.Status.PAID).count() >= 20
    assert Charge.objects.filter(organization=tea, status=Charge.Status.PAID).exists()
    assert Charge.objects.filter(organization=tea, status=Charge.Status.PENDING).exists()
    assert Charge.objects.filter(status=Charge.Status.FAILED).exists()
    for subscription in subscriptions:
        assert subscription.events.filter(kind=SubscriptionEvent.Kind.CREATED).count() == 1
    past_due = subscriptions.get(status=S.PAST_DUE, customer__email__contains="+decline@")
    assert past_due.charges.get().status == Charge.Status.FAILED
    assert subscriptions.filter(status=S.PAUSED, resume_at__isnull=False).exists()
    assert subscriptions.filter(status=S.ACTIVE, cancel_at_period_end=True).exists()
    assert subscriptions.filter(status=S.ACTIVE).exclude(skipped_cycles=[]).exists()
    expired = subscriptions.get(status=S.EXPIRED)
    assert expired.charges.filter(status=Charge.Status.PAID).count() == 3
    summary = next(line for line in output.splitlines() if line.startswith("Demo subscriptions"))
    native = subscriptions.filter(source=Subscription.Source.NATIVE).count()
    assert f"({native} new): {native} in all" in summary

    before = _snapshot()
    second = load_demo()

    assert _snapshot() == before
    assert "(0 new)" in second


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2027, 1, 31, 6, 30, tzinfo=PARIS),  # before the 09:00 cycles, at a month's end
        datetime(2027, 3, 28, 12, 0, tzinfo=PARIS),  # the day the clocks go forward
        datetime(2027, 10, 31, 23, 59, tzinfo=PARIS),  # the day they go back, before midnight
    ],
    ids=["month-end-early", "dst-forward", "dst-back"],
)
def test_load_demo_works_whenever_it_runs(moment):
    with time_machine.travel(moment, tick=False):
        load_demo()

    statuses = set(Subscription.objects.values_list("status", flat=True))
    assert statuses == set(S.values)


def _summary_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Demo subscriptions"))


def test_the_printed_summary_stays_true_when_the_beat_first_runs():
    # Given the demo just loaded (at the session's instant: `make calendar` moves it)
    output = load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    tea = Organization.objects.get(slug="maison-du-the")
    printed = _summary_line(output)

    # When the beat's renewal run comes, at the instant the summary was printed
    report = run_renewals(now=timezone.now().isoformat())

    # Then it finds nothing due: every cycle and dunning retry before now was replayed
    assert report == dict.fromkeys(report, 0), report
    counts = subscriptions_demo.by_status(purea, tea)
    recount = subscriptions_demo.summary({"created": 0, "by_status": counts})
    assert recount.split(": ", 1)[1] == printed.split(": ", 1)[1]
    assert counts[S.PAST_DUE] == 2
    # The card declined always was retried on its schedule; the next retry is to come.
    nathan = Subscription.objects.get(customer__email="nathan.moreau+decline@example.fr")
    declined = nathan.charges.get()
    assert declined.attempts == 2
    assert declined.next_retry_at > timezone.now()
    # Declined once, within the hour: past due until the retry a day after the failure.
    arthur = Subscription.objects.get(customer__email="arthur.fournier+decline-1@example.fr")
    failed = arthur.charges.get(status=Charge.Status.FAILED)
    assert arthur.status == S.PAST_DUE
    assert timezone.now() - timedelta(hours=2) < failed.first_failed_at < timezone.now()
    assert failed.next_retry_at == failed.first_failed_at + timedelta(days=1)


def test_declined_once_is_paid_by_the_retry_a_day_later():
    load_demo()
    arthur = Subscription.objects.get(customer__email="arthur.fournier+decline-1@example.fr")
    retry_at = arthur.charges.get(status=Charge.Status.FAILED).next_retry_at

    report = run_renewals(now=retry_at.isoformat())

    assert report["paid"] >= 1
    arthur.refresh_from_db()
    assert arthur.status == S.ACTIVE
    assert not arthur.charges.filter(status=Charge.Status.FAILED).exists()


def test_pureas_coffees_are_sold_in_250_g_and_1_kg_bags():
    load_demo()
    purea = Organization.objects.get(slug="purea-cafe")

    coffees = {
        p.sku: [(v.sku, v.label, v.net_weight_grams, v.active) for v in p.variants.all()]
        for p in Product.objects.filter(organization=purea).prefetch_related("variants")
    }

    assert coffees["PUR-ETH"] == [
        ("PUR-ETH-250", "250 g", 250, True),
        ("PUR-ETH-1KG", "1 kg", 1000, True),
    ]
    assert set(coffees) == {"PUR-ETH", "PUR-COL", "PUR-BRA", "PUR-DEC", "PUR-ESP", "PUR-DIS-250"}
    assert all(len(variants) == 2 for sku, variants in coffees.items() if sku != "PUR-DIS-250")
    assert coffees["PUR-DIS-250"] == []  # the discovery box stays a simple product


def test_a_demo_loaded_before_the_variants_keeps_its_products():
    # Given the demo as it was loaded before: one product per bag size
    purea = OrganizationFactory(slug="purea-cafe", name="Purea Café")
    old = Product.objects.create(
        organization=purea, sku="PUR-ETH-250", name="Éthiopie Yirgacheffe 250 g", unit_price=1
    )

    load_demo()

    old.refresh_from_db()
    assert (old.sku, old.name) == ("PUR-ETH", "Éthiopie Yirgacheffe")
    assert old.variants.filter(sku="PUR-ETH-250").exists()
    assert not Product.objects.filter(sku="PUR-ETH-250").exists()


def test_the_native_demo_subscriptions_name_their_variants():
    load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    items = SubscriptionItem.objects.filter(
        organization=purea, subscription__source=Subscription.Source.NATIVE
    ).select_related("product", "variant")

    assert all(i.variant is not None for i in items if i.product.sku != "PUR-DIS-250")
    two_sizes = Subscription.objects.get(customer__email="maxime.garcia@example.fr")
    assert sorted((i.variant.sku, i.quantity) for i in two_sizes.items.all()) == [
        ("PUR-ESP-1KG", 2),
        ("PUR-ESP-250", 1),
    ]


def stamped_at_load(now) -> list[tuple]:
    """The demo's past events, payments and preference changes dated within a minute of
    `now`, the load.

    Only what happens at the load may be: a sign-up starting now or later, and its
    first charge (declined, or waiting for the transfer).
    """
    recent = {"gte": now - timedelta(minutes=1)}
    started_before = {"subscription__started_at__lt": now - timedelta(minutes=1)}
    events = SubscriptionEvent.objects.filter(created_at__gte=recent["gte"], **started_before)
    charges = Charge.objects.filter(**started_before).filter(
        Q(created_at__gte=recent["gte"]) | Q(paid_at__gte=recent["gte"])
    )
    changes = PreferenceChange.objects.filter(changed_at__gte=recent["gte"], **started_before)
    return [
        *events.values_list("subscription__customer__email", "kind", "created_at"),
        *charges.values_list("subscription__customer__email", "cycle", "created_at"),
        *changes.values_list("subscription__customer__email", "source", "changed_at"),
    ]


def assert_story_order(subscriptions) -> None:
    """Each subscription's events in the order they were recorded, its charges too."""
    for subscription in subscriptions:
        events = list(subscription.events.order_by("pk").values_list("created_at", "kind"))
        assert [at for at, _kind in events] == sorted(at for at, _kind in events), (
            subscription.customer.email,
            events,
        )
        assert events[0][0] == subscription.created_at
        charges = list(subscription.charges.order_by("pk").values_list("created_at", "paid_at"))
        assert all(paid is None or paid >= created for created, paid in charges)
        assert [c for c, _p in charges] == sorted(c for c, _p in charges)


def test_the_demos_past_is_dated_when_it_happened():
    # Given the demo loaded on a Thursday morning (July to October's cycles among its past)
    now = datetime(2027, 1, 14, 8, 0, tzinfo=PARIS)
    with time_machine.travel(now, tick=False):
        load_demo()

    # Then nothing of its past reads as written at the load
    stamped = stamped_at_load(now)
    assert stamped == [], "\n".join(map(str, stamped))
    native = Subscription.objects.filter(source=Subscription.Source.NATIVE)
    assert_story_order(native.select_related("customer"))
    # Each renewal was charged and paid on its cycle's date, paused and canceled when it was.
    camille = native.get(customer__email="camille.martin@example.fr")
    paid = list(camille.charges.order_by("cycle").values_list("paid_at", "period_start"))
    assert len(paid) >= 5
    assert all(paid_at == start for paid_at, start in paid)
    assert camille.created_at == camille.started_at == paid[0][0]
    louis = native.get(customer__email="louis.richard@example.fr")
    assert now - timedelta(days=3) < louis.canceled_at < now - timedelta(hours=1)
    assert louis.events.order_by("-pk").first().created_at == louis.canceled_at
    olivia = native.get(customer__email="olivia.smith@example.co.uk")
    assert olivia.ended_at < now - timedelta(weeks=1)
    expired = native.get(status=Subscription.Status.EXPIRED)
    assert expired.ended_at == expired.ends_at
    # Past batches opened before their cut-off, their boxes packed between it and dispatch.
    for batch in Batch.objects.exclude(status=Batch.Status.OPEN):
        assert batch.created_at <= batch.cutoff_at
        for prepared_at in batch.lines.exclude(prepared_at=None).values_list(
            "prepared_at", flat=True
        ):
            assert batch.cutoff_at < prepared_at < (batch.dispatched_at or now)
    # The transfers staff marked paid arrived the day after each charge.
    alice = native.get(customer__email="alice.garnier@example.fr")
    for charge in alice.charges.filter(status=Charge.Status.PAID):
        assert charge.paid_at - charge.created_at == timedelta(days=1)


def test_the_demos_past_boxes_carry_the_preferences_in_force_at_their_cutoff():
    # Given the demo loaded on the first of a month
    now = datetime(2027, 2, 1, 9, 30, tzinfo=PARIS)
    with time_machine.travel(now, tick=False):
        load_demo()
    purea = Organization.objects.get(slug="purea-cafe")

    # Then the subscribers wrote their preferences when they signed up, and since
    # (those signing up today, today)
    changes = PreferenceChange.objects.filter(
        organization=purea, source="admin", subscription__created_at__lt=now
    )
    assert changes.count() >= 10
    for change in changes.select_related("subscription"):
        assert change.subscription.created_at < change.changed_at < now - timedelta(days=6)
        # Each counted for the next cut-off after it, within a week.
        assert change.changed_at < change.effective_cutoff_at
        assert change.effective_cutoff_at - change.changed_at <= timedelta(days=7)
    # And every past box carries what was in force at its batch's cut-off
    lucas = Subscription.objects.get(customer__email="lucas.bernard@example.fr")
    boxes = BatchLine.objects.filter(subscription=lucas).exclude(batch__status="open")
    assert boxes.count() >= 8  # a box every week
    assert {(b.preferences["grind"], b.preferences["roast"]) for b in boxes} == {
        ("espresso", "dark")
    }
    past = BatchLine.objects.filter(organization=purea, kind=BatchLine.Kind.CYCLE).exclude(
        batch__status="open"
    )
    for line in past.select_related("batch", "subscription"):
        assert line.preferences == preferences_at(
            subscription=line.subscription, at=line.batch.cutoff_at
        )
    assert past.exclude(preferences__roast=None).count() >= 10
