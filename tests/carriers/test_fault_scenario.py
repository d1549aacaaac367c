"""The tracking fault-injection scenario: parcels' statuses delivered badly end as the carrier
last said.

N labelled parcels of dispatched boxes; each gets its carrier's statuses (announced, at the
sorting centre, driver on route, then delivered, returned to sender, undeliverable, or still
on its way), signed like Sendcloud's and posted to the real receiver with duplicates and
some parcels' statuses in reversed order, while a real worker applies them and, once each
(tests/faults.py): its private Redis restarts empty, the worker is killed with SIGKILL
mid-apply, its PostgreSQL connections are terminated. After the sweeper, nothing is left
in flight, every parcel and shipment is in its latest status by the carrier's time,
delivered ones at the carrier's delivery time, each status applied once, and exactly one
survey per delivered box is scheduled from that time.

Marked `scenario` like the WooCommerce one (tests/woocommerce/test_fault_scenario.py);
alone: `pytest -m scenario tests/carriers`. About 30 s.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from carriers import tracking
from carriers.models import CarrierDelivery, Parcel
from carriers.tasks import sweep_deliveries
from config.celery import worker_command
from fulfillment.models import Shipment
from satisfaction import services as satisfaction
from satisfaction.models import SatisfactionSurvey
from tests.carriers.conftest import carrier_account
from tests.carriers.test_tracking import CUTOFF, dispatched_boxes, payload, post
from tests.conftest import start_celery_worker, stop_celery_worker
from tests.factories import satisfaction_on
from tests.faults import BROKER_URL, deliver_under_faults, settle

pytestmark = pytest.mark.django_db(transaction=True)

PARCELS = 40
STUCK_SECONDS = 2  # the sweeper's window, short for the test
SURVEY_DELAY_DAYS = 3
#: What the shipment ends as, by the meaning of the parcel's latest status.
ENDS_AS = {
    tracking.INFO: Shipment.Status.CREATED,
    tracking.SHIPPED: Shipment.Status.SHIPPED,
    tracking.DELIVERED: Shipment.Status.DELIVERED,
    tracking.RETURNED: Shipment.Status.RETURNED,
    tracking.UNDELIVERABLE: Shipment.Status.LOST,
}


def timeline(n: int) -> list[tuple[str, int, object]]:
    """Parcel n's statuses as its carrier made them: (message, Sendcloud id, time)."""
    at = CUTOFF + timedelta(minutes=n)
    statuses = [("Announced", 1, at + timedelta(hours=1))]
    if n % 9 == 8:  # announced, never collected yet
        return statuses
    statuses.append(("At sorting centre", 7, at + timedelta(hours=20)))
    statuses.append(("Driver on route", 22, at + timedelta(hours=44)))
    kind = n % 9
    if kind == 0:
        statuses.append(("Returned to sender", 13, at + timedelta(days=5)))
    elif kind == 1:
        statuses.append(("Undeliverable", 80, at + timedelta(days=6)))
    elif kind == 2:
        pass  # still on its way
    else:
        statuses.append(("Delivered", 11, at + timedelta(hours=46, seconds=37 * n)))
    return statuses


def stream(parcels: list[Parcel], *, seed: int = 27, duplicates: float = 0.3) -> list[bytes]:
    """Every parcel's statuses as the network brings them: the parcels interleaved, one
    in three with its statuses in reversed order, and `duplicates` of them sent again
    a little later (the same body, as a platform retrying does)."""
    rng = random.Random(seed)
    queues = []
    for n, parcel in enumerate(parcels):
        bodies = [payload(parcel, message=m, status_id=i, at=at) for m, i, at in timeline(n)]
        queues.append(bodies[::-1] if n % 3 == 0 else bodies)
    sent: list[bytes] = []
    while any(queues):
        sent.append(rng.choice([q for q in queues if q]).pop(0))
    positions = [(float(index), body) for index, body in enumerate(sent)]
    positions += [
        (index + rng.uniform(0.5, 40), body)
        for index, body in enumerate(sent)
        if rng.random() < duplicates
    ]
    return [body for _position, body in sorted(positions, key=lambda p: p[0])]


