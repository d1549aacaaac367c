"""The back office's satisfaction pages: survey settings, the surveys, and the report.

- Settings are one row per organization (surveys on or off, the delays, the
  sender, the texts in each language), chosen by its administrators; staff
  and viewers read them. An organization reaching the page for the first time
  finds its row (`services.satisfaction_config_ensure`). A text refused by the
  model (an unknown placeholder, an e-mail without {link}) is shown on its field.
- Surveys are read-only: they are scheduled, sent, answered and expired by
  `satisfaction.services`. The list shows each answer's score with its band,
  the comment, the box's products and what was done about it; the detractors'
  comments still to follow up come first, then the latest answers. A survey's
  page has the buttons "Open an after-sales case", "Mark followed up" and
  "Cancel" (`crm.fsm_admin.ServiceActionsAdminMixin`), each calling its
  service; viewers see none. While the survey is open its page shows the
  customer's link, for staff to give on the phone.
- The report (`<admin>/satisfaction/satisfactionsurvey/report/`, linked from the
  list) shows one organization's NPS over the last weeks: the figure with its
  margin of error, the response rate, the bands, a chart per week and the
  distribution of the scores (inline SVG drawn by `satisfaction.charts`), the
  NPS per product and per preference value, and the comments to follow up.

Times are in the survey's organization's time zone; the list's "answered"
periods too.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, F, Q, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone, translation
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.periods import local_midnight, months_back, today_in, week_start
from crm.admin_display import (
    ProductListFilter,
    apply_each,
    items_text,
    local_time,
    nothing_selected,
    person,
    visible_organizations,
)
from crm.fsm_admin import ObjectActionForm, ServiceActionsAdminMixin
from crm.models import Organization
from crm.tenant_admin import (
    ADMINS_DECIDE,
    ActionsOnlyTenantAdmin,
    ReadOnlyTenantInline,
    TenantAdmin,
    organization_roles,
    when,
)
from satisfaction import charts, selectors, services
from satisfaction.models import SatisfactionConfig, SatisfactionSurvey, ScoreBand, SurveyOptOut
from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN, Nps

Status = SatisfactionSurvey.Status


#: The report's periods, in weeks, and the one shown first.
REPORT_WEEKS = (4, 12, 26, 52)
DEFAULT_REPORT_WEEKS = 12
#: Comments to follow up listed on the report.
REPORT_FOLLOW_UPS = 10

#: A band's badge: readable on the light and the dark theme alike.
PLACEHOLDER_HELP = gettext_lazy(
    "The texts may hold {first_name} (the customer's first name), {organization} (the "
    "organization's name) and {link} (the survey's link, required in the e-mail text). A "
    "blank text uses the default wording, translated."
)


# --- Formatting -------------------------------------------------------------------------


def number(value, decimals: int = 0) -> str:
    """A number in the active language's format ("1 234" in French)."""
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def whole(value: float) -> Decimal:
    """`value` rounded half away from zero (16.67 -> 17, -12.5 -> -13), never "-0"."""
    rounded = Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return rounded if rounded else Decimal(0)


def nps_number(value: float | None) -> str:
    return "-" if value is None else number(whole(value))


def answers_text(count: int) -> str:
    return ngettext("%(count)s answer", "%(count)s answers", count) % {"count": number(count)}


#: Below this many answers the margin of error (a normal approximation) means nothing: a row
#: of two detractors would read "-100 ± 0".
MIN_ANSWERS_FOR_MARGIN = 5


def nps_headline(nps: Nps) -> str:
    """ "NPS 32 ± 18, 41 answers"."""
    if not nps.answers:
        return _("No answers")
    if nps.answers < MIN_ANSWERS_FOR_MARGIN:
        return _("NPS %(score)s, %(answers)s: too few for a margin of error") % {
            "score": nps_number(nps.score),
            "answers": answers_text(nps.answers),
        }
    return _("NPS %(score)s ± %(margin)s, %(answers)s") % {
        "score": nps_number(nps.score),
        "margin": nps_number(nps.margin),
        "answers": answers_text(nps.answers),
    }


def percent(part: int, total: int) -> str:
    if not total:
        return "-"
    return _("%(percent)s%%") % {"percent": number(whole(100 * part / total))}


