"""Tracking: Sendcloud's signed status webhooks stored, applied by the worker's code path,
out-of-order safe, moving the shipment (delivered at the carrier's time, which starts the
survey delay and the return window); and the periodic pull of parcels never heard of."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse

from carriers import tracking
from carriers.models import CarrierDelivery, Parcel
from core.actors import Actor
from core.errors import ApplicationError
from crm.models import Membership
from fulfillment import services as fulfillment
from fulfillment.models import Shipment
from returns import services as returns
from satisfaction import services as satisfaction
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import Subscription
from tests.carriers.conftest import carrier_account, prepared_boxes
from tests.factories import (
    AddressFactory,
    SubscriptionFactory,
    member,
    open_batch,
    opened_case,
    satisfaction_on,
)

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parent / "fixtures" / "parcel_status_changed.json"
SECRET = "sk-test"
CUTOFF = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 11, 9, 30, tzinfo=UTC)  # at the sorting centre
T2 = datetime(2026, 11, 12, 14, 5, tzinfo=UTC)  # delivered


def dispatched_boxes(organization, account, count=1):
    """`count` paid boxes locked, prepared, dispatched (shipments "created"), each with its
    labelled parcel (platform ids 9000+n). Returns the parcels."""
    actor = Actor.system("warehouse")
    batch = open_batch(organization, CUTOFF)
    subscriptions = [
        SubscriptionFactory(
            customer__organization=organization,
            status=Subscription.Status.ACTIVE,
            billing_period="week",
            billing_anchor=CUTOFF - timedelta(days=1),
            shipping_address=None,
        )
        for _ in range(count)
    ]
    for subscription in subscriptions:
        address = AddressFactory(customer=subscription.customer)
        Subscription.objects.filter(pk=subscription.pk).update(shipping_address=address)
    fulfillment.batch_lock(batch=batch, actor=actor, now=CUTOFF + timedelta(minutes=1))
    for line in batch.lines.all():
        fulfillment.line_prepare(line=line, actor=actor)
    fulfillment.batch_dispatch(batch=batch, actor=actor, carrier="Colissimo", now=CUTOFF)
    parcels = []
    for n, shipment in enumerate(batch.shipments.order_by("pk")):
        parcels.append(
            Parcel.objects.create(
                organization=organization,
                account=account,
                batch=batch,
                line_id=shipment.line_id,
                reference=f"ref-{n}",
                state=Parcel.State.LABELLED,
                platform_parcel_id=str(9000 + n),
                tracking_number=f"3SYZXG{9000 + n}",
                labelled_at=CUTOFF,
            )
        )
    return parcels


def payload(parcel, *, message, status_id=0, at=None, **parcel_fields) -> bytes:
    """The verbatim sample with its ids adapted to `parcel` (through the JSON)."""
    data = json.loads(SAMPLE.read_bytes())
    data = copy.deepcopy(data)
    data["parcel"]["id"] = int(parcel.platform_parcel_id) if parcel else 1
    data["parcel"]["order_number"] = parcel.code if parcel else "ORD12334"
    data["parcel"]["tracking_number"] = parcel.tracking_number if parcel else "X"
    data["parcel"]["status"] = {"id": status_id, "message": message}
    data["parcel"].update(parcel_fields)
    if at is not None:  # Sendcloud's webhook times are epoch milliseconds
        data["carrier_status_change_timestamp"] = int(at.timestamp() * 1000)
        data["timestamp"] = int(at.timestamp() * 1000) + 500
    return json.dumps(data).encode()


def post(client, account, body: bytes, *, secret=SECRET, signature=None, broker=None, **extra):
    """The webhook as Sendcloud sends it; with `broker`, the commit's callbacks run."""
    headers = {}
    if signature is None:
        signature = tracking.sign(body, secret)
    if signature:
        headers["HTTP_SENDCLOUD_SIGNATURE"] = signature
    if broker is None:
        return client.post(
            account.webhook_path(), data=body, content_type="application/json", **headers
        )
    with broker.capture(execute=True):
        return client.post(
            account.webhook_path(), data=body, content_type="application/json", **headers
        )


def receive_and_apply(client, account, body, broker, **kwargs):
    """Post, then apply what the commit enqueued, through the task's own code path."""
    response = post(client, account, body, broker=broker, **kwargs)
    delivery_id = response.json()["extra"].get("delivery")
    if delivery_id is not None:
        tracking.delivery_apply(delivery_id=delivery_id)
    return response


@pytest.fixture
def account(org_a):
    return carrier_account(org_a)


class Sent(list):
    capture = None


