"""A shop's "Reconcile now" as a long operation: its page, its progress, its outcome.

The shop is a fake WooCommerce REST API (`responses`), so the task runs in this
process: it is called as the worker would call it, with the ids it was queued with.
"""

from __future__ import annotations

import pytest

from operations.models import Operation
from tests.woocommerce.test_reconcile import build_shop
from woocommerce.tasks import reconcile_store

pytestmark = pytest.mark.django_db

Status = Operation.Status
STORES = "/admin/woocommerce/woocommercestore/"
OPERATIONS = "/admin/operations/operation/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def queued(monkeypatch):
    """What "Reconcile now" sent to the broker: [(args, kwargs)]."""
    sent = []
    monkeypatch.setattr(
        reconcile_store, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )
    return sent


def test_reconcile_now_shows_the_operations_page_which_follows_it_to_the_end(
    admin_client_for, administrator_user_a, store, shop, queued, django_capture_on_commit_callbacks
):
    # Given a shop with 101 subscriptions (2 pages) and their customers, products, orders
    build_shop(shop, 101)
    client = admin_client_for(administrator_user_a)

    # When staff press "Reconcile now"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{STORES}{store.pk}/reconcile/", follow=True, **EN)

    # Then they land on the operation's page: queued, refreshing itself
    operation = Operation.objects.get()
    assert response.redirect_chain == [(f"{OPERATIONS}{operation.pk}/change/", 302)]
    assert operation.kind == Operation.Kind.RECONCILIATION
    assert (operation.status, operation.subject, operation.started_by) == (
        Status.QUEUED,
        "Purea shop",
        administrator_user_a,
    )
    page = response.text
    assert "A reconciliation of “Purea shop” is queued" in page
    assert f'data-status-url="{OPERATIONS}{operation.pk}/status.json"' in page
    assert '<meta http-equiv="refresh" content="2">' in page  # inside <noscript>
    assert queued == [((store.pk,), {"operation_id": operation.pk})]

    # When the worker runs the task, it is running while the shop is read...
    seen = []
    shop.on_list = lambda endpoint, page: seen.append(
        Operation.objects.values_list("status", "step").get(pk=operation.pk)
    )
    args, kwargs = queued[0]
    reconcile_store(*args, **kwargs)

    assert {status for status, _step in seen} == {Status.RUNNING}
    # ... and ends succeeded, every page read
    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED
    assert operation.total == operation.done == len(shop.calls)  # a page per list request
    assert operation.percent == 100
    assert "subscription processed: 101" in operation.result_summary
    assert operation.started_at <= operation.finished_at
    status = client.get(f"{OPERATIONS}{operation.pk}/status.json", **EN).json()
    assert status["status_label"] == "Succeeded"
    assert status["finished"] is True
    assert status["percent"] == 100
    page = client.get(f"{OPERATIONS}{operation.pk}/change/", **EN).text
    assert 'http-equiv="refresh"' not in page
    assert '<progress max="100" value="100"' in page


def test_a_shop_answering_500_fails_the_operation_with_the_error(
    admin_client_for, administrator_user_a, store, shop, queued, django_capture_on_commit_callbacks
):
    build_shop(shop, 10)
    shop.failures[("customers", 1)] = 500
    client = admin_client_for(administrator_user_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{STORES}{store.pk}/reconcile/", **EN)
    args, kwargs = queued[0]

    reconcile_store(*args, **kwargs)

    operation = Operation.objects.get()
    assert operation.status == Status.FAILED
    assert "GET customers: HTTP 500" in operation.error
    assert operation.finished_at is not None
    status = client.get(f"{OPERATIONS}{operation.pk}/status.json", **EN).json()
    assert (status["status_label"], status["finished"]) == ("Failed", True)
    assert "HTTP 500" in status["error"]
    assert "HTTP 500" in client.get(f"{OPERATIONS}{operation.pk}/change/", **EN).text
    store.refresh_from_db()
    assert store.last_reconciled_at is None


def test_a_task_delivered_twice_does_not_run_a_finished_operation_again(
    admin_client_for, administrator_user_a, store, shop, queued, django_capture_on_commit_callbacks
):
    build_shop(shop, 10)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_for(administrator_user_a).post(f"{STORES}{store.pk}/reconcile/")
    args, kwargs = queued[0]
    reconcile_store(*args, **kwargs)
    finished = Operation.objects.values().get()
    calls = len(shop.calls)

    reconcile_store(*args, **kwargs)

    assert Operation.objects.values().get() == finished
    assert len(shop.calls) == calls


def test_the_hourly_run_records_no_operation(store, shop):
    build_shop(shop, 10)

    reconcile_store(store.pk)

    assert not Operation.objects.exists()
    store.refresh_from_db()
    assert store.last_reconciled_at is not None


def test_a_broker_that_refuses_the_task_fails_the_operation_at_once(
    admin_client_for, administrator_user_a, store, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(**kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(reconcile_store, "apply_async", refuse)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_for(administrator_user_a).post(
            f"{STORES}{store.pk}/reconcile/", **EN
        )

    assert response.status_code == 302
    operation = Operation.objects.get()
    assert operation.status == Status.FAILED
    assert "task queue is unavailable" in operation.error
