"""Labels for a batch: one parcel per prepared box, never two, through a faked Sendcloud."""

from __future__ import annotations

import time

import pytest

from carriers import services
from carriers.models import Parcel
from carriers.platforms.base import PlatformUnavailable
from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment.models import Batch, BatchLine
from tests.carriers.conftest import address, expected_grams, prepared_boxes
from tests.threads import in_threads

pytestmark = pytest.mark.django_db

STAFF = Actor.system("packing room")


def test_one_run_labels_500_boxes_with_their_weights_and_addresses(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 500)
    started = time.monotonic()

    report = services.labels_create(batch=batch)

    assert time.monotonic() - started < 20
    assert (report.labelled, report.refused, report.already) == (500, 0, 0)
    assert len(sendcloud.announcements) == 500
    sent = {body["order_number"]: body for body in sendcloud.announcements}
    for n, line in enumerate(lines, start=1):
        body = sent[line.code]
        assert body["external_reference_id"] == line.code
        weight = body["parcels"][0]["weight"]
        assert weight == {"value": f"{expected_grams(n) / 1000:.3f}", "unit": "kg"}
        assert body["to_address"]["address_line_1"] == f"{n} rue des Lilas"
        assert body["to_address"]["country_code"] == ("BE" if n % 10 == 0 else "FR")
        method = body["ship_with"]["properties"]["shipping_option_code"]
        assert method == ("bpost:home" if n % 10 == 0 else "colissimo:home")
        assert body["from_address"] == {"sender_address_id": 192}
    parcels = Parcel.objects.filter(batch=batch)
    assert parcels.count() == 500
    assert set(parcels.values_list("state", flat=True)) == {"labelled"}
    parcel = parcels.get(line=lines[0])
    assert parcel.tracking_number.startswith("3SYZXG")
    assert parcel.label_url.endswith(f"/parcels/{parcel.platform_parcel_id}/documents/label")
    assert parcel.tracking_url.startswith("https://tracking.")
    assert (parcel.carrier, parcel.carrier_status, parcel.weight_grams) == (
        "Colissimo",
        "READY_TO_SEND",
        expected_grams(1),
    )


def test_refused_boxes_show_the_platforms_message_and_are_labelled_once_fixed(
    org_a, account_a, sendcloud
):
    batch, lines = prepared_boxes(org_a, 20)
    refused = lines[2], lines[7], lines[11]
    for line in refused:
        sendcloud.refuse[line.address["postcode"]] = "House number is missing."

    report = services.labels_create(batch=batch)

    assert (report.labelled, report.refused) == (17, 3)
    flagged = Parcel.objects.filter(batch=batch, state="refused").order_by("line_id")
    assert [p.line_id for p in flagged] == [line.pk for line in refused]
    assert {p.refusal for p in flagged} == {"to_address/house_number: House number is missing."}

    for parcel, line in zip(flagged, refused, strict=True):
        fixed = {**line.address, "line1": "12 bis rue des Lilas", "postcode": "75100"}
        services.parcel_address_correct(parcel=parcel, address=fixed, actor=STAFF)
    again = services.labels_create(batch=batch)

    assert (again.labelled, again.refused, again.already) == (3, 0, 17)
    assert Parcel.objects.filter(batch=batch, state="labelled").count() == 20
    assert BatchLine.objects.get(pk=refused[0].pk).address["line1"] == "12 bis rue des Lilas"
    assert len(sendcloud.created) == 20


def test_an_announcement_the_carrier_failed_is_refused_then_retried_under_a_new_reference(
    org_a, account_a, sendcloud
):
    batch, lines = prepared_boxes(org_a, 2)
    sendcloud.failing_announcement.add(lines[0].address["postcode"])

    services.labels_create(batch=batch)
    parcel = Parcel.objects.get(line=lines[0])
    assert parcel.state == "refused"
    assert "An error occurred while connecting to the carrier" in parcel.refusal

    sendcloud.failing_announcement.clear()
    services.labels_create(batch=batch)
    parcel.refresh_from_db()
    assert parcel.state == "labelled"
    assert parcel.reference == f"{lines[0].code}-1"


def test_rerunning_creates_nothing_twice(org_a, account_a, sendcloud):
    batch, _lines = prepared_boxes(org_a, 30)
    services.labels_create(batch=batch)

    report = services.labels_create(batch=batch)

    assert (report.labelled, report.already) == (0, 30)
    assert len(sendcloud.announcements) == 30
    assert Parcel.objects.filter(batch=batch).count() == 30