@pytest.fixture
def no_broker(monkeypatch, django_capture_on_commit_callbacks):
    """What the commit hands the broker, kept here instead (tests apply it themselves)."""
    sent = Sent()
    sent.capture = django_capture_on_commit_callbacks
    monkeypatch.setattr(tracking, "enqueue", sent.append)
    return sent


def test_a_wrong_or_missing_signature_is_401_and_stores_nothing(client, account, no_broker):
    body = SAMPLE.read_bytes()

    wrong = post(client, account, body, secret="not-the-secret")
    missing = post(client, account, body, signature="")
    tampered = post(client, account, body + b" ", signature=tracking.sign(body, SECRET))

    assert [wrong.status_code, missing.status_code, tampered.status_code] == [401, 401, 401]
    assert not CarrierDelivery.objects.exists()
    assert no_broker == []


def test_the_verbatim_sample_is_received_and_its_adapted_ids_apply(
    client, account, org_a, no_broker
):
    verbatim = SAMPLE.read_bytes()
    response = post(client, account, verbatim, broker=no_broker)
    assert response.status_code == 200
    assert response.json()["message"] == "received"
    stored = CarrierDelivery.objects.get()
    assert bytes(stored.body) == verbatim
    assert stored.organization_id == org_a.pk
    assert tracking.delivery_apply(delivery_id=stored.pk) == "ignored"  # parcel 1 is not ours

    (parcel,) = dispatched_boxes(org_a, account)
    data = json.loads(verbatim)
    data["parcel"]["id"] = int(parcel.platform_parcel_id)
    data["parcel"]["order_number"] = parcel.code
    body = json.dumps(data).encode()
    response = post(client, account, body, broker=no_broker)
    assert response.status_code == 200
    assert no_broker == [stored.pk, response.json()["extra"]["delivery"]]  # after commit
    assert tracking.delivery_apply(delivery_id=no_broker[-1]) == "processed"

    parcel.refresh_from_db()
    assert (parcel.carrier_status, parcel.carrier_status_message) == ("1", "Ready to send")
    assert parcel.carrier_status_at == datetime.fromtimestamp(123, tz=UTC)
    delivery = CarrierDelivery.objects.get(pk=no_broker[-1])
    assert (delivery.parcel, delivery.meaning, delivery.status) == (parcel, "info", "processed")
    shipment = Shipment.objects.get(line_id=parcel.line_id)
    assert shipment.status == Shipment.Status.CREATED  # "Ready to send" moves nothing


def test_the_order_number_finds_the_parcel_when_the_id_is_not_known(
    client, account, org_a, no_broker
):
    (parcel,) = dispatched_boxes(org_a, account)
    body = payload(parcel, message="At sorting centre", at=T1)
    data = json.loads(body)
    data["parcel"]["id"] = 123456789  # a parcel id we never recorded
    receive_and_apply(client, account, json.dumps(data).encode(), no_broker)

    shipment = Shipment.objects.get(line_id=parcel.line_id)
    assert (shipment.status, shipment.shipped_at) == (Shipment.Status.SHIPPED, T1)


def test_duplicates_and_reversed_order_end_in_the_latest_status(client, account, org_a, no_broker):
    (parcel,) = dispatched_boxes(org_a, account)
    delivered = payload(parcel, message="Delivered", status_id=11, at=T2)
    sorting = payload(parcel, message="At sorting centre", status_id=7, at=T1)

    first = receive_and_apply(client, account, delivered, no_broker)
    late = receive_and_apply(client, account, sorting, no_broker)
    again = receive_and_apply(client, account, delivered, no_broker)

    assert [first.status_code, late.status_code, again.status_code] == [200, 200, 200]
    assert again.json()["message"] == "duplicate"
    parcel.refresh_from_db()
    assert (parcel.carrier_status_message, parcel.carrier_status_at) == ("Delivered", T2)
    shipment = Shipment.objects.get(line_id=parcel.line_id)
    assert (shipment.status, shipment.delivered_at) == (Shipment.Status.DELIVERED, T2)
    history = list(parcel.deliveries.order_by("carrier_status_at"))
    assert [(d.carrier_status_message, d.status) for d in history] == [
        ("At sorting centre", "processed"),
        ("Delivered", "processed"),
    ]
    assert [d.note for d in history] == ["older", "delivered"]


