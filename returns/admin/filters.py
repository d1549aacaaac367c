"""The cases' list filters: mine, overdue, by reason, by assignee."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from crm.admin_display import person, visible_organizations
from returns import services
from returns.models import ReturnReason, ReturnRequest

# --- Cases: list filters ----------------------------------------------------------------


class MyCasesListFilter(admin.SimpleListFilter):
    title = gettext_lazy("my cases")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("me", _("Assigned to me")), ("nobody", _("Assigned to nobody"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class OverdueListFilter(admin.SimpleListFilter):
    title = pgettext_lazy("list filter", "overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        late = Q(status__in=ReturnRequest.OPEN, due_at__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class ReasonListFilter(admin.SimpleListFilter):
    """The reasons of the organizations the user sees, retired ones included."""

    title = gettext_lazy("reason")
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        reasons = ReturnReason.objects.select_related("organization").order_by(
            "organization__name", "position", "id"
        )
        visible = visible_organizations(request, model_admin)
        if visible is not None:
            reasons = reasons.filter(organization_id__in=visible)
        reasons = list(reasons)
        several = len({reason.organization_id for reason in reasons}) > 1
        choices = []
        for reason in reasons:
            label = reason.display_label
            if not reason.active:
                label = _("%(label)s (retired)") % {"label": label}
            if several:
                label = f"{reason.organization}: {label}"
            choices.append((str(reason.pk), label))
        return choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(reason_id=int(self.value()))
        except ValueError:
            return queryset.none()


class AssigneeListFilter(admin.SimpleListFilter):
    """Who may own the cases the user sees, and who owns one of them now."""

    title = gettext_lazy("assignee")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        visible = visible_organizations(request, model_admin)
        users = get_user_model().objects.all()
        if visible is None:
            users = users.filter(
                Q(memberships__role__in=services.ASSIGNABLE_ROLES)
                | Q(return_requests__isnull=False)
            )
        else:
            users = users.filter(
                Q(
                    memberships__organization_id__in=visible,
                    memberships__role__in=services.ASSIGNABLE_ROLES,
                )
                | Q(return_requests__organization_id__in=visible)
            )
        users = users.distinct().order_by("first_name", "last_name", "username")
        return [(str(user.pk), person(user)) for user in users]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(assignee_id=int(self.value()))
        except ValueError:
            return queryset.none()
