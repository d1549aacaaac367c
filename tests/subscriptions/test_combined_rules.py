"""Money and dates when actions combine (issue 25): each rule of the README's table, lived.

Every test freezes its own instants: a monthly subscription created on 10 January
2027 at 09:00 Paris (cycle n starts on the 10th, n months later), paid by the
test gateway, renewed by the real renewal run.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import formats, timezone, translation

from core.actors import Actor, ActorKind
from core.errors import ConflictError
from crm.models import Membership
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    OrganizationFactory,
    ProductFactory,
    billing_settings,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 1, 10, 9, 0, tzinfo=PARIS)
STAFF = Actor(ActorKind.USER, label="staff")
S = Subscription.Status
LIST = "/admin/subscriptions/subscription/"


def at(month, day, hour=9, minute=0, year=2027):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def beat(instant):
    with time_machine.travel(instant, tick=False):
        report = renewals.run()
    assert report.errors == []
    return report


def act(instant, service, **kwargs):
    with time_machine.travel(instant, tick=False):
        return service(actor=STAFF, **kwargs)


@pytest.fixture
def organization(db):
    organization = OrganizationFactory(name="Purea Café", slug="purea", timezone="Europe/Paris")
    billing_settings(organization, gateway="test")
    return organization


@pytest.fixture
def product(organization):
    return ProductFactory(organization=organization, unit_price=Decimal("30.00"))


@pytest.fixture
def subscription(organization, product):
    """Active, cycle 0 (10 January to 10 February) paid."""
    customer = CustomerFactory(organization=organization, email="c@example.com")
    with time_machine.travel(START, tick=False):
        created = services.subscription_create(
            organization=organization, customer=customer, items=[{"product": product}], actor=STAFF
        )
    beat(START + timedelta(minutes=1))
    created.refresh_from_db()
    assert (created.status, created.current_cycle, created.next_cycle) == (S.ACTIVE, 0, 1)
    return created


def charged_cycles(subscription):
    return list(
        subscription.charges.filter(status=Charge.Status.PAID)
        .order_by("cycle")
        .values_list("cycle", flat=True)
    )


# --- 9. Skipping while paused ---------------------------------------------------------------


def test_a_skip_while_paused_skips_the_first_box_after_the_resume_never_one_in_the_pause(
    subscription,
):
    # Given a subscription paused on 20 January until 1 March (the 10 February cycle falls
    # in the pause; 10 March is the first after it)
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 1))

    # When staff skip "the next cycle"
    skipped = act(at(1, 21), services.subscription_skip, subscription=subscription)

    # Then the skip is of 10 March, not of 10 February inside the pause, and the next
    # charge shown is 10 April
    event = skipped.events.first()
    assert event.data["cycle"] == 2
    assert datetime.fromisoformat(event.data["cycle_date"]) == at(3, 10)
    assert skipped.skipped_cycles == [2]
    assert skipped.next_due() == (3, at(4, 10))

    # And when beat resumes it on 1 March and renews until May, then 10 February and
    # 10 March are never charged; 10 April and 10 May are
    for instant in (at(3, 1, 0, 3), at(3, 10, 9, 1), at(4, 10, 9, 1), at(5, 10, 9, 1)):
        beat(instant)
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert charged_cycles(subscription) == [0, 3, 4]


def test_a_skip_while_paused_with_no_resume_date_is_refused_and_changes_nothing(subscription):
    act(at(1, 20), services.subscription_pause, subscription=subscription)

    with pytest.raises(ConflictError, match="no resume date") as refused:
        act(at(1, 21), services.subscription_skip, subscription=subscription)

    assert refused.value.status == 409
    subscription.refresh_from_db()
    assert subscription.skipped_cycles == []
    assert subscription.events.filter(kind=SubscriptionEvent.Kind.SKIPPED).count() == 0


def test_the_cycle_on_the_resume_date_is_charged_even_when_beat_resumes_a_little_later(
    subscription,
):
    # Given a pause until the very instant of the 10 March cycle
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 10))
    subscription.refresh_from_db()
    assert subscription.next_due() == (2, at(3, 10))

    # When beat runs three minutes after it
    beat(at(3, 10, 9, 3))

    # Then the 10 March cycle is charged, as the next-cycles table promised
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert charged_cycles(subscription) == [0, 2]
    assert subscription.events.get(kind="resumed").data["missed_cycles"] == [1]


# --- 10. Changing the schedule while the next charge is under way ---------------------------


def test_no_schedule_change_under_a_pending_charge_and_the_cancellation_waits_for_the_paid_end(
    organization, subscription
):
    # Given the manual gateway: the 10 February charge waits for staff
    billing_settings(organization, gateway="manual")
    beat(at(2, 10, 9, 1))
    charge = subscription.charges.get(cycle=1)
    assert charge.status == Charge.Status.PENDING

    # When staff change the schedule to every week, then it is refused and nothing moves
    with pytest.raises(ConflictError, match="already being charged"):
        act(
            at(2, 11),
            services.subscription_change_schedule,
            subscription=subscription,
            billing_period="week",
            billing_interval=1,
        )
    subscription.refresh_from_db()
    assert (subscription.billing_period, subscription.next_charge_at) == ("month", at(2, 10))

    # And once it is paid and the subscription canceled at period end, it ends on 10 March
    act(at(2, 12), services.charge_mark_paid, charge=charge)
    act(
        at(2, 12),
        services.subscription_cancel,
        subscription=subscription,
        reason="Moving",
        at_period_end=True,
    )
    beat(at(3, 10, 8, 59))
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    beat(at(3, 10, 9, 1))
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELED
    assert subscription.ended_at == at(3, 10, 9, 1)
    assert charged_cycles(subscription) == [0, 1]


# --- 11. Items after a cancellation at period end; items while paused -----------------------


def test_items_cannot_change_once_canceled_at_period_end_and_a_carried_amount_is_told_at_the_end(
    subscription, product, staff_client
):
    # Given a change of items half-way through January (2 x 30.00 instead of 1)
    changed = act(
        at(1, 25),
        services.subscription_change_items,
        subscription=subscription,
        items=[{"product": product, "quantity": 2}],
    )
    owed = changed.adjustment
    assert owed > 0

    # When the subscription is canceled at period end, then a further change is refused
    act(
        at(1, 26),
        services.subscription_cancel,
        subscription=subscription,
        reason="Moving",
        at_period_end=True,
    )
    with pytest.raises(ConflictError, match="Withdraw the cancellation"):
        act(
            at(1, 27),
            services.subscription_change_items,
            subscription=subscription,
            items=[{"product": product, "quantity": 1}],
        )
    subscription.refresh_from_db()
    assert subscription.adjustment == owed

    # And at the end of the paid period the amount no charge carried is in the history
    beat(at(2, 10, 9, 1))
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELED
    ended = subscription.events.get(kind="canceled")
    assert Decimal(ended.data["unsettled_adjustment"]) == owed == subscription.adjustment
    # ...and on its timeline, for staff to settle
    client = staff_client(at(2, 11))
    with time_machine.travel(at(2, 11), tick=False):
        page = client.get(f"{LIST}{subscription.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr")
    with translation.override("fr"):
        owed_fr = formats.number_format(owed, 2, use_l10n=True, force_grouping=True)
    assert f"{owed_fr} encore dus, non facturés" in page.content.decode()


def test_changing_items_while_paused_in_a_paid_period_is_pro_rated_as_when_active(
    organization, subscription, product
):
    # Given a twin subscription, active, changed at the same instant
    twin_customer = CustomerFactory(organization=organization)
    with time_machine.travel(START, tick=False):
        twin = services.subscription_create(
            organization=organization,
            customer=twin_customer,
            items=[{"product": product}],
            actor=STAFF,
        )
    beat(START + timedelta(minutes=2))
    act(at(1, 20), services.subscription_pause, subscription=subscription)
    items = [{"product": product, "quantity": 3}]

    # When both change to three bags on 25 January
    paused = act(
        at(1, 25), services.subscription_change_items, subscription=subscription, items=items
    )
    active = act(at(1, 25), services.subscription_change_items, subscription=twin, items=items)

    # Then the paused one carries the same pro-rata as the active one
    assert paused.status == S.PAUSED
    assert paused.adjustment == active.adjustment > 0
    assert paused.events.first().data["proration"] == active.events.first().data["proration"]


# --- 12 and 4. What a paused subscription shows as its next charge -------------------------


@pytest.fixture
def staff_client(organization):
    """A staff member's browser, logged in at the instant it reads (sessions expire)."""
    from django.test import Client

    user = MembershipFactory(organization=organization, role=Membership.Role.STAFF).user

    def at_instant(instant):
        client = Client()
        with time_machine.travel(instant, tick=False):
            client.force_login(user)
        return client

    return at_instant