def test_statuses_in_order_ship_then_deliver_then_return(client, account, org_a, no_broker):
    (parcel,) = dispatched_boxes(org_a, account)
    shipment = Shipment.objects.get(line_id=parcel.line_id)

    receive_and_apply(
        client, account, payload(parcel, message="At sorting centre", at=T1), no_broker
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.shipped_at) == (Shipment.Status.SHIPPED, T1)
    receive_and_apply(client, account, payload(parcel, message="Delivered", at=T2), no_broker)
    shipment.refresh_from_db()
    assert (shipment.status, shipment.delivered_at) == (Shipment.Status.DELIVERED, T2)
    later = T2 + timedelta(days=2)
    receive_and_apply(
        client, account, payload(parcel, message="Returned to sender", at=later), None
    )
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.RETURNED


def test_returned_to_sender_arriving_first_still_ends_returned(client, account, org_a, no_broker):
    """Found by the fault scenario: "returned to sender" before the statuses that led to it
    (reversed order) left the shipment "created" for good, the later ones being older."""
    (parcel,) = dispatched_boxes(org_a, account)
    returned_at = T2 + timedelta(days=3)
    receive_and_apply(
        client, account, payload(parcel, message="Returned to sender", at=returned_at), no_broker
    )
    receive_and_apply(
        client, account, payload(parcel, message="At sorting centre", at=T1), no_broker
    )

    shipment = Shipment.objects.get(line_id=parcel.line_id)
    assert (shipment.status, shipment.shipped_at) == (Shipment.Status.RETURNED, returned_at)
    notes = parcel.deliveries.order_by("carrier_status_at").values_list("note", flat=True)
    assert list(notes) == ["older", "returned"]


def test_undeliverable_closes_the_shipment_as_lost(client, account, org_a, no_broker):
    (parcel,) = dispatched_boxes(org_a, account)
    receive_and_apply(client, account, payload(parcel, message="Undeliverable", at=T1), no_broker)
    assert Shipment.objects.get(line_id=parcel.line_id).status == Shipment.Status.LOST


def test_the_carriers_delivery_time_schedules_one_survey_and_opens_the_return_window(
    client, account, org_a, no_broker
):
    satisfaction_on(org_a, delay_days=3)
    (parcel,) = dispatched_boxes(org_a, account)
    receive_and_apply(client, account, payload(parcel, message="Delivered", at=T2), no_broker)
    shipment = Shipment.objects.get(line_id=parcel.line_id)
    assert shipment.delivered_at == T2

    before_delay = T2 + timedelta(days=3) - timedelta(minutes=1)
    assert satisfaction.surveys_schedule_for(organization=org_a, now=before_delay) == 0
    after_delay = T2 + timedelta(days=3, minutes=1)
    assert satisfaction.surveys_schedule_for(organization=org_a, now=after_delay) == 1
    assert satisfaction.surveys_schedule_for(organization=org_a, now=after_delay) == 0
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert (survey.delivered_at, survey.send_at) == (T2, T2 + timedelta(days=3))

    staff = member(org_a, Membership.Role.ADMIN)
    config = returns.return_config_ensure(organization=org_a)
    last_day = returns.window_last_day(config=config, shipment=shipment)
    assert last_day == T2.astimezone(org_a.tzinfo).date() + timedelta(days=config.window_days)
    # Outside the window counted from the carrier's time: refused without a reason...
    with pytest.raises(ApplicationError):
        opened_case(org_a, shipment, staff, now=T2 + timedelta(days=config.window_days + 2))
    # ... inside it: opened.
    case = opened_case(org_a, shipment, staff, now=T2 + timedelta(days=config.window_days - 1))
    assert case.pk is not None


def test_an_unknown_status_is_recorded_and_not_fatal(client, account, org_a, no_broker):
    (parcel,) = dispatched_boxes(org_a, account)
    response = receive_and_apply(
        client, account, payload(parcel, message="Teleported", status_id=4242, at=T1), None
    )
    assert response.status_code == 200
    delivery = CarrierDelivery.objects.get()
    assert (delivery.status, delivery.meaning) == ("processed", "unknown")
    parcel.refresh_from_db()
    assert (parcel.carrier_status, parcel.carrier_status_message) == ("4242", "Teleported")
    assert Shipment.objects.get(line_id=parcel.line_id).status == Shipment.Status.CREATED


def test_a_box_not_dispatched_yet_gets_the_status_on_its_parcel_only(
    client, account, org_a, no_broker
):
    _batch, (line,) = prepared_boxes(org_a, 1)
    parcel = Parcel.objects.create(
        organization=org_a,
        account=account,
        batch=line.batch,
        line=line,
        reference="r",
        state=Parcel.State.LABELLED,
        platform_parcel_id="777",
    )
    receive_and_apply(client, account, payload(parcel, message="Delivered", at=T2), no_broker)
    parcel.refresh_from_db()
    assert (parcel.carrier_status_message, parcel.carrier_status_at) == ("Delivered", T2)
    assert not Shipment.objects.filter(line=line).exists()
    assert CarrierDelivery.objects.get().note == "not_dispatched"


