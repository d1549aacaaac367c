"""The surveys' pages: the list and its action, a survey's buttons, a subscription's
surveys, and the report."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, F, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from crm.admin_display import (
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
    ActionsOnlyTenantAdmin,
    OrganizationTimeChangeViewMixin,
    ReadOnlyTenantInline,
    when,
)
from satisfaction import services
from satisfaction.admin.filters import (
    AnsweredListFilter,
    BoxProductListFilter,
    FollowUpListFilter,
    ScoreBandListFilter,
)
from satisfaction.models import SatisfactionSurvey
from satisfaction.presentation import (
    case_url,
    customer_name,
    follow_up_state,
    report_figures,
    score_badge,
)

Status = SatisfactionSurvey.Status

#: The report's periods, in weeks, and the one shown first.
REPORT_WEEKS = (4, 12, 26, 52)
DEFAULT_REPORT_WEEKS = 12


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
class SatisfactionSurveyAdmin(
    OrganizationTimeChangeViewMixin, SurveyColumns, ServiceActionsAdminMixin, ActionsOnlyTenantAdmin
):
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
            return services.survey_may_open_case(survey)
        if name == "mark_followed_up":
            return services.survey_may_mark_followed_up(survey)
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
