"""Admin base classes that keep each staff member inside their organizations.

A staff user sees only the rows of organizations they are a member of, is
offered only those rows in foreign-key choices, and gets a 404 for another
organization's change page. What they may do follows their membership role:

    viewer: view     staff: view, add, change     admin: also delete

Superusers see and do everything. Every tenant-owned model's admin inherits
`TenantAdmin` (and its inlines `TenantTabularInline`/`TenantStackedInline`).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.periods import month_bounds
from crm.models import Membership, Organization, TenantModel

Role = Membership.Role

# The least role each admin action needs.
REQUIRED_ROLE = {"view": Role.VIEWER, "add": Role.STAFF, "change": Role.STAFF, "delete": Role.ADMIN}
#: An organization's settings: its administrators decide, everyone may read.
ADMINS_DECIDE = {"view": Role.VIEWER, "add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
_RANK = {Role.VIEWER: 1, Role.STAFF: 2, Role.ADMIN: 3}


def organization_roles(request) -> dict[int, str]:
    """{organization id: role} of the request's user, read once per request."""
    if not hasattr(request, "_organization_roles"):
        user = request.user
        request._organization_roles = (
            dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
            if user.is_authenticated and user.is_active
            else {}
        )
    return request._organization_roles


def organizations_allowing(
    request, action: str, required: dict[str, str] | None = None
) -> set[int]:
    """Ids of the organizations in which the user may perform `action`."""
    need = _RANK[(required or REQUIRED_ROLE)[action]]
    return {org for org, role in organization_roles(request).items() if _RANK[role] >= need}