def customer_name(customer) -> str:
    return customer.full_name or customer.email


def score_badge(survey: SatisfactionSurvey):
    if survey.score is None:
        return "-"
    band = ScoreBand(survey.band)
    return format_html(
        # Its colours: static/backoffice/admin.css (no style attribute under the CSP).
        '<span class="score-badge band-{}" title="{}">{}</span>',
        band.value,
        band.label,
        survey.score,
    )


def case_url(case_id: int) -> str:
    return reverse("admin:returns_returnrequest_change", args=[case_id])


def follow_up_state(survey: SatisfactionSurvey):
    """What was done about an answer: to follow up, the case opened from it, followed up."""
    if survey.return_request_id:
        return format_html(
            '<a href="{}" class="follow-up-case">{}</a>',
            case_url(survey.return_request_id),
            _("Case %(number)s") % {"number": survey.return_request_id},
        )
    if survey.needs_follow_up:
        return format_html(
            '<strong class="follow-up-todo">{}</strong>',
            _("To follow up"),
        )
    if survey.followed_up_at is not None:
        return format_html('<span class="follow-up-done">{}</span>', _("Followed up"))
    return "-"


def ensure_satisfaction_configs(organization_ids) -> None:
    """Settings for those organizations that have none yet."""
    missing = Organization.objects.filter(
        pk__in=organization_ids, satisfaction_config__isnull=True
    ).order_by("pk")
    for organization in missing:
        services.satisfaction_config_ensure(organization=organization)


# --- Settings ---------------------------------------------------------------------------


@admin.register(SatisfactionConfig)
class SatisfactionConfigAdmin(TenantAdmin):
    """An organization's survey rules and texts: its administrators choose."""

    required_roles = ADMINS_DECIDE
    list_display = [
        "organization",
        "enabled",
        "delay_days",
        "cooling_days",
        "expiry_days",
        "own_texts",
    ]
    readonly_fields = ["updated_at"]
    rules = [
        "organization",
        "enabled",
        "delay_days",
        "cooling_days",
        "expiry_days",
        "from_email",
        "updated_at",
    ]

    def has_delete_permission(self, request, obj=None):
        # Without its row the organization's texts and rules would silently go back to the
        # defaults.
        return False

    def changelist_view(self, request, extra_context=None):
        ensure_satisfaction_configs(organization_roles(request))
        return super().changelist_view(request, extra_context)

    def get_fieldsets(self, request, obj=None):
        names = dict(settings.LANGUAGES)
        fieldsets: list[tuple[Any, dict[str, Any]]] = [(None, {"fields": self.rules})]
        for code, _name in settings.LANGUAGES:
            fieldsets.append(
                (
                    _("Texts in %(language)s") % {"language": names[code]},
                    {
                        "fields": [f"{kind}_{code}" for kind in SatisfactionConfig.TEXT_FIELDS],
                        "description": PLACEHOLDER_HELP,
                        "classes": ["satisfaction-texts", f"language-{code}"],
                    },
                )
            )
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            # The default question, in each language, where the organization's own would go.
            for code, _name in settings.LANGUAGES:
                field = form_class.base_fields.get(f"question_{code}")
                if field is not None:
                    with translation.override(code):
                        field.widget.attrs["placeholder"] = services.default_question(
                            obj.organization
                        )
        return form_class

    @admin.display(description=gettext_lazy("own texts"))
    def own_texts(self, config):
        """The languages in which the organization wrote texts of its own."""
        names = dict(settings.LANGUAGES)
        written = [
            str(names[code])
            for code, _name in settings.LANGUAGES
            if any(
                getattr(config, f"{kind}_{code}").strip() for kind in SatisfactionConfig.TEXT_FIELDS
            )
        ]
        return ", ".join(written) or _("Default wording")


# --- Opt-outs ------------------------------------------------------------------------------


class SurveyOptOutForm(forms.ModelForm):
    class Meta:
        model = SurveyOptOut
        fields = ["customer"]


