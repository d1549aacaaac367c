"""A batch's exports in one ZIP: from the batch's page (a long operation) and the command line.

The batch is `tests.fulfillment.test_exports.Roastery`'s: Alice and Bob's boxes,
locked at the cut-off of Wednesday 2 December 2026.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from fulfillment.models import BatchLine
from fulfillment.tasks import export_batch
from operations.models import Operation
from tests.conftest import wait_until
from tests.fulfillment.test_exports import EN, Roastery

pytestmark = pytest.mark.django_db

Status = Operation.Status
OPERATIONS = "/admin/operations/operation/"
CSV_FILES = [
    "batch-2026-12-02-pick-list.csv",
    "batch-2026-12-02-packing-slips.csv",
    "batch-2026-12-02-production-plan.csv",
]
HTML_FILES = [name.replace(".csv", ".html") for name in CSV_FILES]
PDF_FILES = [name.replace(".csv", ".pdf") for name in CSV_FILES]


@pytest.fixture
def roastery(org_a):
    shop = Roastery(org_a)
    shop.lock()
    return shop


def batch_url(batch, suffix="change/"):
    return f"/admin/fulfillment/batch/{batch.pk}/{suffix}"


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(
        export_batch, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )
    return sent


def test_the_batch_page_offers_all_exports_as_a_zip_and_asks_to_confirm(roastery, admin_client_a):
    batch = roastery.batch

    page = admin_client_a.get(batch_url(batch), **EN)
    confirm = admin_client_a.get(batch_url(batch, "exports-zip/"), **EN)

    assert page.context["exports_archive"]["url"] == batch_url(batch, "exports-zip/")
    assert "Prepare the pick list, packing slips and production plan" in confirm.text


def test_confirming_queues_the_export_and_follows_it_on_the_operations_page(
    roastery, admin_client_a, queued, django_capture_on_commit_callbacks
):
    batch = roastery.batch

    # When staff confirm "Prepare all exports (ZIP)"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_a.post(batch_url(batch, "exports-zip/"), **EN)

    operation = Operation.objects.get()
    assert response["Location"] == f"{OPERATIONS}{operation.pk}/change/"
    assert (operation.kind, operation.status, operation.subject) == (
        Operation.Kind.BATCH_EXPORT,
        Status.QUEUED,
        "Batch of Dec. 2, 2026",
    )
    assert queued == [((batch.pk,), {"language": "en", "operation_id": operation.pk})]


def exported(client, batch, queued, capture) -> tuple[Operation, zipfile.ZipFile]:
    """Confirm "Prepare all exports (ZIP)", run the queued task as the worker does; the
    operation and the archive it offers for download."""
    with capture(execute=True):
        client.post(batch_url(batch, "exports-zip/"), **EN)
    args, kwargs = queued[0]
    export_batch(*args, **kwargs)
    operation = Operation.objects.get()
    download = client.get(f"{OPERATIONS}{operation.pk}/download/")
    return operation, zipfile.ZipFile(io.BytesIO(download.content))


def test_the_worker_builds_a_zip_of_the_csvs_pages_and_pdfs_the_batch_offers(
    roastery, admin_client_a, queued, django_capture_on_commit_callbacks
):
    batch = roastery.batch

    operation, archive = exported(admin_client_a, batch, queued, django_capture_on_commit_callbacks)

    assert operation.status == Status.SUCCEEDED
    assert (operation.done, operation.total, operation.percent) == (5, 5, 100)
    assert operation.result_summary == "9 files in batch-2026-12-02-exports.zip."
    page = admin_client_a.get(f"{OPERATIONS}{operation.pk}/change/", **EN).text
    assert "Download batch-2026-12-02-exports.zip" in page
    assert sorted(archive.namelist()) == sorted(CSV_FILES + HTML_FILES + PDF_FILES)
    # Each CSV is the one the batch's page offers, in the language it was asked in.
    for name in CSV_FILES:
        kind = name.removeprefix("batch-2026-12-02-")
        single = admin_client_a.get(
            reverse("fulfillment:batch-export", args=[batch.pk, kind]), **EN
        )
        assert archive.read(name) == single.content


def test_the_zips_files_list_the_batchs_boxes_a_row_per_box_and_product(
    roastery, admin_client_a, queued, django_capture_on_commit_callbacks
):
    batch = roastery.batch

    _operation, archive = exported(
        admin_client_a, batch, queued, django_capture_on_commit_callbacks
    )

    alice, bob = roastery.code(roastery.alice), roastery.code(roastery.bob)
    pick_list = rows(archive.read(CSV_FILES[0]))
    assert pick_list[0][:3] == ["Code", "Subscription", "Customer"]
    assert [(row[0], row[4], row[5]) for row in pick_list[1:]] == [
        (bob, "Brazil Cerrado", "1"),
        (alice, "Ethiopia Guji", "2"),
        (bob, "Ethiopia Guji", "1"),
    ]
    slips = rows(archive.read(CSV_FILES[1]))
    assert [row[0] for row in slips[1:]] == sorted(
        line.code for line in BatchLine.objects.filter(batch=batch)
    )
    plan = rows(archive.read(CSV_FILES[2]))
    assert [row[:2] + row[4:5] for row in plan[1:] if not row[2]] == [
        ["BRA-CER", "Brazil Cerrado", "1"],
        ["ETH-GUJI", "Ethiopia Guji", "3"],
    ]
    assert "Ethiopia Guji" in archive.read(HTML_FILES[0]).decode()
    assert archive.read(PDF_FILES[1]).startswith(b"%PDF")


def test_the_zip_speaks_the_language_it_was_asked_in(
    roastery, admin_client_for, staff_user_a, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_for(staff_user_a).post(
            batch_url(roastery.batch, "exports-zip/"), HTTP_ACCEPT_LANGUAGE="fr"
        )
    args, kwargs = queued[0]

    export_batch(*args, **kwargs)

    operation = Operation.objects.get()
    archive = zipfile.ZipFile(io.BytesIO(bytes(operation.result)))
    header, first, *_rest = rows(archive.read(CSV_FILES[0]))
    assert header[7] == "Mouture"
    assert first[9] == "Oui"  # Bob's decaf, in French


def test_a_viewer_reads_the_exports_but_does_not_start_the_zip(
    roastery, admin_client_for, viewer_user_a
):
    client = admin_client_for(viewer_user_a)

    page = client.get(batch_url(roastery.batch), **EN)

    assert page.context["exports"]  # the single exports stay theirs
    assert page.context["exports_archive"] is None
    assert client.get(batch_url(roastery.batch, "exports-zip/")).status_code == 403
    assert client.post(batch_url(roastery.batch, "exports-zip/")).status_code == 403
    assert not Operation.objects.exists()


def test_another_organizations_batch_is_not_found(roastery, admin_client_for, staff_user_b):
    response = admin_client_for(staff_user_b).post(batch_url(roastery.batch, "exports-zip/"))

    assert response.status_code == 404
    assert not Operation.objects.exists()


def test_the_command_writes_the_zip_with_a_progress_bar(roastery, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "exports.zip"

    call_command(
        "export_batch",
        str(roastery.batch.pk),
        "--output",
        str(target),
        "--progress",
        "--language",
        "en",
        stdout=out,
        stderr=err,
    )

    archive = zipfile.ZipFile(target)
    assert sorted(archive.namelist()) == sorted(CSV_FILES + HTML_FILES + PDF_FILES)
    assert len(rows(archive.read(CSV_FILES[0]))) == 4  # the header and three rows
    assert out.getvalue().startswith(f"{target}: ")
    assert "Purea Café · Batch of Dec. 2, 2026" in err.getvalue()
    assert "5/5" in err.getvalue()
    assert "100%" in err.getvalue()


def test_the_command_shows_no_bar_unless_asked_off_a_terminal(roastery, tmp_path):
    err = io.StringIO()

    call_command(
        "export_batch",
        str(roastery.batch.pk),
        "-o",
        str(tmp_path / "exports.zip"),
        stdout=io.StringIO(),
        stderr=err,
    )

    assert err.getvalue() == ""


def test_the_command_refuses_an_unknown_batch():
    with pytest.raises(CommandError, match="No batch has the id 999999"):
        call_command("export_batch", "999999", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_zip_while_the_page_polls(
    org_a, admin_client_for, staff_user_a, celery_worker
):
    roastery = Roastery(org_a)
    roastery.lock()
    client = admin_client_for(staff_user_a)

    response = client.post(batch_url(roastery.batch, "exports-zip/"), **EN)

    status_url = response["Location"].replace("change/", "status.json")
    seen = set()

    def finished():
        status = client.get(status_url, **EN).json()
        seen.add(status["status"])
        return status if status["finished"] else None

    status = wait_until(finished, timeout=60)
    assert status["status_label"] == "Succeeded", status
    assert status["percent"] == 100
    assert seen <= {"queued", "running", "succeeded"}
    download = client.get(status["download_url"])
    assert sorted(zipfile.ZipFile(io.BytesIO(download.content)).namelist()) == sorted(
        CSV_FILES + HTML_FILES + PDF_FILES
    )
