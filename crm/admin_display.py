"""What the back office's pages share to show rows and act on a selection.

Labels (a customer, a staff member, a box's items), a column in the row's
organization's time, the organizations a user sees, a "by product" list
filter, and the helpers of a list action that calls a service row by row.
The apps' admin modules take them from here, never from each other's admin:
this module sits in the crm layer, below every app that shows a page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from crm.models import Customer, Product
from crm.tenant_admin import when

# --- Labels ------------------------------------------------------------------------------


def customer_label(customer: Customer) -> str:
    if customer.full_name:
        return f"{customer.full_name} <{customer.email}>"
    return customer.email


def person(user) -> str:
    """A staff member as colleagues name them."""
    if user is None:
        return _("nobody")
    return user.get_full_name() or user.get_username()


def items_text(items: list[dict[str, Any]] | None) -> str:
    """A snapshot's items as "2 x Coffee, 1 x Filters"."""
    return (
        ", ".join(
            f"{item.get('quantity')} x {item.get('name') or item.get('sku') or item.get('product')}"
            for item in items or []
        )
        or "-"
    )


def refusal_text(error: ApplicationError) -> str:
    """A service's refusal as one sentence for a message."""
    fields = error.extra.get("fields") or {}
    found = [str(message) for messages_ in fields.values() for message in messages_]
    return error.message if error.message else " ".join(found)


def local_time(field: str, description, *, ordering: bool = False):
    """An admin column: the instant `field` of a row in its organization's time zone."""

    def column(self, row):
        return when(getattr(row, field), row.organization.tzinfo)

    return admin.display(description=description, ordering=field if ordering else None)(column)


# --- Who sees and changes what -------------------------------------------------------------


def visible_organizations(request, model_admin) -> set[int] | None:
    """Ids of the organizations whose rows the user sees; None for a superuser (all)."""
    if request.user.is_superuser:
        return None
    return model_admin._allowed(request, "view") | model_admin._allowed(request, "change")


def may_change(model_admin, request, organization_id: int) -> bool:
    return request.user.is_superuser or organization_id in model_admin._allowed(request, "change")


# --- List actions --------------------------------------------------------------------------


def nothing_selected(model_admin, request, queryset) -> bool:
    """Only rows the user cannot see were ticked (another organization's ids): say so as
    Django does when nothing is ticked."""
    if queryset.exists():
        return False
    model_admin.message_user(
        request,
        _(
            "Items must be selected in order to perform actions on them. No items have "
            "been changed."
        ),
        messages.WARNING,
    )
    return True


def apply_each(model_admin, request, rows, call) -> int:
    """Call the service `call(row)` for each selected row; report each refusal as an error
    message naming the row ("Line 1234: ..."), and return how many were done."""
    done = 0
    for row in rows:
        if not may_change(model_admin, request, row.organization_id):
            refused = _("You may not change it.")
        else:
            try:
                call(row)
            except ApplicationError as error:
                refused = refusal_text(error)
            else:
                done += 1
                continue
        model_admin.message_user(
            request, _("%(row)s: %(error)s") % {"row": row, "error": refused}, messages.ERROR
        )
    return done


# --- List filters ------------------------------------------------------------------------


class ProductListFilter(admin.SimpleListFilter):
    """Rows whose box's items hold a product."""

    title = gettext_lazy("product")
    parameter_name = "product"
    #: The JSON list of the box's items, from the rows filtered.
    items_field = "items"

    def lookups(self, request, model_admin):
        products = Product.objects.order_by("name", "pk")
        visible = visible_organizations(request, model_admin)
        if visible is not None:
            products = products.filter(organization_id__in=visible)
        return [
            (str(pk), f"{name} ({sku})")
            for pk, name, sku in products.values_list("pk", "name", "sku")
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            product_id = int(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(**{f"{self.items_field}__contains": [{"product": product_id}]})
