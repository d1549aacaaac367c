"""E-mails about cases: the daily list of overdue ones."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string
from django.utils.translation import ngettext

from crm.models import Membership, Organization
from returns.selectors import cases_overdue


def send_overdue_list(*, organization: Organization, now: datetime) -> int:
    """Send each assignee their overdue cases, and the unassigned ones to the administrators.

    Returns the number of overdue cases listed (0: nothing was sent).
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
    messages = [
        (
            ngettext(
                "%(organization)s: %(count)s overdue after-sales case",
                "%(organization)s: %(count)s overdue after-sales cases",
                len(listed),
            )
            % {"organization": organization.name, "count": len(listed)},
            render_to_string(
                "returns/overdue_list.txt",
                {
                    "organization": organization,
                    "cases": listed,
                    "now": now,
                    "base_url": settings.SITE_URL,
                },
            ),
            settings.DEFAULT_FROM_EMAIL,
            [email],
        )
        for email, listed in sorted(by_recipient.items())
    ]
    send_mass_mail(messages, fail_silently=False)
    return len(cases)