def applying() -> bool:
    """Another connection (the worker's) holds a delivery locked: one is half applied."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.pid <> pg_backend_pid() "
            "AND l.relation = 'carriers_carrierdelivery'::regclass "
            "AND l.mode = 'RowShareLock')"  # SELECT ... FOR UPDATE (a receiver only inserts)
        )
        return cursor.fetchone()[0]


def in_flight() -> int:
    return CarrierDelivery.objects.filter(status=CarrierDelivery.Status.RECEIVED).count()


@pytest.mark.scenario
@pytest.mark.timeout(180)
def test_tracking_delivered_under_faults_ends_in_every_parcels_latest_status(
    private_redis, monkeypatch, settings, org_a
):
    settings.CARRIER_DELIVERY_STUCK_SECONDS = STUCK_SECONDS
    satisfaction_on(org_a, delay_days=SURVEY_DELAY_DAYS)
    account = carrier_account(org_a)
    parcels = dispatched_boxes(org_a, account, count=PARCELS)
    chaos = stream(parcels)
    assert len(chaos) > len(set(chaos))  # duplicates
    # Two pool processes: statuses of one parcel really race.
    monkeypatch.setattr(
        "tests.conftest.worker_command", functools.partial(worker_command, concurrency=2)
    )

    def send(body: bytes) -> str:
        response = post(Client(), account, body)
        assert response.status_code == 200, response.content
        return response.json()["message"]

    worker = start_celery_worker(BROKER_URL)
    try:
        started = time.monotonic()
        worker, faults = deliver_under_faults(
            chaos, send, worker=worker, busy=applying, directory=private_redis, sending=30
        )
        deliver_seconds = time.monotonic() - started
        left = settle(in_flight, sweep_deliveries, stale_seconds=STUCK_SECONDS + 1, timeout=90)
        settle_seconds = time.monotonic() - started - deliver_seconds
    finally:
        stop_celery_worker(worker)

    print(  # noqa: T201 (with -s)
        f"\ncarriers scenario: {len(chaos)} webhooks posted in {deliver_seconds:.1f}s, "
        f"settled {settle_seconds:.1f}s later; faults: {faults}"
    )
    assert left == 0
    assert faults["redis restarted"]
    assert faults["worker killed mid-task"]
    assert faults["connections terminated"]
    assert set(CarrierDelivery.objects.values_list("status", flat=True)) == {"processed"}

    # Each status stored and applied once: one history row per distinct body
    assert CarrierDelivery.objects.count() == len(set(chaos))
    moves = Counter(
        CarrierDelivery.objects.exclude(note__in=["older", "recorded", "not_moved"]).values_list(
            "parcel_id", "note"
        )
    )
    assert max(moves.values()) == 1, [move for move, count in moves.items() if count > 1]

    delivered = []
    for n, parcel in enumerate(parcels):
        message, _id, at = timeline(n)[-1]
        parcel.refresh_from_db()
        assert (parcel.carrier_status_message, parcel.carrier_status_at) == (message, at), n
        assert parcel.deliveries.count() == len(timeline(n)), n
        shipment = Shipment.objects.get(line_id=parcel.line_id)
        assert shipment.status == ENDS_AS[tracking.meaning_of(message)], (n, message)
        if shipment.status == Shipment.Status.DELIVERED:
            assert shipment.delivered_at == at, n
            delivered.append(shipment)
    assert len(delivered) > PARCELS // 2

    # One survey per delivered box, from the carrier's delivery time
    last = max(shipment.delivered_at for shipment in delivered)
    due = last + timedelta(days=SURVEY_DELAY_DAYS, minutes=1)
    assert satisfaction.surveys_schedule_for(organization=org_a, now=due) == len(delivered)
    assert satisfaction.surveys_schedule_for(organization=org_a, now=due) == 0
    surveys = {s.shipment_id: s for s in SatisfactionSurvey.objects.all()}
    assert surveys.keys() == {shipment.pk for shipment in delivered}
    for shipment in delivered:
        survey = surveys[shipment.pk]
        assert survey.delivered_at == shipment.delivered_at
        assert survey.send_at == shipment.delivered_at + timedelta(days=SURVEY_DELAY_DAYS)
