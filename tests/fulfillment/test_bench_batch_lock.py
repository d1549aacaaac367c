"""`bench/batch_lock.py` on 50 boxes, so the benchmark cannot rot between `make bench` runs.

`measure` populates, locks with the beat task and re-inserts the lines; it
raises when the lock did not write one line per due cycle or let a change
made after the cut-off into a snapshot, and when the COPY did not write the
lines back identical. It commits (VACUUM, COPY), hence
`transaction=True`.
"""

import pytest

from bench import batch_lock
from crm.models import Address
from fulfillment.models import Batch, BatchLine
from preferences.models import SubscriptionPreference
from subscriptions.models import SubscriptionItem

pytestmark = pytest.mark.django_db(transaction=True)

N = 50


def test_smoke_measure_locks_every_box_and_times_the_same_rows_reinserted():
    numbers = batch_lock.measure(N)

    assert numbers["lines"] == N
    # 1 in 20 not charged yet and 1 in 20 with a pending charge: they wait.
    assert (numbers["ready"], numbers["awaiting_payment"]) == (45, 5)
    assert numbers["lock_seconds"] > 0
    assert numbers["baseline_seconds"] > 0
    assert set(numbers["phases"]) == set(batch_lock.PHASES)
    # The re-inserted lines are the lock's (checked by checksum inside), and still there.
    assert BatchLine.objects.count() == N
    batch = Batch.objects.get(status=Batch.Status.LOCKED)
    assert Batch.objects.filter(status=Batch.Status.OPEN, starts_at=batch.cutoff_at).exists()


def test_smoke_changes_after_the_cutoff_exist_but_stay_out_of_the_lines():
    batch_lock.measure(N)

    # The live data hold the late changes...
    assert SubscriptionItem.objects.filter(product__sku=batch_lock._LATE_SKU).exists()
    assert Address.objects.filter(line1=batch_lock._LATE_LINE1).exists()
    assert SubscriptionPreference.objects.filter(values__grams=batch_lock._LATE_GRAMS).exists()
    # ...the snapshots what stood at the cut-off, preferences from the history.
    lines = BatchLine.objects.all()
    assert not lines.filter(items__contains=[{"sku": batch_lock._LATE_SKU}]).exists()
    assert not lines.filter(address__line1=batch_lock._LATE_LINE1).exists()
    assert not lines.filter(preferences__grams=batch_lock._LATE_GRAMS).exists()
    line = lines.order_by("id").first()
    assert set(line.preferences) == {"grind", "roast", "origin", "decaf", "grams"}
    assert line.address["city"] == "Paris"
    assert line.items[0]["sku"].startswith("BENCH-")


def test_smoke_rows_and_report_give_the_ratio_and_the_target():
    numbers = batch_lock.measure(N)

    lock_row, queries_row = batch_lock.rows(numbers)
    assert lock_row.ratio == pytest.approx(numbers["lock_seconds"] / numbers["baseline_seconds"])
    assert queries_row.value == numbers["queries"]
    text = batch_lock.report(numbers)
    assert f"N={N}" in text
    assert f"{N} lines written" in text
    assert "ratio lock/baseline" in text
    assert "target <= 3x" in text
