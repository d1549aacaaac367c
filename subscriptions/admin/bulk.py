"""The subscription list's bulk actions: pause, skip the next box, swap a product, change
the next date.

Each asks for what it needs on an intermediate page (`admin/action_form.html`), then
hands the selected ids to `services.subscriptions_bulk`, one organization at a time:
each subscription goes through its own service in its own transaction. The answer is
reported as the batch lines' bulk prepare does: how many were done, then each reason
of refusal with the subscriptions it concerns.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.models import Organization
from subscriptions import services
from subscriptions.forms import BulkMoveNextDateForm, PauseForm, ReasonForm, SwapForm


def _done_message(action: str, count: int) -> str:
    texts = {
        "pause": ngettext(
            "%(count)d subscription paused.", "%(count)d subscriptions paused.", count
        ),
        "skip": ngettext(
            "%(count)d subscription skips its next box.",
            "%(count)d subscriptions skip their next box.",
            count,
        ),
        "swap": ngettext(
            "%(count)d subscription changed: the product is swapped.",
            "%(count)d subscriptions changed: the product is swapped.",
            count,
        ),
        "move-next-date": ngettext(
            "%(count)d subscription has a new next charge date.",
            "%(count)d subscriptions have a new next charge date.",
            count,
        ),
    }
    return texts[action] % {"count": count}


class BulkActionsMixin:
    """The changelist actions of SubscriptionAdmin."""

    actions = ["bulk_pause", "bulk_skip", "bulk_swap", "bulk_move_next_date"]

    @admin.action(description=gettext_lazy("Pause until a date"), permissions=["change"])
    def bulk_pause(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            "pause",
            PauseForm,
            title=_("Pause the subscriptions"),
            intro=_("Nothing is charged or shipped for these subscriptions until they resume:"),
        )

    @admin.action(description=gettext_lazy("Skip the next box"), permissions=["change"])
    def bulk_skip(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            "skip",
            ReasonForm,
            title=_("Skip the next box"),
            intro=_("The next cycle of these subscriptions is neither charged nor shipped:"),
        )

    @admin.action(description=gettext_lazy("Swap a product"), permissions=["change"])
    def bulk_swap(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            "swap",
            SwapForm,
            title=_("Swap a product"),
            intro=_("In these subscriptions, one product or variant is replaced by another:"),
        )

    @admin.action(description=gettext_lazy("Change the next date"), permissions=["change"])
    def bulk_move_next_date(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            "move-next-date",
            BulkMoveNextDateForm,
            title=_("Change the next charge date"),
            intro=_(
                "These subscriptions are charged at the new date; their later cycles follow "
                "at the same interval:"
            ),
        )

    # --- The page, then the services -------------------------------------------------

    def _bulk(self, request, queryset, action, form_class, *, title, intro):
        rows = list(queryset.select_related("customer").order_by("pk"))
        if not rows:
            # Only rows the user cannot see were ticked: say so as Django does.
            self.message_user(
                request,
                _(
                    "Items must be selected in order to perform actions on them. No items "
                    "have been changed."
                ),
                messages.WARNING,
            )
            return None
        organization_ids = {row.organization_id for row in rows}
        organizations = Organization.objects.in_bulk(organization_ids)
        single = organizations[rows[0].organization_id] if len(organizations) == 1 else None
        if action == "swap" and single is None:
            self.message_user(
                request,
                _("Swap products in the subscriptions of one organization at a time."),
                messages.ERROR,
            )
            return None
        data = request.POST if "apply" in request.POST else None
        kwargs = {"organization": single} if action == "swap" else {}
        # Dates are typed in the organization's time zone (several: the current one).
        with timezone.override(single.tzinfo if single else timezone.get_current_timezone()):
            form = form_class(data, **kwargs)
            if form.is_bound and form.is_valid():
                return self._apply(request, rows, organizations, action, form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "intro": intro,
            "rows": [(row.pk, str(row)) for row in rows],
            "action": f"bulk_{action.replace('-', '_')}",
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/action_form.html", context)

    def _apply(self, request, rows, organizations, action, form):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        by_organization: dict[int, list[int]] = defaultdict(list)
        refused: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            if self.has_change_permission(request, row):
                by_organization[row.organization_id].append(row.pk)
            else:
                refused[_("You may not change it.")].append(row.pk)
        done = 0
        for organization_id, ids in by_organization.items():
            organization = organizations[organization_id]
            try:
                report = services.subscriptions_bulk(
                    organization=organization,
                    action=action,
                    ids=ids,
                    actor=actor,
                    resume_at=data.get("resume_at"),
                    at=data.get("at"),
                    **(form.swap_arguments() if action == "swap" else {}),
                    reason=data.get("reason", ""),
                )
            except ApplicationError as error:
                refused[services.refusal_text(error)].extend(ids)
                continue
            done += len(report.done)
            for pk, reason in report.refused.items():
                refused[reason].append(pk)
        if done:
            self.message_user(request, _done_message(action, done), messages.SUCCESS)
        names = {row.pk: str(row) for row in rows}
        for reason, ids in refused.items():
            self.message_user(
                request,
                ngettext(
                    "%(count)d subscription not changed: %(reason)s (%(subscriptions)s)",
                    "%(count)d subscriptions not changed: %(reason)s (%(subscriptions)s)",
                    len(ids),
                )
                % {
                    "count": len(ids),
                    "reason": reason,
                    "subscriptions": ", ".join(names[pk] for pk in sorted(ids)),
                },
                messages.ERROR,
            )
        return
