"""Demo portal for `manage.py load_demo`: Purea Café's subscribers' space, and whom to
sign in as.

The portal's settings get a name and the demo shop's account page (for the subscriptions
the shop manages). The subscriber suggested for a first visit is the one whose visit
shows the most: a subscription the product manages, active, with a delivered box (the
after-sales form and the boxes' tracking) — chosen from the data loaded, not by name.
Sign-in codes are e-mailed: with the development settings' console backend, the web
process prints them (`make run`'s output).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from crm.models import Customer, Organization
from portal.services import portal_settings_ensure
from subscriptions.models import Subscription

NAME = "Espace abonnés Purea Café"


@dataclass(frozen=True)
class DemoPortal:
    path: str
    email: str


def load(*, organization: Organization, shop_url: str) -> DemoPortal:
    settings = portal_settings_ensure(organization=organization)
    settings.name = NAME
    settings.shop_account_url = f"{shop_url.rstrip('/')}/mon-compte/abonnements/"
    settings.save(update_fields=["name", "shop_account_url", "updated_at"])
    customer = (
        Customer.objects.filter(
            organization=organization,
            subscriptions__source=Subscription.Source.NATIVE,
            subscriptions__status=Subscription.Status.ACTIVE,
        )
        .annotate(delivered=Count("shipments", filter=Q(shipments__status="delivered")))
        .order_by("-delivered", "email")
        .first()
    )
    return DemoPortal(path=f"/p/{organization.slug}/", email=customer.email if customer else "")


def summary(base_url: str, result: DemoPortal) -> list[str]:
    lines = [f"  Subscribers' portal: {base_url}{result.path}"]
    if result.email:
        lines.append(f"  Portal sign-in:      {result.email} (the code is printed in this output)")
    return lines