def test_other_addresses_and_other_organizations(client, account, org_a, org_b, no_broker):
    (parcel_a,) = dispatched_boxes(org_a, account)
    account_b = carrier_account(org_b, secret_key="sk-b")
    body = payload(parcel_a, message="Delivered", at=T2)

    # An unknown token, the account's id, a malformed token: 404, nothing stored.
    for path in (
        f"/webhooks/carriers/{uuid.uuid4()}/",
        f"/webhooks/carriers/{account.pk}/",
        "/webhooks/carriers/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/",
    ):
        response = client.post(
            path,
            data=body,
            content_type="application/json",
            HTTP_SENDCLOUD_SIGNATURE=tracking.sign(body, SECRET),
        )
        assert response.status_code == 404, path
    # B's address with A's secret: 401. B's address, B's secret, A's parcel: not found in B.
    assert post(client, account_b, body).status_code == 401
    receive_and_apply(client, account_b, body, no_broker, secret="sk-b")
    assert CarrierDelivery.objects.get().status == "ignored"
    assert CarrierDelivery.objects.get().organization_id == org_b.pk
    parcel_a.refresh_from_db()
    assert parcel_a.carrier_status == ""
    # Inactive: 404.
    account.active = False
    account.save()
    assert post(client, account, body).status_code == 404


def test_a_body_too_large_is_413_and_stores_nothing(client, account, settings, no_broker):
    settings.CARRIER_WEBHOOK_MAX_BODY_BYTES = 100
    body = SAMPLE.read_bytes()
    assert post(client, account, body).status_code == 413
    assert not CarrierDelivery.objects.exists()


def test_the_sweeper_resends_what_no_worker_applied(client, account, org_a, no_broker):
    (parcel,) = dispatched_boxes(org_a, account)
    post(client, account, payload(parcel, message="Delivered", at=T2), broker=no_broker)
    delivery = CarrierDelivery.objects.get()
    no_broker.clear()
    assert tracking.deliveries_sweep() == 0  # too recent
    later = delivery.updated_at + timedelta(minutes=10)
    assert tracking.deliveries_sweep(now=later) == 1
    assert no_broker == [delivery.pk]
    tracking.delivery_apply(delivery_id=delivery.pk)
    assert tracking.deliveries_sweep(now=later + timedelta(minutes=10)) == 0


def test_the_pull_asks_for_parcels_never_heard_of_and_applies_them(
    account, org_a, sendcloud, no_broker
):
    parcels = dispatched_boxes(org_a, account, count=3)
    heard, silent, unknown = parcels
    # One parcel's webhook came (delivered): it is not asked again.
    Shipment.objects.filter(line_id=heard.line_id).update(status="delivered", delivered_at=T2)
    sendcloud.tracking[silent.tracking_number] = {
        "parent_status": "DELIVERED",
        "updated_at": "2026-11-13T08:00:00Z",
        "events": [
            {"parent_status": "AT_SORTING_CENTRE", "timestamp": "2026-11-11T09:30:00Z"},
            {"parent_status": "DELIVERED", "timestamp": "2026-11-12T14:05:00Z"},
        ],
    }
    now = CUTOFF + timedelta(days=5)

    with no_broker.capture(execute=True):
        assert tracking.tracking_pull(now=now) == 1
    assert sorted(sendcloud.tracking_lookups) == sorted(
        [silent.tracking_number, unknown.tracking_number]
    )
    (delivery_id,) = no_broker
    assert tracking.delivery_apply(delivery_id=delivery_id) == "processed"
    shipment = Shipment.objects.get(line_id=silent.line_id)
    assert (shipment.status, shipment.delivered_at) == (Shipment.Status.DELIVERED, T2)
    assert CarrierDelivery.objects.get().source == "pull"
    # The next run: the same answer is the same body (stored once); the delivered one is
    # no longer asked.
    sendcloud.tracking_lookups.clear()
    assert tracking.tracking_pull(now=now) == 0
    assert sendcloud.tracking_lookups == [unknown.tracking_number]
    # Not yet N days after the label: not asked.
    sendcloud.tracking_lookups.clear()
    assert tracking.tracking_pull(now=CUTOFF + timedelta(days=1)) == 0
    assert sendcloud.tracking_lookups == []


