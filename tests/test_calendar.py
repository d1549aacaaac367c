"""The demo reads as a live business whatever day `make run` is started.

At each of tests/clock.py's instants (the 1st of a month, the day after a
cut-off, a minute before one, a month's last evening, both clock changes, a
leap day) the demo is loaded and read as staff would read it that morning:
the open batch's cut-off is ahead and every past one behind; the latest boxes
were delivered days ago, inside their return window, and nobody has asked
about one of them yet; answers came in this week and this month; nothing the
demo wrote happened after "now", and its past is dated when it happened,
not at the load; the dashboard leads with an NPS.

This is the cheap part of the calendar check, in every run. `make calendar`
runs the browser tests and the dashboard, returns and satisfaction tests at
each instant too (about 20 minutes).
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core.periods import local_midnight, month_bounds, today_in, week_start
from crm.models import Organization
from fulfillment.models import Batch, Shipment
from preferences.models import PreferenceChange
from returns.models import ReturnRequest
from returns.services import window_last_day
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.clock import INSTANTS
from tests.test_demo import assert_story_order, stamped_at_load

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("instant", INSTANTS.values(), ids=INSTANTS.keys())
def test_the_demo_reads_as_a_live_business_on_any_day(instant):
    with time_machine.travel(instant, tick=False):
        call_command("load_demo", password="demo", stdout=io.StringIO())
        now = timezone.now()
        purea = Organization.objects.get(slug="purea-cafe")
        tz = purea.tzinfo
        today = today_in(now, tz)

        # A batch open with its cut-off ahead (within the week), past batches in the past.
        batches = list(Batch.objects.filter(organization=purea).order_by("cutoff_at"))
        *past, open_batch = batches
        assert open_batch.status == Batch.Status.OPEN
        assert now < open_batch.cutoff_at <= now + timedelta(days=7)
        assert all(batch.cutoff_at <= now for batch in past)
        assert [batch.status for batch in past[-3:]] == ["completed", "dispatched", "locked"]

        # Recent deliveries inside their return window, one nobody has asked about yet.
        config = purea.return_config
        delivered = Shipment.objects.filter(organization=purea, status="delivered")
        latest = delivered.order_by("-delivered_at").first()
        assert now - latest.delivered_at < timedelta(days=config.window_days)
        free = [
            shipment
            for shipment in delivered.filter(return_requests__isnull=True)
            if window_last_day(config=config, shipment=shipment) >= today
        ]
        assert free, "no delivered box left to open a case about"
        cases = ReturnRequest.objects.filter(organization=purea)
        assert cases.count() == 8  # the returns demo's seven, one opened from a survey
        assert sum(case.is_overdue(now) for case in cases) == 1

        # Answers this week and this month (the organization's), and a month's worth of them.
        answered = SatisfactionSurvey.objects.filter(organization=purea, status="answered")
        month_start, _end = month_bounds(now, tz)
        monday = local_midnight(week_start(today), tz)
        assert answered.filter(answered_at__gte=max(month_start, monday)).exists()
        assert answered.filter(answered_at__gte=now - timedelta(days=30)).count() >= 5

        # Nothing the demo wrote happened after "now".
        assert not Shipment.objects.filter(delivered_at__gt=now).exists()
        assert not Shipment.objects.filter(shipped_at__gt=now).exists()
        assert not answered.filter(answered_at__gt=now).exists()
        assert not SatisfactionSurvey.objects.filter(sent_at__gt=now).exists()
        assert not SatisfactionSurvey.objects.filter(followed_up_at__gt=now).exists()
        assert not cases.filter(opened_at__gt=now).exists()
        assert not cases.filter(closed_at__gt=now).exists()
        assert not Charge.objects.filter(paid_at__gt=now).exists()
        assert not SubscriptionEvent.objects.filter(created_at__gt=now).exists()
        assert not PreferenceChange.objects.filter(changed_at__gt=now).exists()

        # And the past is dated when it happened, not when the demo was loaded.
        stamped = stamped_at_load(now)
        assert stamped == [], "\n".join(map(str, stamped))
        assert_story_order(Subscription.objects.filter(organization=purea, source="native"))

        # The dashboard leads with the last 30 days' NPS, this month's beside it.
        client = Client()
        client.force_login(get_user_model().objects.get(username="marie"))
        home = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").text
        card = home[home.index('id="dashboard-satisfaction"') :]
        headline = card[card.index('class="nps-headline"') :]
        assert ">NPS " in headline[:300]
        assert "NPS this month" in card
