"""The cut-off rule: a change counts for the batch whose cut-off is still ahead when it is made."""

from datetime import UTC, datetime, timedelta

import time_machine

from preferences import selectors
from tests.factories import open_batch
from tests.helpers import write_preferences

# Wednesday 2 December 2026, 12:00 in Paris (UTC+1).
CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
NEXT_CUTOFF = datetime(2026, 12, 9, 11, 0, tzinfo=UTC)


def test_a_change_one_second_before_the_cutoff_counts_for_that_batch(org_a, subscription):
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        write_preferences(subscription, grind="filter")
    with time_machine.travel(CUTOFF - timedelta(seconds=1), tick=False):
        _, change = write_preferences(subscription, grind="espresso")

    assert change.effective_cycle == batch.cycle_date
    assert change.effective_cutoff_at == CUTOFF
    at_cutoff = selectors.preferences_at(subscription=subscription, at=batch.cutoff_at)
    assert at_cutoff["grind"] == "espresso"


def test_a_change_one_second_after_the_cutoff_counts_for_the_next_batch_even_while_open(
    org_a, subscription
):
    batch = open_batch(org_a, CUTOFF)  # the lock task has not run yet: still open
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        write_preferences(subscription, grind="filter")
    with time_machine.travel(CUTOFF + timedelta(seconds=1), tick=False):
        _, change = write_preferences(subscription, grind="espresso")

    batch.refresh_from_db()
    assert batch.status == "open"
    assert change.effective_cutoff_at == NEXT_CUTOFF
    assert change.effective_cycle.isoformat() == "2026-12-09"
    assert selectors.preferences_at(subscription=subscription, at=CUTOFF)["grind"] == "filter"
    assert selectors.preferences_at(subscription=subscription, at=NEXT_CUTOFF)["grind"] == (
        "espresso"
    )


def test_a_change_exactly_at_the_cutoff_counts_for_the_next_batch(org_a, subscription):
    open_batch(org_a, CUTOFF)
    with time_machine.travel(CUTOFF, tick=False):
        _, change = write_preferences(subscription, grind="espresso")

    assert change.effective_cutoff_at == NEXT_CUTOFF
    assert selectors.preferences_at(subscription=subscription, at=CUTOFF)["grind"] == "beans"


def test_without_any_batch_the_calendar_names_the_next_cutoff(org_a, subscription):
    with time_machine.travel(CUTOFF - timedelta(hours=1), tick=False):
        _, change = write_preferences(subscription, grind="espresso")
    assert change.effective_cutoff_at == CUTOFF