def test_the_status_table_reads_names_and_v3_codes_alike():
    assert tracking.meaning_of("Delivered") == tracking.meaning_of("DELIVERED") == "delivered"
    assert tracking.meaning_of("At sorting centre") == "shipped"
    assert tracking.meaning_of("AT_SORTING_CENTRE") == "shipped"
    assert tracking.meaning_of("Announced: not collected") == "info"
    assert tracking.meaning_of("RETURNED_TO_SENDER") == "returned"
    assert tracking.meaning_of("Something new") == "unknown"


# --- The back office ------------------------------------------------------------------


def test_staff_read_the_parcels_status_history_and_the_deliveries(
    client, account, org_a, org_b, admin_client_for, no_broker
):
    (parcel,) = dispatched_boxes(org_a, account)
    receive_and_apply(
        client, account, payload(parcel, message="At sorting centre", at=T1), no_broker
    )
    receive_and_apply(client, account, payload(parcel, message="Delivered", at=T2), no_broker)
    staff = admin_client_for(member(org_a, Membership.Role.STAFF))
    french = {"HTTP_ACCEPT_LANGUAGE": "fr"}

    page = staff.get(reverse("admin:carriers_parcel_change", args=[parcel.pk]), **french)
    text = page.content.decode()
    assert page.status_code == 200
    assert "historique des statuts" in text.lower()
    assert "At sorting centre" in text
    assert "Envoi marqué livré à l\u2019heure donnée par le transporteur." in text

    listing = staff.get(reverse("admin:carriers_carrierdelivery_changelist"), **french)
    assert listing.status_code == 200
    assert "Delivered" in listing.content.decode()
    delivery = CarrierDelivery.objects.filter(parcel=parcel).first()
    one = staff.get(reverse("admin:carriers_carrierdelivery_change", args=[delivery.pk]))
    assert one.status_code == 200
    assert (
        staff.post(reverse("admin:carriers_carrierdelivery_delete", args=[delivery.pk])).status_code
        == 403
    )

    other = admin_client_for(member(org_b, Membership.Role.ADMIN))
    hidden = other.get(reverse("admin:carriers_carrierdelivery_change", args=[delivery.pk]))
    assert hidden.status_code in (302, 404)


def test_the_account_page_gives_the_webhook_address(account, org_a, admin_client_for):
    client = admin_client_for(member(org_a, Membership.Role.ADMIN))
    page = client.get(reverse("admin:carriers_carrieraccount_change", args=[account.pk]))
    text = page.content.decode()
    assert f"http://testserver/webhooks/carriers/{account.webhook_token}<" in text
    assert f"/webhooks/carriers/{account.pk}/" not in text


def test_beat_sweeps_every_minute_and_pulls_every_six_hours(settings):
    from carriers import tasks

    sweep = settings.CELERY_BEAT_SCHEDULE["carriers-sweep"]
    pull = settings.CELERY_BEAT_SCHEDULE["carriers-pull-tracking"]
    assert (sweep["task"], sweep["schedule"]) == (tasks.sweep_deliveries.name, 60)
    assert (pull["task"], pull["schedule"]) == (tasks.pull_tracking.name, 6 * 3600)


def test_the_task_applies_once_and_a_second_run_changes_nothing(client, account, org_a, no_broker):
    from carriers import tasks

    (parcel,) = dispatched_boxes(org_a, account)
    post(client, account, payload(parcel, message="Delivered", at=T2), broker=no_broker)
    (delivery_id,) = no_broker
    assert tasks.apply_delivery.run(delivery_id) == "processed"
    assert tasks.apply_delivery.run(delivery_id) == "processed"  # a redelivered task
    assert CarrierDelivery.objects.get().attempts == 1
    assert tasks.apply_delivery.run(delivery_id + 1000) == ""


def test_an_unexpected_error_is_retried_then_failed(client, account, org_a, no_broker, monkeypatch):
    (parcel,) = dispatched_boxes(org_a, account)
    post(client, account, payload(parcel, message="Delivered", at=T2), broker=no_broker)
    (delivery_id,) = no_broker

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tracking, "_move_shipment", broken)
    for attempt in range(1, tracking.MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            tracking.delivery_apply(delivery_id=delivery_id)
        delivery = CarrierDelivery.objects.get()
        assert delivery.attempts == attempt
    assert (delivery.status, delivery.note) == ("failed", "error")
    parcel.refresh_from_db()
    assert parcel.carrier_status == ""  # rolled back each time
    assert Shipment.objects.get(line_id=parcel.line_id).status == Shipment.Status.CREATED