def _shown(staff_client, subscription, instant):
    """(list column, field on its page, the next-cycles table's dates), in English."""
    import re

    client = staff_client(instant)
    with time_machine.travel(instant, tick=False):
        listing = client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        page = client.get(f"{LIST}{subscription.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    row = re.search(rf"<tr>.*?/{subscription.pk}/change/.*?</tr>", listing, re.S).group(0)
    column = re.search(r'<td class="field-next_charge">([^<]*)</td>', row).group(1)
    html = page.content.decode()
    field = re.search(
        r'<div class="readonly">([^<]*)</div>',
        html[html.index("field-next_charge") :],
    ).group(1)
    dates = re.findall(r'<tr data-cycle="\d+"><td>\d+</td><td>([^<]+)</td>', html)
    return column, field, dates


def _written(instant):
    with translation.override("en"):
        return formats.date_format(timezone.localtime(instant, PARIS), "DATETIME_FORMAT")


def test_a_paused_subscription_shows_the_first_cycle_after_its_resume_everywhere(
    staff_client, subscription
):
    # Given a subscription paused until 1 March (10 February falls in the pause)
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 1))

    # When staff read the list and the page on 25 January
    column, field, dates = _shown(staff_client, subscription, at(1, 25))

    # Then the list, the field and the table all say 10 March
    assert column == field == dates[0] == _written(at(3, 10))


def test_a_paused_subscription_with_no_resume_date_previews_no_past_cycle(
    staff_client, subscription
):
    # Given a subscription paused with no resume date on 20 January
    act(at(1, 20), services.subscription_pause, subscription=subscription)

    # When staff read it on 15 April (10 February, March and April have passed)
    column, field, dates = _shown(staff_client, subscription, at(4, 15))

    # Then its next charge is not known, and the preview starts after today: 10 May
    assert column == field == "paused, no resume date"
    assert dates[0] == _written(at(5, 10))
    subscription.refresh_from_db()
    assert subscription.next_due() is None


def test_the_api_shows_a_paused_subscriptions_true_next_charge(api_client_for, subscription):
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 1))
    client = api_client_for(subscription.organization)

    with time_machine.travel(at(1, 25), tick=False):
        body = client.get(f"/api/v1/subscriptions/{subscription.pk}/").json()

    assert datetime.fromisoformat(body["next_due_at"]).astimezone(UTC) == at(3, 10)
    assert "skip" in body["available_actions"]
