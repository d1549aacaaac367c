"""The daily overdue list: once a day from 8:00 the organization's time, each person their cases."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from core.actors import Actor
from crm.models import StaffProfile
from returns import services, tasks
from returns.models import ReturnConfig
from tests.conftest import wait_until
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    billing_settings,
    delivered_boxes,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")
DELIVERED = datetime(2026, 11, 2, 12, 0, tzinfo=PARIS)
OPENED = datetime(2026, 11, 4, 10, 0, tzinfo=PARIS)  # due 7 November 10:00 (3 days)
LIST_DAY = date(2026, 11, 10)
CASE_LINK = re.compile(r"/admin/returns/returnrequest/(\d+)/change/")


def member(organization, username, role):
    user = UserFactory(username=username, email=f"{username}@example.com")
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def open_case(organization, shipment, *, assignee, opened_at, actor_user=None):
    return services.return_open(
        organization=organization,
        shipment=shipment,
        reason="damaged",
        actor=Actor.for_user(actor_user) if actor_user else Actor.system("helpdesk"),
        assignee=assignee,
        now=opened_at,
    )


def local(organization, day, hour, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=organization.tzinfo)


def listed(message) -> set[int]:
    """The cases an e-mail links to."""
    return {int(pk) for pk in CASE_LINK.findall(message.body)}


def inbox() -> dict[str, set[int]]:
    """Who received what: {recipient: cases listed}; one e-mail each, or it fails."""
    received: dict[str, set[int]] = {}
    for message in mail.outbox:
        (recipient,) = message.to
        assert recipient not in received, f"{recipient} got two e-mails"
        received[recipient] = listed(message)
    return received


@pytest.fixture
def desk(org_a):
    """Purea's after-sales desk: cases late, not yet due, and closed, for three people."""
    billing_settings(org_a)
    claire = member(org_a, "claire", "staff")
    paul = member(org_a, "paul", "staff")
    member(org_a, "anne", "admin")
    member(org_a, "victor", "viewer")
    boxes = delivered_boxes(org_a, delivered_at=DELIVERED, count=7)
    cases = {
        "claire_late": open_case(org_a, boxes[0], assignee=claire, opened_at=OPENED),
        "claire_later": open_case(
            org_a, boxes[1], assignee=claire, opened_at=OPENED + timedelta(days=1)
        ),
        "claire_not_due": open_case(
            org_a, boxes[2], assignee=claire, opened_at=local(org_a, date(2026, 11, 9), 10)
        ),
        "claire_rejected": open_case(org_a, boxes[3], assignee=claire, opened_at=OPENED),
        "claire_resolved": open_case(org_a, boxes[4], assignee=claire, opened_at=OPENED),
        "paul_late": open_case(org_a, boxes[5], assignee=paul, opened_at=OPENED),
        "nobody_late": open_case(org_a, boxes[6], assignee=None, opened_at=OPENED),
    }
    actor = Actor.for_user(claire)
    services.return_reject(case=cases["claire_rejected"], actor=actor, reason="No photo")
    services.return_approve(case=cases["claire_resolved"], actor=actor)
    services.return_resolve(case=cases["claire_resolved"], actor=actor, resolution="none")
    mail.outbox.clear()
    return {name: case.pk for name, case in cases.items()}


def sent_on(organization):
    return ReturnConfig.objects.values_list("overdue_list_sent_on", flat=True).get(
        organization=organization
    )


@pytest.mark.django_db
def test_nothing_goes_out_before_8_in_the_organizations_time(org_a, desk):
    assert services.overdue_lists_send(now=local(org_a, LIST_DAY, 7, 59)) == {}

    assert mail.outbox == []
    assert sent_on(org_a) is None


