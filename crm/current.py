"""The organization a staff member is working in, in the admin.

A staff member of one organization always works in it. A member of several
(or a superuser) picks one on the dashboard; the choice is kept in the session.
The admin shows dates and times in that organization's time zone
(`crm.middleware.StaffLocaleMiddleware`).
"""

from __future__ import annotations

from django.http import HttpRequest

from crm.models import Organization
from crm.tenant_admin import organization_roles

SESSION_KEY = "organization_id"
#: The picked organization's time zone, read once per session by the middleware.
TIMEZONE_SESSION_KEY = "organization_timezone"


def organizations_of(request: HttpRequest) -> list[Organization]:
    """The organizations the staff member may view, by name."""
    organizations = Organization.objects.order_by("name", "pk")
    if request.user.is_superuser:
        return list(organizations)
    return list(organizations.filter(pk__in=organization_roles(request)))


def current_organization(
    request: HttpRequest, organizations: list[Organization] | None = None
) -> Organization | None:
    """The picked organization if the member still sees it, else the first they see."""
    if organizations is None:
        organizations = organizations_of(request)
    picked = request.session.get(SESSION_KEY)
    for organization in organizations:
        if organization.pk == picked:
            return organization
    return organizations[0] if organizations else None


def organization_pick(request: HttpRequest, organization: Organization) -> None:
    """Work in `organization` from now on (the caller checked the member sees it)."""
    request.session[SESSION_KEY] = organization.pk
    request.session[TIMEZONE_SESSION_KEY] = organization.timezone
