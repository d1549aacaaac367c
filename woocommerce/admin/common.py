"""What the sync's admin pages share: links, the "by shop" filter, the base admins."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import admin
from django.urls import reverse
from django.utils.text import Truncator

from crm.tenant_admin import ReadOnlyAdminMixin, TenantAdmin


def changelist_url(model, **filters) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if filters:
        url += "?" + "&".join(f"{key}={quote(str(value))}" for key, value in filters.items())
    return url


def change_url(model, pk) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


class ShopListFilter(admin.RelatedFieldListFilter):
    """The "by shop" filter, naming only the shops of the organizations the user may view."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        if request.user.is_superuser:
            return field.get_choices(include_blank=False, ordering=ordering)
        visible = model_admin._allowed(request, "view") | model_admin._allowed(request, "change")
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"organization_id__in": visible},
        )


class SyncAdmin(TenantAdmin):
    """Shared by the sync's admins: the organization column for people who see several."""

    organization_column = True  # for staff of several organizations


class ReadOnlySyncAdmin(ReadOnlyAdminMixin, SyncAdmin):
    """Rows the sync writes: everyone who may view them reads them, nobody edits them."""


def first_line_of(error: str, length: int = 80) -> str:
    first_line = (error or "").strip().splitlines()[:1]
    return Truncator(first_line[0]).chars(length) if first_line else ""
