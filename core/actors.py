"""Who did something: the actor recorded with every change a service makes.

Services take an `Actor` so that history rows (subscription events, preference
changes, return notes) can say who acted, whether a staff member in the admin,
an integration's API key, WooCommerce's sync, the customer or the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    USER = "user", _("Staff member")
    API_KEY = "api_key", _("API key")
    WOOCOMMERCE = "woocommerce", _("WooCommerce")
    CUSTOMER = "customer", _("Customer")
    SYSTEM = "system", _("System")


#: The system's own actors, by the label they record, as staff read them.
SYSTEM_NAMES = {
    "renewals": _("automatic renewals"),
    "demo": _("demo data"),
    "system": _("automatic"),
    "carrier": _("carrier tracking"),
}


def describe(kind: str, kind_display: str, label: str) -> str:
    """Who acted, as a history row shows it: "System: automatic renewals", "Staff member: marie"."""
    if kind == ActorKind.SYSTEM:
        label = str(SYSTEM_NAMES.get(label, label))
    if not label:
        return str(kind_display)
    return _("%(kind)s: %(name)s") % {"kind": kind_display, "name": label}


@dataclass(frozen=True)
class Actor:
    kind: str
    user: Any = None
    api_key: Any = None
    label: str = ""

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls(ActorKind.USER, user=user, label=user.get_username())

    @classmethod
    def for_api_key(cls, api_key) -> Actor:
        return cls(ActorKind.API_KEY, api_key=api_key, label=api_key.name)

    @classmethod
    def for_request(cls, request) -> Actor:
        """The API key of an API request, or the logged-in staff member."""
        auth = getattr(request, "auth", None)
        if auth is not None and hasattr(auth, "hashed_key"):
            return cls.for_api_key(auth)
        return cls.for_user(request.user)

    @classmethod
    def for_customer(cls, customer) -> Actor:
        """The customer themselves, in their portal (the history names them by e-mail)."""
        return cls(ActorKind.CUSTOMER, label=customer.email)

    @classmethod
    def system(cls, label: str = "") -> Actor:
        return cls(ActorKind.SYSTEM, label=label or "system")

    @classmethod
    def woocommerce(cls, label: str = "") -> Actor:
        return cls(ActorKind.WOOCOMMERCE, label=label or "woocommerce")

    def as_fields(self, prefix: str = "actor") -> dict[str, Any]:
        """The actor as the columns of a history row (`actor_kind`, `actor_user`...)."""
        return {
            f"{prefix}_kind": self.kind,
            f"{prefix}_user": self.user,
            f"{prefix}_api_key": self.api_key,
            f"{prefix}_label": self.label[:150],
        }
