"""The three beat tasks of surveys, run by a real Celery worker on the real broker.

The worker is another process with the test settings' in-memory e-mail backend,
so its outbox cannot be read from here: that the e-mail left is seen in the
database (a survey is `sent`, with its time and one attempt, only once Django's
backend accepted the message) and in the worker's report of the task.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from satisfaction import tasks
from satisfaction.models import SatisfactionSurvey
from tests.conftest import wait_until
from tests.factories import OrganizationFactory, delivered_boxes, satisfaction_on

S = SatisfactionSurvey.Status


def _reported(worker, task_name: str) -> str | None:
    """The worker's log line saying `task_name` succeeded (with its result), if any yet."""
    return next((line for line in worker.output if task_name in line and "succeeded" in line), None)


def _results(worker, name: str) -> list[str]:
    """What each run of `satisfaction.<name>` the worker finished returned, as logged."""
    return [
        line.rstrip().rsplit(": ", 1)[-1]
        for line in worker.output
        if f"satisfaction.{name}" in line and "succeeded" in line
    ]


def _tail(worker) -> str:
    return "".join(worker.output[-30:])


@pytest.mark.celery_worker
def test_the_worker_schedules_sends_and_expires_a_delivered_boxs_survey(celery_worker):
    # Given a box delivered four days ago in an organization whose surveys are on (3 days' delay)
    now = timezone.now()
    organization = OrganizationFactory()
    satisfaction_on(organization, delay_days=3, expiry_days=14)
    (shipment,) = delivered_boxes(organization, delivered_at=now - timedelta(days=4))
    # ...and one in an organization whose surveys are off
    quiet = OrganizationFactory()
    (ignored,) = delivered_boxes(quiet, delivered_at=now - timedelta(days=4))

    # When beat sends the scheduling task
    tasks.schedule_surveys.delay()

    # Then the worker creates exactly that survey, not sent yet
    survey = wait_until(lambda: SatisfactionSurvey.objects.filter(shipment=shipment).first())
    assert survey is not None, _tail(celery_worker)
    assert survey.status == S.SCHEDULED
    assert survey.send_at == shipment.delivered_at + timedelta(days=3)
    reported = wait_until(lambda: _reported(celery_worker, "satisfaction.schedule_surveys"))
    assert reported is not None, _tail(celery_worker)
    assert f"'{organization.pk}': 1" in reported
    assert f"'{quiet.pk}'" not in reported

    # When beat sends the sending task
    tasks.send_surveys.delay()

    # Then the e-mail leaves: the survey is sent, open for 14 days, after one attempt
    assert wait_until(
        lambda: SatisfactionSurvey.objects.filter(pk=survey.pk, status=S.SENT).exists()
    ), _tail(celery_worker)
    survey.refresh_from_db()
    assert now <= survey.sent_at <= timezone.now()
    assert survey.expires_at == survey.sent_at + timedelta(days=14)
    assert (survey.send_attempts, survey.last_error) == (1, "")
    reported = wait_until(lambda: _reported(celery_worker, "satisfaction.send_surveys"))
    assert reported is not None, _tail(celery_worker)
    assert reported.rstrip().endswith(": 1")  # one survey e-mailed
    assert not SatisfactionSurvey.objects.filter(shipment=ignored).exists()

    # When its 14 days have passed and beat sends the expiry task
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    tasks.expire_surveys.delay()

    # Then the worker closes it
    assert wait_until(
        lambda: SatisfactionSurvey.objects.filter(pk=survey.pk, status=S.EXPIRED).exists()
    ), _tail(celery_worker)
    reported = wait_until(lambda: _reported(celery_worker, "satisfaction.expire_surveys"))
    assert reported is not None, _tail(celery_worker)
    assert reported.rstrip().endswith(": 1")


@pytest.mark.celery_worker
def test_running_the_tasks_twice_sends_one_email(celery_worker):
    now = timezone.now()
    organization = OrganizationFactory()
    satisfaction_on(organization, delay_days=3)
    (shipment,) = delivered_boxes(organization, delivered_at=now - timedelta(days=4))

    for _ in range(2):
        tasks.schedule_surveys.delay()
    schedules = wait_until(lambda: len(_results(celery_worker, "schedule_surveys")) == 2)
    assert schedules, _tail(celery_worker)
    for _ in range(2):
        tasks.send_surveys.delay()
    assert wait_until(lambda: len(_results(celery_worker, "send_surveys")) == 2), _tail(
        celery_worker
    )

    # The second run of each found nothing left to do.
    assert sorted(_results(celery_worker, "send_surveys")) == ["0", "1"]
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert (survey.status, survey.send_attempts) == (S.SENT, 1)


def test_beat_runs_the_three_tasks_often_enough():
    schedule = settings.CELERY_BEAT_SCHEDULE
    entries = {
        "satisfaction-schedule": tasks.schedule_surveys,
        "satisfaction-send": tasks.send_surveys,
        "satisfaction-expire": tasks.expire_surveys,
    }
    for key, task in entries.items():
        assert schedule[key]["task"] == task.name
    seconds = {key: _seconds(schedule[key]["schedule"]) for key in entries}
    # A survey goes out within minutes of its time; scheduling (the delay is in days) and
    # expiry (an answer past the deadline is refused anyway) may run less often, but daily.
    assert 60 <= seconds["satisfaction-send"] <= 15 * 60
    assert 60 <= seconds["satisfaction-schedule"] <= 60 * 60
    assert 60 <= seconds["satisfaction-expire"] <= 24 * 60 * 60
    # Each run's surveys are sent by the next sending run, not a day later.
    assert seconds["satisfaction-send"] <= seconds["satisfaction-schedule"]


def _seconds(value) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return value.run_every.total_seconds()  # a celery schedule object