@admin.register(SurveyOptOut)
class SurveyOptOutAdmin(TenantAdmin):
    """Customers who receive no surveys: from the link in an e-mail, or added by staff when a
    customer asks on the phone. Deleting one lets the surveys resume."""

    form = SurveyOptOutForm
    list_display = ["customer", "customer_email", "created_at"]
    search_fields = ["customer__email", "customer__first_name", "customer__last_name"]
    autocomplete_fields = ["customer"]
    list_select_related = ["organization", "customer"]

    @admin.display(description=gettext_lazy("e-mail"), ordering="customer__email")
    def customer_email(self, opt_out):
        return opt_out.customer.email

    def get_readonly_fields(self, request, obj=None):
        return ["customer", "created_at"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        # The customer field offers only the organizations the user may add to.
        if not change:
            obj.pk = services.customer_opt_out(customer=form.cleaned_data["customer"]).pk


# --- Surveys: list filters -------------------------------------------------------------------


class ScoreBandListFilter(admin.SimpleListFilter):
    title = gettext_lazy("score")
    parameter_name = "band"

    def lookups(self, request, model_admin):
        return [*ScoreBand.choices, ("none", _("Not answered"))]

    def queryset(self, request, queryset):
        bands = {
            ScoreBand.PROMOTER: Q(score__gte=PROMOTER_MIN),
            ScoreBand.PASSIVE: Q(score__gte=PASSIVE_MIN, score__lt=PROMOTER_MIN),
            ScoreBand.DETRACTOR: Q(score__lt=PASSIVE_MIN),
            "none": Q(score__isnull=True),
        }
        if self.value() is None:
            return queryset
        if self.value() not in bands:
            return queryset.none()
        return queryset.filter(bands[self.value()])


class BoxProductListFilter(ProductListFilter):
    """Surveys about a box that held a product."""

    items_field = "shipment__line__items"


class AnsweredListFilter(admin.SimpleListFilter):
    """Answered (first) in a recent period, counted in each organization's time zone.

    A week starts on Monday; "last 4 weeks" is this week and the three before it,
    "last 3 months" this month and the two before it, as on the report; "last 30 days"
    is today and the 29 days before it, as on the dashboard.
    """

    title = gettext_lazy("answered")
    parameter_name = "answered"

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin  # whose organizations the user sees
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [
            ("week", _("This week")),
            ("4weeks", _("Last 4 weeks")),
            ("30days", _("Last 30 days")),
            ("month", _("This month")),
            ("3months", _("Last 3 months")),
        ]

    @staticmethod
    def first_day(period: str, today: date) -> date:
        return {
            "week": week_start(today),
            "4weeks": week_start(today) - timedelta(weeks=3),
            "30days": today - timedelta(days=selectors.RECENT_DAYS - 1),
            "month": today.replace(day=1),
            "3months": months_back(today, 2),
        }[period]

    def queryset(self, request, queryset):
        period = self.value()
        if period is None:
            return queryset
        if period not in dict(self.lookup_choices):
            return queryset.none()
        zones = Organization.objects.order_by().values_list("timezone", flat=True).distinct()
        visible = visible_organizations(request, self.model_admin)
        if visible is not None:
            zones = zones.filter(pk__in=visible)
        since = Q(pk__in=[])
        for name in zones:
            tz = zoneinfo.ZoneInfo(name)
            start = local_midnight(self.first_day(period, today_in(timezone.now(), tz)), tz)
            since |= Q(organization__timezone=name, answered_at__gte=start)
        return queryset.filter(since)


class FollowUpListFilter(admin.SimpleListFilter):
    title = gettext_lazy("follow-up")
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [
            ("todo", _("To follow up")),
            ("case", _("After-sales case opened")),
            ("done", _("Followed up")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "todo":
            return queryset.filter(SatisfactionSurvey.TO_FOLLOW_UP)
        if self.value() == "case":
            return queryset.filter(return_request__isnull=False)
        if self.value() == "done":
            return queryset.filter(followed_up_at__isnull=False)
        return queryset


# --- Surveys: the buttons' forms and a subscription's surveys ----------------------------------


class CancelForm(ObjectActionForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Optional; shown on the survey. E.g. the customer called us."),
    )


class SurveyColumns:
    """The columns the survey list and a subscription's surveys share."""

    @admin.display(description=gettext_lazy("score"), ordering="score")
    def score_column(self, survey):
        return score_badge(survey)

    @admin.display(description=gettext_lazy("comment"))
    def comment_column(self, survey):
        return Truncator(survey.comment).chars(80) or "-"

    @admin.display(description=gettext_lazy("follow-up"), ordering="followed_up_at")
    def follow_up_column(self, survey):
        return follow_up_state(survey)


class SubscriptionSurveyInline(SurveyColumns, ReadOnlyTenantInline):
    """A subscription's satisfaction surveys (`subscriptions.admin.SubscriptionAdmin`)."""

    model = SatisfactionSurvey
    fk_name = "subscription"
    verbose_name = gettext_lazy("satisfaction survey")
    verbose_name_plural = gettext_lazy("satisfaction surveys")
    fields = [
        "survey_link",
        "status",
        "score_column",
        "comment_column",
        "sent_column",
        "answered_column",
        "follow_up_column",
    ]
    readonly_fields = fields
    ordering = ["-send_at", "-id"]

    @admin.display(description=gettext_lazy("survey"))
    def survey_link(self, survey):
        url = reverse("admin:satisfaction_satisfactionsurvey_change", args=[survey.pk])
        return format_html('<a href="{}" class="satisfaction-survey">{}</a>', url, survey)

    @admin.display(description=gettext_lazy("sent"))
    def sent_column(self, survey):
        return when(survey.sent_at)

    @admin.display(description=gettext_lazy("answered"))
    def answered_column(self, survey):
        return when(survey.answered_at)


# --- Surveys ----------------------------------------------------------------------------


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(SurveyColumns, ServiceActionsAdminMixin, ActionsOnlyTenantAdmin):
    """Surveys change only through their services: the list's action and the page's buttons."""

    organization_column = True  # for staff of several organizations

    change_list_template = "admin/satisfaction/satisfactionsurvey/change_list.html"
    change_form_template = "admin/satisfaction/satisfactionsurvey/change_form.html"
    report_template = "admin/satisfaction/satisfactionsurvey/report.html"
    fsm_forms = {"cancel": CancelForm}
    action_labels = {
        "open_case": gettext_lazy("Open an after-sales case"),
        "mark_followed_up": gettext_lazy("Mark followed up"),
        "cancel": gettext_lazy("Cancel"),
    }

    list_display = [
        "customer_column",
        "score_column",
        "comment_column",
        "status",
        "products_column",
        "sent_column",
        "answered_column",
        "follow_up_column",
    ]
    list_display_links = ["customer_column"]
    list_filter = [
        "status",
        ScoreBandListFilter,
        BoxProductListFilter,
        AnsweredListFilter,
        FollowUpListFilter,
    ]
    list_select_related = ["organization", "customer", "shipment__line"]
    search_fields = ["customer__first_name", "customer__last_name", "customer__email"]
    search_help_text = gettext_lazy("A customer's name or e-mail.")
    actions = ["mark_followed_up"]

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "status",
                    "customer",
                    "subscription",
                    "shipment",
                    "products_column",
                    "language",
                ]
            },
        ),
        (
            gettext_lazy("Answer"),
            {
                "fields": [
                    "score_column",
                    "comment",
                    "answered_at",
                    "answer_changed_at",
                    "public_link",
                ]
            },
        ),
        (
            gettext_lazy("Follow-up"),
            {
                "fields": [
                    "follow_up_column",
                    "return_request",
                    "followed_up_at",
                    "followed_up_by_column",
                ]
            },
        ),
        (
            gettext_lazy("Sending"),
            {
                "fields": [
                    "delivered_at",
                    "send_at",
                    "sent_at",
                    "expires_at",
                    "send_attempts",
                    "last_error",
                    "cancel_reason",
                    "canceled_note",
                ]
            },
        ),
    ]

    # --- Changelist

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                to_follow_up=Case(
                    When(SatisfactionSurvey.TO_FOLLOW_UP, then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                )
            )
        )

    def get_ordering(self, request):
        # The comments someone should answer first, then the latest answers.
        return [
            F("to_follow_up").desc(),
            F("answered_at").desc(nulls_last=True),
            "-send_at",
            "-id",
        ]

    def changelist_view(self, request, extra_context=None):
        context = {"report_url": self._report_url(), **(extra_context or {})}
        return super().changelist_view(request, context)

    @admin.display(description=gettext_lazy("customer"), ordering="customer__last_name")
    def customer_column(self, survey):
        return customer_name(survey.customer)

    @admin.display(description=gettext_lazy("products"))
    def products_column(self, survey):
        return items_text(survey.shipment.line.items)

    sent_column = local_time("sent_at", gettext_lazy("sent"), ordering=True)
    answered_column = local_time("answered_at", gettext_lazy("answered"), ordering=True)

    @admin.action(description=gettext_lazy("Mark followed up"), permissions=["change"])
    def mark_followed_up(self, request, queryset):
        if nothing_selected(self, request, queryset):
            return
        actor = Actor.for_user(request.user)
        done = apply_each(
            self,
            request,
            queryset.select_related("organization"),
            lambda survey: services.survey_mark_followed_up(survey=survey, actor=actor),
        )
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d survey marked followed up.",
                    "%(count)d surveys marked followed up.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )

    # --- The change page

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.is_open():
            return self.fieldsets
        # The customer's link only while they may answer.
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f != "public_link"]})
            for title, options in self.fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        survey = self.get_object(request, unquote(object_id))
        with timezone.override(survey.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    @admin.display(description=gettext_lazy("followed up by"))
    def followed_up_by_column(self, survey):
        if survey.followed_up_at is None:
            return "-"
        if survey.followed_up_by_id is None:
            return _("(automatically)")
        return person(survey.followed_up_by)

    @admin.display(description=gettext_lazy("the customer's link"))
    def public_link(self, survey):
        url = services.survey_url(survey)
        return format_html(
            '<a href="{}" class="survey-public-link" target="_blank" rel="noopener">{}</a>'
            '<div class="help">{}</div>',
            url,
            url,
            _(
                "Open until %(date)s: give it to a customer who would rather answer now, "
                "e.g. on the phone."
            )
            % {"date": when(survey.expires_at)},
        )

    # --- Buttons (crm.fsm_admin.ServiceActionsAdminMixin)

    def admin_actions(self) -> dict:
        return {
            "open_case": self._open_case,
            "mark_followed_up": self._mark_followed_up,
            "cancel": self._cancel,
        }

    def action_available(self, survey, name: str) -> bool:
        if name == "open_case":
            return survey.status == Status.ANSWERED and not survey.return_request_id
        if name == "mark_followed_up":
            return survey.status == Status.ANSWERED and survey.followed_up_at is None
        return super().action_available(survey, name)

    def not_possible_message(self, survey, label: str) -> str:
        follow_ups = {str(self.action_labels[name]) for name in ("open_case", "mark_followed_up")}
        if survey.status == Status.ANSWERED and label in follow_ups:
            return _("“%(action)s” was already done for this survey.") % {"action": label}
        return _("“%(action)s” is not possible now: the survey is %(status)s.") % {
            "action": label,
            "status": survey.get_status_display().lower(),
        }

    def describe_transition(self, survey, name: str) -> str:
        if name == "open_case":
            return _(
                "An after-sales case is opened about this box, quoting the score and the "
                "comment, accepted outside the return window. The survey counts as followed up."
            )
        if name == "mark_followed_up":
            return _("Someone took care of this answer (called the customer, wrote back...).")
        if name == "cancel":
            return _("The survey will not be sent.")
        return ""

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        if transition_name != "open_case" or request.method != "POST":
            return super().fsm_transition_view(request, object_id, transition_name, **kwargs)
        before = self.get_object(request, unquote(object_id)).return_request_id
        response = super().fsm_transition_view(request, object_id, transition_name, **kwargs)
        after = (
            SatisfactionSurvey.objects.filter(pk=unquote(object_id))
            .values_list("return_request_id", flat=True)
            .first()
        )
        if isinstance(response, HttpResponseRedirect) and after and after != before:
            # Opened: the case is where the work goes on.
            return HttpResponseRedirect(case_url(after))
        return response

    # One per button: call the service, say what happened.

    def _open_case(self, survey, actor, data):
        case = services.survey_open_case(survey=survey, actor=actor)
        return _("%(case)s is open about this box; the survey counts as followed up.") % {
            "case": case
        }

    def _mark_followed_up(self, survey, actor, data):
        services.survey_mark_followed_up(survey=survey, actor=actor)
        return _("%(survey)s is marked followed up.") % {"survey": survey}

    def _cancel(self, survey, actor, data):
        services.survey_cancel(survey=survey, actor=actor, reason=data.get("reason", ""))
        return _("%(survey)s is canceled: it will not be sent.") % {"survey": survey}

    # --- The report

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name=f"{opts.app_label}_{opts.model_name}_report",
            ),
            *super().get_urls(),
        ]

    def _report_url(self) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_report", current_app=self.admin_site.name
        )

    def report_organizations(self, request) -> list[Organization]:
        """The organizations whose figures the user may see, by name."""
        organizations = Organization.objects.order_by("name", "pk")
        visible = visible_organizations(request, self)
        if visible is not None:
            organizations = organizations.filter(pk__in=visible)
        return list(organizations)

    def report_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        organizations = self.report_organizations(request)
        chosen = request.GET.get("organization")
        if chosen:
            # Another organization's id answers like an unknown one.
            organization = next((o for o in organizations if str(o.pk) == chosen), None)
        else:
            organization = organizations[0] if organizations else None
        if organization is None:
            raise Http404
        try:
            weeks = int(request.GET.get("weeks", DEFAULT_REPORT_WEEKS))
        except ValueError:
            weeks = DEFAULT_REPORT_WEEKS
        if weeks not in REPORT_WEEKS:
            weeks = DEFAULT_REPORT_WEEKS
        several = len(organizations) > 1
        with timezone.override(organization.tzinfo):
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Satisfaction"),
                "subtitle": organization.name,
                "organizations": organizations,
                "organization": organization,
                "several": several,
                "weeks": weeks,
                "week_choices": [
                    (
                        choice,
                        ngettext("Last %(count)d week", "Last %(count)d weeks", choice)
                        % {"count": choice},
                    )
                    for choice in REPORT_WEEKS
                ],
                "changelist_url": reverse("admin:satisfaction_satisfactionsurvey_changelist"),
                **report_figures(organization, weeks, several=several),
            }
            response = TemplateResponse(request, self.report_template, context)
            response.render()
        return response


