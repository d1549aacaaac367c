"""A subscription's delivery schedule as staff act on it (issue 25, item 14).

A monthly subscription created on 10 January 2027 at 09:00 Paris (cycle n starts on the
10th, n months later), paid by the test gateway and renewed by the real renewal run; the
organization's batches close on Wednesdays at 12:00 Paris (the default calendar).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from subscriptions import renewals, selectors, services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    BatchLineFactory,
    ChargeFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    open_batch,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 1, 10, 9, 0, tzinfo=PARIS)
STAFF = Actor(ActorKind.USER, label="staff")
S = Subscription.Status
Kind = SubscriptionEvent.Kind


def at(month, day, hour=9, minute=0, year=2027):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def beat(instant):
    with time_machine.travel(instant, tick=False):
        report = renewals.run()
    assert report.errors == []


def act(instant, service, **kwargs):
    with time_machine.travel(instant, tick=False):
        return service(actor=STAFF, **kwargs)


def rows(subscription, instant, count=8):
    subscription = Subscription.objects.select_related("organization").get(pk=subscription.pk)
    with time_machine.travel(instant, tick=False):
        return selectors.subscription_schedule(subscription=subscription, count=count)


def charged_cycles(subscription):
    return list(
        subscription.charges.filter(status=Charge.Status.PAID)
        .order_by("cycle")
        .values_list("cycle", flat=True)
    )


def stored(subscription):
    row = Subscription.objects.get(pk=subscription.pk)
    return model_to_dict(row) | {"updated_at": row.updated_at}, row.events.count()


@pytest.fixture
def organization(db):
    organization = OrganizationFactory(name="Purea Café", slug="purea", timezone="Europe/Paris")
    billing_settings(organization, gateway="test")
    return organization


@pytest.fixture
def subscription(organization):
    """Active, cycle 0 (10 January to 10 February) paid, 30.00 a cycle."""
    product = ProductFactory(organization=organization, unit_price=Decimal("30.00"))
    customer = CustomerFactory(organization=organization, email="c@example.com")
    with time_machine.travel(START, tick=False):
        created = services.subscription_create(
            organization=organization, customer=customer, items=[{"product": product}], actor=STAFF
        )
    beat(START + timedelta(minutes=1))
    created.refresh_from_db()
    assert (created.status, created.current_cycle, created.next_cycle) == (S.ACTIVE, 0, 1)
    return created


# --- The schedule ---------------------------------------------------------------------------


def test_the_schedule_lists_the_next_eight_cycles_with_their_batch_and_amount(subscription):
    # Given an open batch closing on Wednesday 10 February at 12:00 (it covers the week before)
    batch = open_batch(subscription.organization, at(2, 10, 12))

    schedule = rows(subscription, at(1, 20))

    assert [(r.cycle, r.starts_at) for r in schedule] == [(n, at(1 + n, 10)) for n in range(1, 9)]
    assert {r.state for r in schedule} == {"due"}
    assert {r.amount for r in schedule} == {Decimal("30.00")}
    # 10 February 09:00 is before that batch's cut-off: it ships in it
    assert (schedule[0].batch.id, schedule[0].batch.cycle_date) == (batch.pk, date(2027, 2, 10))
    # 10 March (a Wednesday) at 09:00 is before that day's 12:00 cut-off; 10 April (a
    # Saturday) goes to the Wednesday after it. Neither batch exists yet.
    assert (schedule[1].batch.id, schedule[1].batch.status) == (None, "planned")
    assert schedule[1].batch.cycle_date == date(2027, 3, 10)
    assert schedule[2].batch.cycle_date == date(2027, 4, 14)
    assert all(r.can_skip and not r.can_unskip for r in schedule)


def test_the_schedule_carries_a_credit_over_the_cycles_it_covers(subscription):
    act(at(1, 20), services.subscription_credit, subscription=subscription, amount="45.00")

    amounts = [r.amount for r in rows(subscription, at(1, 20), count=3)]

    assert amounts == [Decimal("0.00"), Decimal("15.00"), Decimal("30.00")]


def test_the_schedule_reads_the_same_number_of_queries_for_3_or_8_cycles_and_1_or_50_subscriptions(
    subscription,
):
    def queries(count):
        row = Subscription.objects.select_related("organization").get(pk=subscription.pk)
        with time_machine.travel(at(1, 20), tick=False), CaptureQueriesContext(connection) as ctx:
            result = selectors.subscription_schedule(subscription=row, count=count)
        assert len(result) == count
        return len(ctx.captured_queries)

    open_batch(subscription.organization, at(2, 10, 12))
    act(at(1, 20), services.subscription_skip_cycle, subscription=subscription, cycle=3)
    few = queries(3)
    for _ in range(49):
        SubscriptionFactory(customer__organization=subscription.organization, status=S.ACTIVE)
    assert queries(8) == few
    assert few <= 6


# --- Skip a given cycle ---------------------------------------------------------------------


def test_skipping_a_later_cycle_keeps_the_next_charge_and_that_cycle_is_never_charged(
    subscription,
):
    # When staff skip the 10 April cycle (cycle 3) on 20 January
    skipped = act(at(1, 20), services.subscription_skip_cycle, subscription=subscription, cycle=3)

    # Then the next charge is still 10 February, and the schedule says April is skipped
    assert (skipped.next_cycle, skipped.next_charge_at) == (1, at(2, 10))
    assert skipped.skipped_cycles == [3]
    states = {r.cycle: r.state for r in rows(subscription, at(1, 20))}
    assert (states[2], states[3], states[4]) == ("due", "skipped", "due")
    event = skipped.events.first()
    assert (event.kind, event.data["cycle"]) == (Kind.SKIPPED, 3)

    # And the renewal run charges February, March and May, never April
    for month in (2, 3, 4, 5):
        beat(at(month, 10, 9, 1))
    assert charged_cycles(subscription) == [0, 1, 2, 4]


def test_a_cycle_is_skipped_by_the_local_date_it_starts_on(subscription):
    skipped = act(
        at(1, 20), services.subscription_skip_cycle, subscription=subscription, on=date(2027, 3, 10)
    )

    assert skipped.skipped_cycles == [2]


def test_skipping_the_next_cycle_moves_the_next_charge_and_unskipping_brings_it_back(
    subscription,
):
    skipped = act(at(1, 20), services.subscription_skip_cycle, subscription=subscription, cycle=1)
    assert (skipped.next_cycle, skipped.next_charge_at) == (2, at(3, 10))
    first = rows(subscription, at(1, 20))[0]
    assert (first.cycle, first.state, first.can_unskip, first.amount) == (1, "skipped", True, None)

    back = act(at(1, 21), services.subscription_unskip_cycle, subscription=subscription, cycle=1)

    assert (back.next_cycle, back.next_charge_at, back.skipped_cycles) == (1, at(2, 10), [])
    assert back.events.first().kind == Kind.UNSKIPPED
    beat(at(2, 10, 9, 1))
    assert charged_cycles(subscription) == [0, 1]


def test_paused_a_cycle_after_the_resume_date_is_skipped_and_brought_back(subscription):
    # Given a pause from 20 January to 1 March (10 February falls inside it)
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 1))

    # A cycle inside the pause is refused
    with pytest.raises(ConflictError, match="inside the pause"):
        act(at(1, 21), services.subscription_skip_cycle, subscription=subscription, cycle=1)

    # 10 March, the first after it, is skipped: the next charge shown is 10 April
    skipped = act(at(1, 21), services.subscription_skip_cycle, subscription=subscription, cycle=2)
    assert skipped.next_due() == (3, at(4, 10))
    # and brought back: 10 March again
    back = act(at(1, 22), services.subscription_unskip_cycle, subscription=subscription, cycle=2)
    assert back.next_due() == (2, at(3, 10))

    for instant in (at(3, 1, 0, 3), at(3, 10, 9, 1)):
        beat(instant)
    assert charged_cycles(subscription) == [0, 2]


def _refused(subscription, instant, service, match, status=409, **kwargs):
    before = stored(subscription)
    with pytest.raises(ApplicationError, match=match) as refused:
        act(instant, service, subscription=subscription, **kwargs)
    assert refused.value.status == status
    assert stored(subscription) == before
    return refused.value


def test_a_past_cycle_is_refused_and_nothing_changes(subscription):
    _refused(subscription, at(1, 20), services.subscription_skip_cycle, "has passed", cycle=0)


def test_a_cycle_already_charged_is_refused(subscription):
    ChargeFactory(subscription=subscription, cycle=2, status=Charge.Status.SCHEDULED)

    error = _refused(
        subscription, at(1, 20), services.subscription_skip_cycle, "already charged", cycle=2
    )
    assert error.extra == {"action": "skip_cycle", "cycle": 2}
    assert rows(subscription, at(1, 20))[1].state == "charging"


def test_a_cycle_held_by_a_locked_batch_is_refused(subscription):
    batch = open_batch(subscription.organization, at(2, 10, 12), status="locked")
    BatchLineFactory(batch=batch, subscription=subscription, cycle=1)  # awaiting payment

    _refused(subscription, at(1, 20), services.subscription_skip_cycle, "locked batch", cycle=1)
    assert rows(subscription, at(1, 20))[0].locked is True


def test_paused_with_no_resume_date_a_skip_is_refused(subscription):
    act(at(1, 20), services.subscription_pause, subscription=subscription)

    _refused(subscription, at(1, 21), services.subscription_skip_cycle, "no resume date", cycle=3)
    assert {r.state for r in rows(subscription, at(1, 21))} == {"paused"}


def test_bad_cycles_and_dates_are_refused(subscription):
    skip = services.subscription_skip_cycle
    _refused(subscription, at(1, 20), skip, "Invalid input", status=400)
    _refused(
        subscription, at(1, 20), skip, "Invalid input", status=400, cycle=1, on=date(2027, 3, 10)
    )
    _refused(subscription, at(1, 20), skip, "Invalid input", status=400, cycle=-1)
    _refused(subscription, at(1, 20), skip, "Only the next", cycle=10**12)
    _refused(subscription, at(1, 20), skip, "No cycle", on=date(2027, 3, 11))
    _refused(subscription, at(1, 20), services.subscription_unskip_cycle, "not skipped", cycle=2)
    act(at(1, 20), skip, subscription=subscription, cycle=2)
    _refused(subscription, at(1, 20), skip, "already skipped", cycle=2)


def test_with_a_cancellation_at_period_end_no_cycle_is_skipped(subscription):
    act(
        at(1, 20),
        services.subscription_cancel,
        subscription=subscription,
        reason="Moving",
        at_period_end=True,
    )

    _refused(subscription, at(1, 21), services.subscription_skip_cycle, "paid period", cycle=2)
    assert rows(subscription, at(1, 21)) == []


# --- Move the next date ---------------------------------------------------------------------


def test_moving_the_next_date_later_moves_the_cycles_after_it(subscription):
    moved = act(
        at(1, 20), services.subscription_move_next_date, subscription=subscription, at=at(2, 20)
    )

    assert (moved.next_cycle, moved.next_charge_at) == (1, at(2, 20))
    assert [r.starts_at for r in rows(subscription, at(1, 20), count=3)] == [
        at(2, 20),
        at(3, 20),
        at(4, 20),
    ]
    assert moved.events.first().kind == Kind.NEXT_DATE_MOVED
    beat(at(2, 10, 9, 1))
    assert charged_cycles(subscription) == [0]
    beat(at(2, 20, 9, 1))
    charge = subscription.charges.get(cycle=1)
    assert (charge.status, charge.period_start, charge.period_end) == (
        Charge.Status.PAID,
        at(2, 20),
        at(3, 20),
    )

    # And once moved later, it may come back earlier, down to the paid period's end
    move = services.subscription_move_next_date
    act(at(2, 21), move, subscription=subscription, at=at(3, 25))
    _refused(subscription, at(2, 21), move, "end of the paid period", at=at(3, 19))
    again = act(at(2, 21), move, subscription=subscription, at=at(3, 20))
    assert again.next_charge_at == at(3, 20)


def test_moving_the_next_date_is_refused_outside_its_rules(subscription):
    move = services.subscription_move_next_date
    _refused(subscription, at(1, 20), move, "in the future", at=at(1, 19))
    _refused(subscription, at(1, 20), move, "end of the paid period", at=at(2, 5))
    _refused(subscription, at(1, 20), move, "a year ahead", at=at(2, 5, year=2028))
    _refused(subscription, at(1, 20), move, "already the next charge date", at=at(2, 10))
    _refused(subscription, at(1, 20), move, "Invalid input", status=400, at=date(2027, 2, 20))


def test_moving_the_next_date_is_refused_while_its_charge_is_under_way(subscription):
    ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.PENDING)

    _refused(
        subscription,
        at(2, 10, 10),
        services.subscription_move_next_date,
        "already being charged",
        at=at(2, 20),
    )


def test_a_paused_subscription_s_next_date_is_its_resume_date_s(subscription):
    act(at(1, 20), services.subscription_pause, subscription=subscription, resume_at=at(3, 1))

    _refused(
        subscription,
        at(1, 21),
        services.subscription_move_next_date,
        "the subscription is paused",
        at=at(3, 20),
    )


# --- The API --------------------------------------------------------------------------------


def test_the_api_shows_the_schedule_and_skips_a_date_then_brings_it_back(
    subscription, api_client_for
):
    client = api_client_for(subscription.organization)
    url = f"/api/v1/subscriptions/{subscription.pk}/"

    with time_machine.travel(at(1, 20), tick=False):
        skipped = client.post(url + "skip-cycle/", {"date": "2027-04-10"}, format="json")
        schedule = client.get(url + "schedule/").json()
        back = client.post(url + "unskip-cycle/", {"cycle": 3}, format="json")

    assert skipped.status_code == 200, skipped.json()
    assert skipped.json()["skipped_cycles"] == [3]
    assert "unskip-cycle" in skipped.json()["available_actions"]
    assert len(schedule) == 8
    april = schedule[2]
    assert (april["cycle"], april["state"], april["amount"], april["can_unskip"]) == (
        3,
        "skipped",
        None,
        True,
    )
    assert april["batch"]["cycle_date"] == "2027-04-14"
    assert schedule[0]["amount"] == "30.00"
    assert back.status_code == 200
    assert back.json()["skipped_cycles"] == []


def test_the_api_refuses_a_past_cycle_in_french_and_changes_nothing(subscription, api_client_for):
    client = api_client_for(subscription.organization)
    before = stored(subscription)

    with time_machine.travel(at(1, 20), tick=False):
        response = client.post(
            f"/api/v1/subscriptions/{subscription.pk}/skip-cycle/",
            {"cycle": 0},
            format="json",
            HTTP_ACCEPT_LANGUAGE="fr",
        )

    assert response.status_code == 409
    assert response.json()["message"].startswith("Le cycle du 10/01/2027")
    assert stored(subscription) == before


def test_the_api_moves_the_next_date(subscription, api_client_for):
    client = api_client_for(subscription.organization)

    with time_machine.travel(at(1, 20), tick=False):
        response = client.post(
            f"/api/v1/subscriptions/{subscription.pk}/move-next-date/",
            {"at": at(2, 17).isoformat(), "reason": "Customer away"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    assert response.json()["next_charge_at"] == "2027-02-17T08:00:00Z"


# --- The subscription's page ----------------------------------------------------------------


def _staff_client(organization, role="staff"):
    from django.test import Client

    from tests.factories import MembershipFactory

    user = MembershipFactory(organization=organization, role=role).user
    client = Client(enforce_csrf_checks=True)
    with time_machine.travel(at(1, 20), tick=False):
        client.force_login(user)
    return client


def _page(client, subscription):
    with time_machine.travel(at(1, 20), tick=False):
        response = client.get(
            f"/admin/subscriptions/subscription/{subscription.pk}/change/",
            HTTP_ACCEPT_LANGUAGE="fr",
        )
    assert response.status_code == 200
    return response.content.decode()


def _post(client, path, data, page):
    import re

    token = re.search(
        r'<form id="subscription-schedule" method="post">'
        r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"',
        page,
    ).group(1)
    with time_machine.travel(at(1, 20, 10), tick=False):
        return client.post(
            path, {**data, "csrfmiddlewaretoken": token}, HTTP_ACCEPT_LANGUAGE="fr", follow=True
        )


def test_staff_skip_and_bring_back_a_cycle_from_the_page_in_french(subscription):
    import re

    client = _staff_client(subscription.organization)
    page = _page(client, subscription)
    # The table: eight cycles, each with its batch and a Skip button (in French)
    assert len(re.findall(r'<tr data-cycle="\d+">', page)) == 8
    assert "lot du 14 avril 2027 (pas encore ouvert)" in page
    buttons = re.findall(r'formaction="([^"]+)" name="cycle" value="(\d+)">Sauter<', page)
    assert len(buttons) == 8
    skip_url = {cycle: url for url, cycle in buttons}["3"]

    # When staff press Skip on the 10 April row
    response = _post(client, skip_url, {"cycle": "3"}, page)

    # Then the cycle is skipped, said in French, and the row offers to bring it back
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said == ["Le cycle du 10 avril 2027 09:00 est sauté : ni facturé ni expédié."]
    subscription.refresh_from_db()
    assert (subscription.skipped_cycles, subscription.next_cycle) == ([3], 1)
    page = _page(client, subscription)
    row = re.search(r'<tr data-cycle="3">.*?</tr>', page).group(0)
    assert "sauté" in row
    assert ">Rétablir<" in row
    unskip_url = re.search(r'formaction="([^"]+)" name="cycle" value="3"', row).group(1)

    response = _post(client, unskip_url, {"cycle": "3"}, page)
    subscription.refresh_from_db()
    assert subscription.skipped_cycles == []
    assert [str(m) for m in response.context["messages"]] == [
        "Le cycle du 10 avril 2027 09:00 est de nouveau facturé et expédié."
    ]


def test_a_refused_skip_from_the_page_is_said_in_french_and_changes_nothing(subscription):
    client = _staff_client(subscription.organization)
    page = _page(client, subscription)
    url = f"/admin/subscriptions/subscription/{subscription.pk}/schedule/skip/"
    before = stored(subscription)

    response = _post(client, url, {"cycle": "0"}, page)

    assert [str(m) for m in response.context["messages"]] == [
        "Le cycle du 10/01/2027 09:00 est passé : il ne peut plus être modifié."
    ]
    assert stored(subscription) == before


def test_staff_move_the_next_date_from_the_page(subscription):
    client = _staff_client(subscription.organization)
    page = _page(client, subscription)
    assert 'name="at" id="id_schedule_at" form="subscription-schedule"' in page
    url = f"/admin/subscriptions/subscription/{subscription.pk}/schedule/move/"

    response = _post(client, url, {"at": "2027-02-17T09:00"}, page)

    subscription.refresh_from_db()
    assert subscription.next_charge_at == at(2, 17)
    assert [str(m) for m in response.context["messages"]] == [
        "La prochaine échéance est déplacée au 17 février 2027 09:00."
    ]


def test_the_schedule_buttons_need_a_post_with_its_token_and_the_right_to_change(
    subscription, org_b
):
    from django.test import Client

    from tests.factories import MembershipFactory

    url = f"/admin/subscriptions/subscription/{subscription.pk}/schedule/skip/"
    before = stored(subscription)
    staff = _staff_client(subscription.organization)
    viewer = _staff_client(subscription.organization, role="viewer")
    stranger = Client()
    with time_machine.travel(at(1, 20), tick=False):
        stranger.force_login(MembershipFactory(organization=org_b, role="admin").user)
        assert staff.get(url).status_code == 405
        assert staff.post(url, {"cycle": "3"}).status_code == 403  # no CSRF token
        assert ">Sauter<" not in _page(viewer, subscription)
        assert viewer.post(url, {"cycle": "3"}).status_code == 403
        assert stranger.post(url, {"cycle": "3"}).status_code in (302, 404)
    assert stored(subscription) == before


def test_a_skip_made_before_the_next_date_moved_belongs_to_the_old_schedule(subscription):
    # Given the next cycle skipped (the next charge is 10 March), then moved to 20 March
    act(at(1, 20), services.subscription_skip_cycle, subscription=subscription, cycle=1)
    act(at(1, 20), services.subscription_move_next_date, subscription=subscription, at=at(3, 20))

    # Then 10 February's skip cannot be brought back: its date was the old schedule's
    _refused(
        subscription, at(1, 21), services.subscription_unskip_cycle, "before its last", cycle=1
    )
    assert [r.starts_at for r in rows(subscription, at(1, 21), count=2)] == [at(3, 20), at(4, 20)]
