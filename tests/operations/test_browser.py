"""The operation's page in a browser: its bar moves in place, then the page shows the outcome."""

from __future__ import annotations

import pytest

from operations.models import Operation
from operations.services import operation_finish, operation_run, operation_start
from tests.factories import MembershipFactory, UserFactory

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def test_the_bar_moves_while_it_runs_and_the_file_is_offered_at_the_end(page, screenshots, org_a):
    # Given Claire of the roaster, and an export running: 1 of 5 steps done
    MembershipFactory(user=UserFactory(username="claire"), organization=org_a, role="staff")
    operation = operation_start(
        organization=org_a, kind=Operation.Kind.BATCH_EXPORT, subject="Batch of 2 Dec"
    )
    operation_run(operation_id=operation.pk)
    Operation.objects.filter(pk=operation.pk).update(done=1, total=5, step="read")
    page.goto("/admin/login/")
    page.fill("#id_username", "claire")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(lambda url: "/admin/login/" not in url)

    # When she opens its page
    page.goto(f"/admin/operations/operation/{operation.pk}/change/")
    bar = page.locator("#operation-progress progress")
    assert bar.get_attribute("value") == "20"
    screenshots(page, "running-20")

    # Then the bar follows the worker without a reload...
    page.evaluate("window.notReloaded = true")
    Operation.objects.filter(pk=operation.pk).update(done=3, step="packing-slips")
    # (An assertion that polls the property: a string predicate would be evaluated by the
    # page, which the Content-Security-Policy forbids.)
    expect(bar).to_have_js_property("value", 60, timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert "Packing slips" in page.locator(".operation-step").inner_text()
    assert "60 % (3 / 5)" in page.locator(".operation-percent").inner_text()
    screenshots(page, "running-60")

    # ...and once it is finished, the page shows the outcome and the file
    operation.refresh_from_db()
    operation_finish(
        operation=operation,
        summary="6 files in batch-2026-12-02-exports.zip.",
        file_name="batch-2026-12-02-exports.zip",
        content_type="application/zip",
        content=b"PK\x05\x06" + bytes(18),
    )
    page.locator("a.operation-download").wait_for(timeout=10_000)
    assert page.locator(".operation-status").inner_text() == "Succeeded"
    assert bar.get_attribute("value") == "100"
    screenshots(page, "succeeded")