def test_a_crash_after_the_platform_answered_takes_the_parcel_it_created(
    org_a, account_a, sendcloud
):
    """The run died between Sendcloud's answer and our commit: the claim was never
    released. Once it expires, the next run asks for the reference first."""
    batch, lines = prepared_boxes(org_a, 1)
    account_a.refresh_from_db()
    parcel_id = services.parcels_ensure(batch=batch, account=account_a) and Parcel.objects.get().pk
    original_label = services._label

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    services._label = crash
    try:
        with pytest.raises(RuntimeError):
            services.labels_create(batch=batch)
    finally:
        services._label = original_label
    assert len(sendcloud.created) == 1
    Parcel.objects.filter(pk=parcel_id).update(claimed_until="2000-01-01T00:00:00Z")

    services.labels_create(batch=batch)

    parcel = Parcel.objects.get(pk=parcel_id)
    assert parcel.state == "labelled"
    assert sendcloud.lookups == [lines[0].code]
    assert len(sendcloud.announcements) == 1
    assert parcel.platform_parcel_id == str(sendcloud.created[0]["parcels"][0]["id"])


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_create_one_parcel_per_box(org_a, account_a, sendcloud):
    batch, _lines = prepared_boxes(org_a, 40)

    results = in_threads(2, lambda _i: services.labels_create(batch=batch))

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Parcel.objects.filter(batch=batch, state="labelled").count() == 40
    assert len(sendcloud.announcements) == 40
    assert sum(r.labelled for r in results) == 40


def test_the_platform_down_stops_the_run_and_leaves_the_boxes_waiting(org_a, account_a, sendcloud):
    batch, _lines = prepared_boxes(org_a, 3)
    sendcloud.down = True

    with pytest.raises(PlatformUnavailable, match="503"):
        services.labels_create(batch=batch)

    assert set(Parcel.objects.values_list("state", "claimed_until")) == {("pending", None)}
    sendcloud.down = False
    assert services.labels_create(batch=batch).labelled == 3


def test_wrong_keys_are_the_accounts_problem_not_the_boxes(org_a, account_a, sendcloud):
    batch, _lines = prepared_boxes(org_a, 2)
    account_a.secret_key = "wrong"
    account_a.save()

    with pytest.raises(PlatformUnavailable, match="keys"):
        services.labels_create(batch=batch)
    assert not Parcel.objects.filter(state="refused").exists()


def test_a_box_without_weight_is_refused_without_asking_the_platform(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 2)
    items = [{**lines[0].items[0], "weight_grams": None}]
    BatchLine.objects.filter(pk=lines[0].pk).update(items=items)

    report = services.labels_create(batch=batch)

    assert (report.labelled, report.refused) == (1, 1)
    assert "No weight is set" in Parcel.objects.get(line=lines[0]).refusal
    assert len(sendcloud.announcements) == 1


def test_only_a_locked_batch_with_an_account_is_labelled(org_a, org_b, sendcloud):
    batch, _lines = prepared_boxes(org_a, 1)
    with pytest.raises(ConflictError, match="no active carrier account"):
        services.labels_create(batch=batch)
    Batch.objects.filter(pk=batch.pk).update(status="dispatched")
    batch = Batch.objects.get(pk=batch.pk)
    with pytest.raises(ConflictError, match="locked batch"):
        services.labels_start(batch=batch)


def test_a_labelled_box_keeps_its_address(org_a, account_a, sendcloud):
    batch, _lines = prepared_boxes(org_a, 1)
    services.labels_create(batch=batch)
    parcel = Parcel.objects.get()
    with pytest.raises(ConflictError):
        services.parcel_address_correct(parcel=parcel, address=address(9), actor=STAFF)
    Parcel.objects.filter(pk=parcel.pk).update(state="refused")
    with pytest.raises(ApplicationError):
        services.parcel_address_correct(
            parcel=parcel, address={**address(9), "city": ""}, actor=STAFF
        )


def test_the_task_reports_on_its_operation_and_a_platform_down_fails_it_readably(
    org_a, account_a, sendcloud
):
    from carriers.tasks import create_labels
    from operations.models import Operation

    batch, _lines = prepared_boxes(org_a, 2)
    sendcloud.down = True
    operation = Operation.objects.create(
        organization=org_a, kind=Operation.Kind.CARRIER_LABELS, subject=str(batch)
    )

    create_labels(batch.pk, operation_id=operation.pk, language="fr")

    operation.refresh_from_db()
    assert operation.status == "failed"
    assert "Sendcloud a répondu HTTP 503" in operation.error
    sendcloud.down = False
    again = Operation.objects.create(
        organization=org_a, kind=Operation.Kind.CARRIER_LABELS, subject=str(batch)
    )
    create_labels(batch.pk, operation_id=again.pk, language="en")
    again.refresh_from_db()
    assert (again.status, again.done, again.total) == ("succeeded", 2, 2)
    assert again.result_summary == "2 labelled, 0 refused by the platform."
    create_labels(batch.pk, operation_id=again.pk)  # delivered twice: nothing reopens
    assert Operation.objects.get(pk=again.pk).status == "succeeded"
