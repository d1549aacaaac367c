"""Which batch an instant belongs to, and the one open batch per organization."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from fulfillment.models import Batch
from fulfillment.selectors import cycle_at, fulfillment_settings_for
from fulfillment.services import batch_open_next
from tests.factories import open_batch

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris


def test_the_default_cutoff_is_wednesday_noon_in_the_organizations_time_zone(org_a):
    settings = fulfillment_settings_for(organization=org_a)
    assert (settings.cutoff_weekday, settings.cutoff_time) == (2, time(12, 0))
    cycle = cycle_at(organization=org_a, at=CUTOFF - timedelta(days=1))
    assert (cycle.cutoff_at, cycle.cycle_date, cycle.batch) == (CUTOFF, date(2026, 12, 2), None)
    assert cycle.ships_on == date(2026, 12, 3)


def test_the_cutoff_follows_the_organizations_settings_and_time_zone(org_b):
    org_b.timezone = "America/New_York"
    org_b.save()
    settings = fulfillment_settings_for(organization=org_b)
    settings.cutoff_weekday, settings.cutoff_time = 4, time(17, 30)  # Friday 17:30
    settings.save()
    cycle = cycle_at(organization=org_b, at=CUTOFF)
    assert cycle.cutoff_at == datetime(2026, 12, 4, 22, 30, tzinfo=UTC)


def test_an_open_batch_counts_until_its_cutoff_then_the_next_cycle_does(org_a):
    batch = open_batch(org_a, CUTOFF)
    assert cycle_at(organization=org_a, at=CUTOFF - timedelta(seconds=1)).batch == batch
    after = cycle_at(organization=org_a, at=CUTOFF)
    assert after.batch is None
    assert after.cutoff_at == CUTOFF + timedelta(days=7)


def test_a_batch_moved_by_staff_keeps_its_own_cutoff(org_a):
    # A holiday week: this cycle closes on Tuesday instead.
    moved = CUTOFF - timedelta(days=1)
    batch = open_batch(org_a, moved)
    assert cycle_at(organization=org_a, at=moved - timedelta(minutes=1)).batch == batch
    assert cycle_at(organization=org_a, at=moved + timedelta(minutes=1)).cutoff_at == CUTOFF


def test_batch_open_next_creates_one_open_batch_and_reuses_it(org_a, org_b):
    with time_machine.travel(CUTOFF - timedelta(days=2), tick=False):
        first = batch_open_next(organization=org_a)
        again = batch_open_next(organization=org_a)
        other = batch_open_next(organization=org_b)
    assert first == again
    assert first.cutoff_at == CUTOFF
    assert other.organization == org_b
    assert Batch.objects.filter(organization=org_a).count() == 1


def test_after_a_locked_batch_the_next_open_one_follows_it(org_a):
    open_batch(org_a, CUTOFF, status="locked")
    with time_machine.travel(CUTOFF + timedelta(minutes=5), tick=False):
        created = batch_open_next(organization=org_a)
    assert created.cutoff_at == CUTOFF + timedelta(days=7)
    assert created.status == "open"


def test_the_database_refuses_two_open_batches_or_two_batches_of_one_cycle(org_a):
    open_batch(org_a, CUTOFF)
    with pytest.raises(IntegrityError), transaction.atomic():
        open_batch(org_a, CUTOFF + timedelta(days=7))
    with pytest.raises(IntegrityError), transaction.atomic():
        open_batch(org_a, CUTOFF + timedelta(hours=1), status="locked")