# --- The report's figures ---------------------------------------------------------------


def report_period(organization: Organization, weeks: int) -> tuple[datetime, datetime]:
    """The last `weeks` weeks (Monday to Sunday, in the organization's time), this one
    included: from their first Monday to the end of today."""
    tz = organization.tzinfo
    today = today_in(timezone.now(), tz)
    first = week_start(today) - timedelta(weeks=weeks - 1)
    return local_midnight(first, tz), local_midnight(today + timedelta(days=1), tz)


def nps_cells(nps: Nps) -> dict[str, str]:
    """An NPS as a table row's cells."""
    return {
        "answers": number(nps.answers),
        "score": nps_number(nps.score),
        "margin": ("± " + nps_number(nps.margin) if nps.answers >= MIN_ANSWERS_FOR_MARGIN else "-"),
        "promoters": number(nps.promoters),
        "passives": number(nps.passives),
        "detractors": number(nps.detractors),
    }


def week_label(monday) -> str:
    """A week's label under a chart, in the reader's language ("14 sept.", "Sept. 14")."""
    return formats.date_format(monday, "j N")


def week_chart(
    organization: Organization, start: datetime, end: datetime, *, card: bool = False
) -> str:
    """The NPS week by week; `card`: drawn for a dashboard card (smaller, fewer labels)."""
    points = []
    for monday, nps in selectors.nps_by_week(organization=organization, start=start, end=end):
        title = ""
        if nps.answers:
            title = _("Week of %(date)s: NPS %(score)s, %(answers)s") % {
                "date": formats.date_format(monday),
                "score": nps_number(nps.score),
                "answers": answers_text(nps.answers),
            }
        points.append(charts.WeekPoint(label=week_label(monday), value=nps.score, title=title))
    if card:
        chart = charts.nps_line(
            points, number=number, frame=charts.CARD_FRAME, labels=charts.CARD_X_LABELS
        )
    else:
        chart = charts.nps_line(points, number=number)
    return charts.svg_line_chart(
        chart, label=str(_("NPS by week")), empty_text=str(_("No answers"))
    )