@pytest.mark.django_db
def test_at_8_each_assignee_gets_exactly_their_overdue_cases(org_a, desk):
    result = services.overdue_lists_send(now=local(org_a, LIST_DAY, 8, 5))

    assert result == {org_a.pk: 4}
    # Not the case not yet due, not the closed ones; the unassigned one to the admin;
    # nothing to the viewer.
    assert inbox() == {
        "claire@example.com": {desk["claire_late"], desk["claire_later"]},
        "paul@example.com": {desk["paul_late"]},
        "anne@example.com": {desk["nobody_late"]},
    }
    assert sent_on(org_a) == LIST_DAY
    claire = next(m for m in mail.outbox if m.to == ["claire@example.com"])
    link = reverse("admin:returns_returnrequest_change", args=[desk["claire_late"]])
    assert f"{settings.SITE_URL}{link}" in claire.body
    assert claire.from_email == settings.DEFAULT_FROM_EMAIL


@pytest.mark.django_db
def test_an_assignee_who_left_has_their_cases_sent_to_the_admins(org_a, desk):
    get_user_model().objects.filter(username="paul").update(is_active=False)

    services.overdue_lists_send(now=local(org_a, LIST_DAY, 9))

    assert inbox()["anne@example.com"] == {desk["nobody_late"], desk["paul_late"]}
    assert "paul@example.com" not in inbox()


def _subject(language, organization, count):
    with translation.override(language):
        return ngettext(
            "%(organization)s: %(count)s overdue after-sales case",
            "%(organization)s: %(count)s overdue after-sales cases",
            count,
        ) % {"organization": organization.name, "count": count}


@pytest.mark.django_db
def test_the_list_is_in_the_organizations_language_and_time(org_a, desk):
    assert org_a.language == "fr"

    services.overdue_lists_send(now=local(org_a, LIST_DAY, 8, 5))

    paul = next(m for m in mail.outbox if m.to == ["paul@example.com"])
    assert paul.subject == _subject("fr", org_a, 1)
    if _subject("fr", org_a, 1) != _subject("en", org_a, 1):  # once the lead has translated
        assert paul.subject != _subject("en", org_a, 1)
    # Django's own French: the due date's month, at 10:00 Paris time (9:00 UTC).
    assert "7 novembre 2026 10:00" in paul.body
    assert "November" not in paul.body


@pytest.mark.django_db
def test_a_staff_member_who_chose_english_gets_their_list_in_english(org_a, desk):
    # Given Paul set his profile to English in a French-speaking organization
    StaffProfile.objects.create(user=get_user_model().objects.get(username="paul"), language="en")

    services.overdue_lists_send(now=local(org_a, LIST_DAY, 8, 5))

    # Then his list is in English, still in Paris time; Claire's stays French
    paul = next(m for m in mail.outbox if m.to == ["paul@example.com"])
    claire = next(m for m in mail.outbox if m.to == ["claire@example.com"])
    assert paul.subject == _subject("en", org_a, 1)
    assert "Nov. 7, 2026, 10 a.m." in paul.body
    assert "7 novembre 2026 10:00" in claire.body


@pytest.mark.django_db
def test_once_a_local_day_and_again_the_next(org_a, desk):
    services.overdue_lists_send(now=local(org_a, LIST_DAY, 8, 5))
    assert len(mail.outbox) == 3
    mail.outbox.clear()

    for moment in (local(org_a, LIST_DAY, 8, 20), local(org_a, LIST_DAY, 23, 59)):
        assert services.overdue_lists_send(now=moment) == {}
    # After midnight, but before 8:00: still nothing.
    assert services.overdue_lists_send(now=local(org_a, LIST_DAY + timedelta(days=1), 7)) == {}
    assert mail.outbox == []

    assert services.overdue_lists_send(now=local(org_a, LIST_DAY + timedelta(days=1), 8)) == {
        org_a.pk: 4
    }
    assert len(mail.outbox) == 3
    assert sent_on(org_a) == LIST_DAY + timedelta(days=1)


