"""The operations' pages: who sees them, what they show, and their file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from operations.models import Operation
from operations.services import OperationProgress, operation_finish, operation_run, operation_start

pytestmark = pytest.mark.django_db

Status = Operation.Status
OPERATIONS = "/admin/operations/operation/"
STORES = "/admin/woocommerce/woocommercestore/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def start(organization, **fields) -> Operation:
    return operation_start(
        organization=organization,
        kind=fields.pop("kind", Operation.Kind.BATCH_EXPORT),
        subject=fields.pop("subject", "Batch of 2 Dec"),
        **fields,
    )


def test_a_running_operations_page_shows_its_bar_and_step_and_polls(
    admin_client_for, staff_user_a, org_a
):
    operation = operation_run(operation_id=start(org_a).pk)
    Operation.objects.filter(pk=operation.pk).update(done=2, total=5, step="packing-slips")
    client = admin_client_for(staff_user_a)

    page = client.get(f"{OPERATIONS}{operation.pk}/change/", **EN).text
    status = client.get(f"{OPERATIONS}{operation.pk}/status.json", **EN).json()

    assert '<progress max="100" value="40"' in page
    assert "40 % (2 / 5)" in page
    assert "Packing slips" in page
    # The polling script is a static file (the Content-Security-Policy forbids inline ones)
    assert '<script src="/static/operations/operation.js" defer></script>' in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert status == {
        "id": operation.pk,
        "status": "running",
        "status_label": "Running",
        "finished": False,
        "done": 2,
        "total": 5,
        "percent": 40,
        "progress": "40 % (2 / 5)",
        "step": "Packing slips",
        "duration": status["duration"],
        "error": "",
        "summary": "",
        "download_url": None,
    }


def test_an_unknown_total_shows_a_bar_without_a_value(admin_client_for, staff_user_a, org_a):
    operation = operation_run(operation_id=start(org_a).pk)
    Operation.objects.filter(pk=operation.pk).update(done=3, step="customer")

    status = admin_client_for(staff_user_a).get(f"{OPERATIONS}{operation.pk}/status.json").json()
    page = admin_client_for(staff_user_a).get(f"{OPERATIONS}{operation.pk}/change/", **EN).text

    assert (status["percent"], status["progress"]) == (None, "3 done")
    assert '<progress max="100" aria-describedby' in page


def test_a_finished_export_offers_its_file_to_every_member(
    admin_client_for, staff_user_a, org_a, viewer_user_a
):
    operation = operation_run(operation_id=start(org_a).pk)
    operation_finish(
        operation=operation,
        summary="6 files",
        file_name="batch-2026-12-02-exports.zip",
        content_type="application/zip",
        content=b"PK\x05\x06" + bytes(18),
    )

    for user in (staff_user_a, viewer_user_a):
        client = admin_client_for(user)
        page = client.get(f"{OPERATIONS}{operation.pk}/change/", **EN).text
        download = client.get(f"{OPERATIONS}{operation.pk}/download/")

        assert "Download batch-2026-12-02-exports.zip" in page
        assert 'http-equiv="refresh"' not in page
        assert "operations/operation.js" not in page
        assert download.status_code == 200
        assert download["Content-Type"] == "application/zip"
        assert download["Content-Disposition"] == (
            'attachment; filename="batch-2026-12-02-exports.zip"'
        )
        assert download.content == b"PK\x05\x06" + bytes(18)


def test_another_organizations_operation_is_not_found(admin_client_for, staff_user_b, org_a):
    operation = start(org_a)
    operation_finish(
        operation=operation, file_name="a.zip", content_type="application/zip", content=b"PK"
    )
    client = admin_client_for(staff_user_b)

    for suffix in ("change/", "status.json", "download/"):
        assert client.get(f"{OPERATIONS}{operation.pk}/{suffix}").status_code == 404
    assert list(client.get(OPERATIONS).context["cl"].result_list) == []


@pytest.mark.parametrize("object_id", ["abc", "1.5", "-1", "%20"])
@pytest.mark.parametrize("suffix", ["change/", "status.json", "download/"])
def test_an_operation_address_that_is_not_an_id_is_not_found(
    admin_client_for, staff_user_a, object_id, suffix
):
    # `/admin/operations/operation/abc/download/` was a 500 (ValueError on the pk lookup).
    response = admin_client_for(staff_user_a).get(f"{OPERATIONS}{object_id}/{suffix}")

    assert response.status_code == 404


def test_the_list_shows_kind_subject_status_progress_and_duration(
    admin_client_for, staff_user_a, org_a
):
    operation = operation_run(operation_id=start(org_a, started_by=staff_user_a).pk)
    Operation.objects.filter(pk=operation.pk).update(
        done=1, total=4, started_at=timezone.now() - timedelta(seconds=75)
    )
    start(org_a, kind=Operation.Kind.RECONCILIATION, subject="Purea shop")

    page = admin_client_for(staff_user_a).get(OPERATIONS, **EN).text

    assert "Batch exports" in page
    assert "Shop reconciliation" in page
    assert "Purea shop" in page
    assert '<progress max="100" value="25">' in page
    assert "1 min 15 s" in page
    assert staff_user_a.username in page


def test_nobody_adds_or_edits_an_operation_by_hand(admin_client_for, staff_user_a, org_a):
    operation = start(org_a)
    client = admin_client_for(staff_user_a)

    assert client.get(f"{OPERATIONS}add/").status_code == 403
    response = client.post(f"{OPERATIONS}{operation.pk}/change/", {"subject": "changed"})
    assert response.status_code == 403
    operation.refresh_from_db()
    assert operation.subject == "Batch of 2 Dec"


def test_a_viewer_watches_operations_but_starts_none(admin_client_for, viewer_user_a, org_a, store):
    operation = start(org_a)
    client = admin_client_for(viewer_user_a)

    assert client.get(f"{OPERATIONS}{operation.pk}/change/").status_code == 200
    assert client.get(f"{OPERATIONS}{operation.pk}/status.json").status_code == 200
    assert 'data-action="reconcile"' not in client.get(f"{STORES}{store.pk}/change/").text
    assert client.post(f"{STORES}{store.pk}/reconcile/").status_code == 403
    assert Operation.objects.count() == 1


def test_progress_of_an_operation_in_the_tests_transaction_is_not_lost_at_finish(org_a):
    # Inside a transaction the progress goes through a second connection that cannot
    # see an uncommitted row; finishing still records every step done.
    operation = operation_run(operation_id=start(org_a).pk)
    with OperationProgress(operation) as progress:
        progress.report(4, 4, "zip")

    operation_finish(operation=operation)

    operation.refresh_from_db()
    assert (operation.status, operation.done, operation.total) == (Status.SUCCEEDED, 4, 4)