def distribution_chart(counts: list[int]) -> str:
    titles = [
        ngettext("Score %(score)s: %(count)s answer", "Score %(score)s: %(count)s answers", count)
        % {"score": score, "count": number(count)}
        for score, count in enumerate(counts)
    ]
    chart = charts.score_bars(counts, titles=titles, number=number)
    return charts.svg_bar_chart(
        chart, label=str(_("Scores given")), empty_text=str(_("No answers"))
    )


def surveys_url(organization: Organization, *, several: bool, **params) -> str:
    """The surveys' list filtered by `params` (and the organization, for who sees several)."""
    if several:
        params["organization__id__exact"] = organization.pk
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{reverse('admin:satisfaction_satisfactionsurvey_changelist')}?{query}"


def report_figures(organization: Organization, weeks: int, *, several: bool) -> dict[str, Any]:
    """Everything the report shows of one organization: a fixed number of queries."""
    start, end = report_period(organization, weeks)
    summary = selectors.nps_summary(organization=organization, start=start, end=end)
    nps = summary.nps
    counts = selectors.score_distribution(organization=organization, start=start, end=end)
    if summary.response_rate is None:
        rate = _("No survey was sent in this period.")
    else:
        rate = _("%(rate)s answered: %(answered)s of the %(sent)s surveys sent in the period.") % {
            "rate": percent(summary.answered_of_sent, summary.sent),
            "answered": number(summary.answered_of_sent),
            "sent": number(summary.sent),
        }
    bands = [
        {
            "band": band.value,
            "label": band.label,
            "count": number(count),
            "percent": percent(count, nps.answers),
        }
        for band, count in (
            (ScoreBand.PROMOTER, nps.promoters),
            (ScoreBand.PASSIVE, nps.passives),
            (ScoreBand.DETRACTOR, nps.detractors),
        )
    ]
    products = []
    for row in selectors.nps_by_product(organization=organization, start=start, end=end):
        url = surveys_url(organization, several=several, product=row.key)
        products.append({"label": row.label, "url": url, **nps_cells(row.nps)})
        # Then its variants (no list filter of their own: the product's list holds them).
        products.extend(
            {"label": variant.label, "url": url, "variant": True, **nps_cells(variant.nps)}
            for variant in row.variants
        )
    preferences = [
        {"group": row.group_label, "label": row.label, **nps_cells(row.nps)}
        for row in selectors.nps_by_preference(organization=organization, start=start, end=end)
    ]
    pending = selectors.surveys_to_follow_up(organization=organization)
    tz = organization.tzinfo
    follow_ups = [
        {
            "url": reverse("admin:satisfaction_satisfactionsurvey_change", args=[survey.pk]),
            "survey": str(survey),
            "customer": customer_name(survey.customer),
            "badge": score_badge(survey),
            "comment": Truncator(survey.comment).chars(160),
            "answered": when(survey.answered_at, tz),
        }
        for survey in pending[:REPORT_FOLLOW_UPS]
    ]
    last_day = (end - timedelta(days=1)).astimezone(tz).date()
    return {
        "period": _("From Monday %(start)s to today, %(end)s.")
        % {
            "start": formats.date_format(start.astimezone(tz).date()),
            "end": formats.date_format(last_day),
        },
        "headline": nps_headline(nps),
        "nps": nps,
        "response_rate": rate,
        "bands": bands,
        # satisfaction.charts escapes every text it writes.
        "week_chart": mark_safe(week_chart(organization, start, end)),  # noqa: S308
        "distribution_chart": mark_safe(distribution_chart(counts)),  # noqa: S308
        "products": products,
        "preferences": preferences,
        "follow_ups": follow_ups,
        "follow_ups_total": pending.count(),
        "follow_ups_url": surveys_url(organization, several=several, follow_up="todo"),
    }