class TenantAdminMixin:
    """Scoping shared by model admins and inlines. The model has `organization`."""

    # Override per admin to demand a higher role (e.g. API keys: admin only).
    required_roles: dict[str, str] = REQUIRED_ROLE
    # The row's organization: a foreign key's name, or "pk" for Organization itself.
    organization_field = "organization"

    def _allowed(self, request, action: str) -> set[int]:
        return organizations_allowing(request, action, self.required_roles)

    def _organization_id(self, obj) -> int | None:
        if self.organization_field == "pk":
            return obj.pk
        return getattr(obj, f"{self.organization_field}_id", None)

    def _has(self, request, action: str, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        allowed = self._allowed(request, action)
        organization_id = self._organization_id(obj) if obj is not None else None
        if organization_id is not None:
            return organization_id in allowed
        return bool(allowed)

    def has_module_permission(self, request):
        return request.user.is_superuser or bool(self._allowed(request, "view"))

    def has_view_permission(self, request, obj=None):
        return self._has(request, "view", obj) or self._has(request, "change", obj)

    def has_add_permission(self, request, *args):
        return self._has(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._has(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._has(request, "delete", obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        lookup = "pk" if self.organization_field == "pk" else f"{self.organization_field}_id"
        return queryset.filter(**{f"{lookup}__in": self._allowed(request, "view")})

    def get_object(self, request, object_id, from_field=None):
        # Another organization's row answers exactly like a missing one: 404,
        # not Django's redirect to the changelist with a message.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def _limit_choices(self, db_field, request, kwargs) -> None:
        if request.user.is_superuser:
            return
        related = db_field.related_model
        writable = self._allowed(request, "change") | self._allowed(request, "add")
        if related is Organization:
            kwargs["queryset"] = Organization.objects.filter(pk__in=writable)
        elif isinstance(related, type) and issubclass(related, TenantModel):
            kwargs["queryset"] = related._default_manager.filter(organization_id__in=writable)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._limit_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        # The changelist lists every row the user may view, but its editable
        # columns (list_editable) only save rows they may change: the others'
        # fields are disabled, so a viewer of an organization cannot change its
        # rows from the list (Django only checks the change permission without
        # an object there).
        formset = super().get_changelist_formset(request, **kwargs)
        model_admin = self

        class TenantChangelistFormSet(formset):
            def _construct_form(self, i, **kwargs):
                form = super()._construct_form(i, **kwargs)
                instance = form.instance
                if not instance._state.adding and not model_admin.has_change_permission(
                    request, instance
                ):
                    pk_name = self.model._meta.pk.name
                    for name, field in form.fields.items():
                        if name != pk_name:
                            field.disabled = True
                return form

        return TenantChangelistFormSet


class OrganizationListFilter(admin.RelatedFieldListFilter):
    """The "by organization" filter, naming only the organizations the user may view.

    Django's related filter would list every organization, leaking other
    tenants' names to anyone who sees the filter.
    """

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        if request.user.is_superuser:
            return field.get_choices(include_blank=False, ordering=ordering)
        if isinstance(model_admin, TenantAdminMixin):
            visible = model_admin._allowed(request, "view") | model_admin._allowed(
                request, "change"
            )
        else:
            visible = set(organization_roles(request))
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"pk__in": visible}
        )


class LocalMonthListFilter(admin.SimpleListFilter):
    """Rows whose `field_name` falls in this month or the last, in each organization's time zone.

    Subclasses name the field, the title and the parameter.
    """

    field_name: str
    PERIODS = {"month": 0, "last_month": 1}

    def lookups(self, request, model_admin):
        return [("month", _("This month")), ("last_month", _("Last month"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        months_ago = self.PERIODS.get(self.value())
        if months_ago is None:
            return queryset.none()
        zones = Organization.objects.order_by().values_list("timezone", flat=True).distinct()
        if not request.user.is_superuser:
            zones = zones.filter(pk__in=organization_roles(request))
        now = timezone.now()
        within = Q(pk__in=[])
        for name in zones:
            start, end = month_bounds(now, zoneinfo.ZoneInfo(name), months_ago)
            within |= Q(
                organization__timezone=name,
                **{f"{self.field_name}__gte": start, f"{self.field_name}__lt": end},
            )
        return queryset.filter(within)


class TenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_select_related = ["organization"]
    #: Add an "organization" column for a staff member of several organizations.
    organization_column = False

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        several = request.user.is_superuser or len(organization_roles(request)) > 1
        if self.organization_column and several and "organization" not in columns:
            columns.append("organization")
        return columns

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        writable = self._allowed(request, "add")
        if "organization" not in initial and len(writable) == 1:
            initial["organization"] = next(iter(writable))
        return initial

    def get_readonly_fields(self, request, obj=None):
        # An existing row never moves to another organization: its addresses,
        # contracts and history would stay behind in the old one.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "organization" not in fields:
            fields.append("organization")
        return fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser or len(organization_roles(request)) > 1:
            filters.insert(0, ("organization", OrganizationListFilter))
        return filters


class ReadOnlyAdminMixin:
    """Rows read in the admin, never added, edited or deleted there (the services write them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionsOnlyTenantAdmin(TenantAdmin):
    """Rows nobody adds, edits or deletes by hand; the list's actions still run.

    Charges, webhook deliveries: they change only through their services, which
    the list's actions call.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # No field is edited by hand; "change" only opens the actions of the list.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class TenantInlineFormSet(BaseInlineFormSet):
    """Inline rows belong to their parent's organization."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if getattr(self.instance, "organization_id", None):
            form.instance.organization_id = self.instance.organization_id
        return form


class TenantInlineMixin(TenantAdminMixin):
    formset = TenantInlineFormSet
    exclude = ("organization",)

    def has_add_permission(self, request, obj=None):
        return self._has(request, "add", obj)


class TenantTabularInline(TenantInlineMixin, admin.TabularInline):
    pass


class TenantStackedInline(TenantInlineMixin, admin.StackedInline):
    pass


class ReadOnlyTenantInline(TenantTabularInline):
    """Rows shown on their parent's page and never edited there (history, charges)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoteInline(TenantTabularInline):
    """Staff notes on a page: new ones are written, old ones only read (newest first).

    The parent admin writes each new note through its service in `save_formset`
    (`save_notes`), so the author is the staff member and nothing else is saved.
    """

    extra = 1
    can_delete = False
    fields = ["text", "author", "written"]
    readonly_fields = ["author", "written"]

    def has_change_permission(self, request, obj=None):
        return False  # a note is kept as written: the rows are read only

    @admin.display(description=gettext_lazy("by"))
    def author(self, note):
        return note.actor_display() if note.pk else ""

    @admin.display(description=gettext_lazy("time"))
    def written(self, note):
        return when(note.created_at) if note.pk else ""


def save_notes(request, formset, write) -> int:
    """Write each new note of `formset` with `write(parent, text, actor)`; returns how many."""
    from core.actors import Actor

    written = 0
    for form in formset.extra_forms:
        text = form.cleaned_data.get("text") if form.has_changed() else None
        if text and text.strip():
            write(formset.instance, text, Actor.for_user(request.user))
            written += 1
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    return written


def when(value: datetime | None, tz=None) -> str:
    """An instant as staff read it: localized, in `tz` (default: the current time zone)."""
    if value is None:
        return "-"
    return formats.date_format(timezone.localtime(value, tz), "DATETIME_FORMAT")


def money(amount: Decimal, currency: str) -> str:
    """An amount as staff read it: localized, with its currency."""
    return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} {currency}"


def labels_text(obj) -> str:
    """A row's labels per language (`labels`), as one line: "French: Mouture; ..."."""
    names = dict(settings.LANGUAGES)
    return "; ".join(
        f"{names.get(code, code)}: {text}" for code, text in sorted((obj.labels or {}).items())
    )


class OrganizationTimeChangeViewMixin:
    """A change page read in the time zone of its row's organization.

    The page's context is built, and its template rendered, inside the override (a
    TemplateResponse renders lazily, after the view returns). `change_context(request,
    obj)` adds what the page shows beside the form.
    """

    def change_context(self, request, obj) -> dict:
        return {}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        with timezone.override(obj.organization.tzinfo):
            context = {**(extra_context or {}), **self.change_context(request, obj)}
            response = super().change_view(request, object_id, form_url, context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response