@pytest.mark.django_db
def test_a_day_without_overdue_cases_sends_nothing(org_a):
    billing_settings(org_a)
    claire = member(org_a, "claire", "staff")
    box = delivered_boxes(org_a, delivered_at=DELIVERED)[0]
    open_case(org_a, box, assignee=claire, opened_at=local(org_a, LIST_DAY, 7))

    assert services.overdue_lists_send(now=local(org_a, LIST_DAY, 8)) == {org_a.pk: 0}
    assert mail.outbox == []


@pytest.mark.django_db
def test_two_organizations_each_get_their_list_at_their_own_8(org_a):
    boston = OrganizationFactory(name="Boston Beans", timezone="America/New_York", language="en")
    lists = {}
    for organization, username in ((org_a, "claire"), (boston, "sam")):
        billing_settings(organization)
        user = member(organization, username, "staff")
        box = delivered_boxes(organization, delivered_at=DELIVERED)[0]
        lists[username] = open_case(organization, box, assignee=user, opened_at=OPENED).pk
    mail.outbox.clear()
    day = datetime(2026, 11, 10, tzinfo=UTC)

    # 8:00 in Paris is 7:00 UTC, 2:00 in New York: Paris only.
    assert services.overdue_lists_send(now=day.replace(hour=6, minute=59)) == {}
    assert services.overdue_lists_send(now=day.replace(hour=7)) == {org_a.pk: 1}
    assert inbox() == {"claire@example.com": {lists["claire"]}}
    assert (sent_on(org_a), sent_on(boston)) == (LIST_DAY, None)
    mail.outbox.clear()

    # 8:00 in New York is 13:00 UTC: New York only, in English and its time.
    assert services.overdue_lists_send(now=day.replace(hour=12, minute=59)) == {}
    assert services.overdue_lists_send(now=day.replace(hour=13)) == {boston.pk: 1}
    assert inbox() == {"sam@example.com": {lists["sam"]}}
    assert (sent_on(org_a), sent_on(boston)) == (LIST_DAY, LIST_DAY)
    message = mail.outbox[0]
    assert message.subject == _subject("en", boston, 1)
    assert "Nov. 7, 2026, 4 a.m." in message.body  # due 10:00 in Paris, 4:00 in New York


def test_beat_sends_the_task_often_enough_to_reach_8_oclock():
    entry = settings.CELERY_BEAT_SCHEDULE["returns-overdue-lists"]
    assert entry["task"] == tasks.send_overdue_lists.name == "returns.send_overdue_lists"
    assert entry["schedule"] <= 15 * 60


def _zone_where_it_is_noon(now):
    """A fixed-offset zone whose local time is about noon now (Etc/GMT signs are reversed)."""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.mark.celery_worker
def test_the_worker_sends_the_lists_and_reports_each_organization(celery_worker):
    # Given an organization where it is noon, with two overdue cases (one assigned)
    now = timezone.now()
    organization = OrganizationFactory(timezone=_zone_where_it_is_noon(now))
    assert 10 <= now.astimezone(organization.tzinfo).hour <= 13
    billing_settings(organization)
    staff = member(organization, "claire", "staff")
    member(organization, "anne", "admin")
    boxes = delivered_boxes(organization, delivered_at=now - timedelta(days=10), count=2)
    for box, assignee in zip(boxes, (staff, None), strict=True):
        open_case(organization, box, assignee=assignee, opened_at=now - timedelta(days=5))

    # When beat sends the task
    tasks.send_overdue_lists.delay()

    # Then the worker sends today's list, and says for whom and how many
    today = now.astimezone(organization.tzinfo).date()
    assert wait_until(lambda: sent_on(organization) == today), "".join(celery_worker.output[-30:])
    reported = wait_until(
        lambda: next(
            (
                line
                for line in celery_worker.output
                if "returns.send_overdue_lists" in line and "succeeded" in line
            ),
            None,
        )
    )
    assert reported is not None, "".join(celery_worker.output[-30:])
    assert f"{{'{organization.pk}': 2}}" in reported
