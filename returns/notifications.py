"""E-mails about cases: the daily list of overdue ones, each in its reader's language."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import ngettext

from crm.models import Membership, Organization, StaffProfile
from returns.selectors import cases_overdue


def send_overdue_list(*, organization: Organization, now: datetime) -> int:
    """Send each assignee their overdue cases, and the unassigned ones to the administrators.

    Each list is in its recipient's language (their staff profile's), else in
    the active one (the organization's). Returns the number of overdue cases
    listed (0: nothing was sent).
    """
    cases = list(cases_overdue(organization=organization, now=now))
    if not cases:
        return 0
    by_recipient: dict[str, list] = defaultdict(list)
    admins = list(
        Membership.objects.filter(
            organization=organization, role=Membership.Role.ADMIN, user__is_active=True
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    for case in cases:
        if case.assignee_id and case.assignee.email and case.assignee.is_active:
            by_recipient[case.assignee.email].append(case)
        else:
            for email in admins:
                by_recipient[email].append(case)
    languages = dict(
        StaffProfile.objects.filter(user__email__in=by_recipient, user__is_active=True)
        .exclude(language="")
        .values_list("user__email", "language")
    )
    messages = []
    for email, listed in sorted(by_recipient.items()):
        with translation.override(languages.get(email, translation.get_language())):
            messages.append(_overdue_message(organization, listed, now, email))
    send_mass_mail(messages, fail_silently=False)
    return len(cases)


def _overdue_message(organization: Organization, cases: list, now: datetime, email: str) -> tuple:
    subject = ngettext(
        "%(organization)s: %(count)s overdue after-sales case",
        "%(organization)s: %(count)s overdue after-sales cases",
        len(cases),
    ) % {"organization": organization.name, "count": len(cases)}
    body = render_to_string(
        "returns/overdue_list.txt",
        {"organization": organization, "cases": cases, "now": now, "base_url": settings.SITE_URL},
    )
    return subject, body, settings.DEFAULT_FROM_EMAIL, [email]
