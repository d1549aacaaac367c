"""Read-only rows: a case's timeline, and a subscription's cases."""

from __future__ import annotations

from datetime import date

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.admin_display import items_text, person
from crm.tenant_admin import (
    ReadOnlyTenantInline,
    when,
)
from returns.models import ReturnNote, ReturnRequest

Resolution = ReturnRequest.Resolution
NoteKind = ReturnNote.Kind

# --- Cases: the timeline and a subscription's cases ------------------------------------------


class ReturnNoteInline(ReadOnlyTenantInline):
    """The case's timeline, oldest first; times in the organization's (set by the page)."""

    model = ReturnNote
    fk_name = "request"
    verbose_name = gettext_lazy("timeline entry")
    verbose_name_plural = gettext_lazy("timeline")
    fields = ["when_column", "kind", "status_change", "text_column", "who"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")

    @admin.display(description=gettext_lazy("when"))
    def when_column(self, note):
        return when(note.created_at)

    @admin.display(description=gettext_lazy("status"))
    def status_change(self, note):
        if not note.from_status:
            return "-"
        return f"{note.get_from_status_display()} → {note.get_to_status_display()}"

    @admin.display(description=gettext_lazy("text"))
    def text_column(self, note):
        data = note.data or {}
        parts = []
        if note.kind == NoteKind.ASSIGNED:
            parts.append(_("To %(name)s.") % {"name": person(self._user(note, "assignee"))})
        if note.kind == NoteKind.OPENED and data.get("items"):
            parts.append(_("Items: %(items)s.") % {"items": items_text(data["items"])})
        if note.kind == NoteKind.STATUS and data.get("resolution") in Resolution.values:
            parts.append(Resolution(data["resolution"]).label + ".")
        if note.text:
            parts.append(note.text)
        if note.kind == NoteKind.OVERRIDE and data.get("window_closed_on"):
            closed = formats.date_format(date.fromisoformat(data["window_closed_on"]))
            parts.append(_("(The window closed on %(date)s.)") % {"date": closed})
        return " ".join(str(part) for part in parts) or "-"

    @admin.display(description=gettext_lazy("who"))
    def who(self, note):
        if note.actor_user is not None:
            return person(note.actor_user)
        return note.actor_display()

    def _user(self, note, key):
        """The user a note's data names, the case's ones read in one query."""
        users = getattr(self, "_users", None)
        if users is None:
            ids = set()
            for data in ReturnNote.objects.filter(
                request_id=note.request_id, kind=NoteKind.ASSIGNED
            ).values_list("data", flat=True):
                ids.update(value for value in (data or {}).values() if isinstance(value, int))
            users = self._users = get_user_model().objects.in_bulk(ids)
        return users.get((note.data or {}).get(key))


class SubscriptionCaseInline(ReadOnlyTenantInline):
    """A subscription's after-sales cases (`subscriptions.admin.SubscriptionAdmin`)."""

    model = ReturnRequest
    fk_name = "subscription"
    verbose_name = gettext_lazy("after-sales case")
    verbose_name_plural = gettext_lazy("after-sales cases")
    fields = ["case_link", "status", "reason", "opened", "assignee_column", "resolution"]
    readonly_fields = fields
    ordering = ["-opened_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reason", "assignee")

    @admin.display(description=gettext_lazy("case"))
    def case_link(self, case):
        url = reverse("admin:returns_returnrequest_change", args=[case.pk])
        return format_html('<a href="{}" class="return-case">{}</a>', url, case)

    @admin.display(description=gettext_lazy("opened"))
    def opened(self, case):
        return when(case.opened_at)

    @admin.display(description=gettext_lazy("assignee"))
    def assignee_column(self, case):
        return person(case.assignee) if case.assignee_id else "-"
