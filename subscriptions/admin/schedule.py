"""A subscription's next cycles: the table on its page and its Skip, Unskip, Move and
Charge now buttons.

Each button posts to its own URL (`schedule_view`), which calls the service and
says what happened, or why it was refused.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import refusal_messages
from crm.tenant_admin import money, when
from subscriptions import selectors, services
from subscriptions.forms import MoveNextDateForm
from subscriptions.models import Charge, Subscription
from subscriptions.selectors import CycleState

Status = Subscription.Status
UPCOMING = selectors.SCHEDULE_ROWS
# "Charge now" is offered to these (services.subscription_charge_now says why not otherwise).
CHARGEABLE = (Status.PENDING, Status.ACTIVE, Status.PAST_DUE)
ZERO = Decimal("0.00")


def cycle_state_label(row) -> str:
    labels = {
        CycleState.DUE: _("to charge"),
        CycleState.SKIPPED: _("skipped"),
        CycleState.PAUSED: _("paused"),
        CycleState.CHARGING: _("being charged"),
        CycleState.PAID: _("paid"),
    }
    text = labels.get(row.state, row.state)
    if row.locked:
        text += ", " + _("in a locked batch")
    return text


def batch_text(batch) -> str:
    """The batch a cycle ships in: a link to it, or the one the calendar will open."""
    name = _("batch of %(date)s") % {"date": formats.date_format(batch.cycle_date)}
    if batch.id is None:
        return format_html("{} ({})", name, _("not open yet"))
    url = reverse("admin:fulfillment_batch_change", args=[batch.id])
    return format_html('<a href="{}">{}</a>', url, name)


def charge_now_message(charge, subscription) -> str:
    """What "Charge now" did, by the gateway's answer."""
    values = {
        "amount": money(charge.amount, charge.currency),
        "date": when(charge.period_start, subscription.organization.tzinfo),
        "reason": charge.failure_reason,
    }
    if charge.status == Charge.Status.PAID:
        return _("The cycle of %(date)s is charged: %(amount)s paid.") % values
    if charge.status == Charge.Status.PENDING:
        return (
            _("The charge of %(amount)s for the cycle of %(date)s awaits the gateway's answer.")
            % values
        )
    return (
        _(
            "The charge of %(amount)s for the cycle of %(date)s failed (%(reason)s): it is "
            "retried on the dunning schedule."
        )
        % values
    )


class NextCyclesMixin:
    """The `next_cycles` read-only field and the URLs of its buttons, for SubscriptionAdmin."""

    @admin.display(description=gettext_lazy("next cycles"))
    def next_cycles(self, obj):
        """The delivery schedule (`selectors.subscription_schedule`): each cycle's date,
        amount, state and batch, with a Skip or Unskip button where the rules allow, and
        the form moving the next date. The buttons submit the `subscription-schedule`
        form written after the change form (no form inside a form)."""
        if not obj.is_native:
            return _("Charged by the shop.")
        if obj.status in (Status.CANCELED, Status.EXPIRED):
            return _("No upcoming charge: the subscription has ended.")
        if obj.cancel_at_period_end:
            return _("No upcoming charge: the subscription ends with its paid period.")
        tz = obj.organization.tzinfo
        rows = selectors.subscription_schedule(subscription=obj, count=UPCOMING)
        if not rows:
            return _("No upcoming charge.")
        notes = [_("Times in %(timezone)s.") % {"timezone": obj.organization.timezone}]
        if obj.status == Status.PAUSED:
            notes.append(_("Paused: cycles whose date passes before it resumes are not charged."))
            if obj.resume_at is None:
                notes.append(_("No resume date: these cycles follow if it is resumed now."))
        may_act = getattr(obj, "may_change_schedule", False)
        skip_url = self._schedule_url(obj, "skip")
        unskip_url = self._schedule_url(obj, "unskip")
        explained = False
        cells = []
        for row in rows:
            if row.amount is None:
                text = "-"
            else:
                text = money(row.amount, obj.currency)
                if obj.adjustment and row.state == CycleState.DUE and not explained:
                    explained = True
                    items_total = sum((item.total for item in obj.items.all()), ZERO)
                    text += " " + _("(items %(items)s, adjustment %(adjustment)s)") % {
                        "items": money(items_total, obj.currency),
                        "adjustment": money(obj.adjustment, obj.currency),
                    }
            button = ""
            if may_act and (row.can_skip or row.can_unskip):
                button = format_html(
                    '<button type="submit" class="button" form="subscription-schedule" '
                    'formaction="{}" name="cycle" value="{}">{}</button>',
                    skip_url if row.can_skip else unskip_url,
                    row.cycle,
                    _("Skip") if row.can_skip else _("Unskip"),
                )
            cells.append(
                (
                    row.cycle,
                    row.cycle,
                    when(row.starts_at, tz),
                    text,
                    row.state,
                    cycle_state_label(row),
                    batch_text(row.batch),
                    button,
                )
            )
        table = format_html(
            '<table class="next-cycles"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th></th></tr></thead><tbody>{}</tbody></table>"
            "<p class='help'>{}</p>",
            _("Cycle"),
            _("Date"),
            _("Amount"),
            _("State"),
            _("Batch"),
            format_html_join(
                "",
                '<tr data-cycle="{}"><td>{}</td><td>{}</td><td>{}</td>'
                '<td class="state-{}">{}</td><td>{}</td><td>{}</td></tr>',
                cells,
            ),
            " ".join(notes),
        )
        if may_act and obj.status in CHARGEABLE and obj.next_charge_at is not None:
            table += format_html(
                '<p class="charge-now"><button type="submit" class="button" '
                'form="subscription-schedule" formaction="{}">{}</button></p>'
                '<p class="help">{}</p>',
                self._schedule_url(obj, "charge"),
                _("Charge now"),
                _(
                    "Charges the next cycle now through the payment gateway, as the renewal "
                    "would on its date; the cycle keeps its dates and its batch."
                ),
            )
        if may_act and obj.status == Status.ACTIVE and obj.next_charge_at is not None:
            table += format_html(
                '<p class="move-next-date"><label for="id_schedule_at">{}</label> '
                '<input type="datetime-local" name="at" id="id_schedule_at" '
                'form="subscription-schedule"> '
                '<button type="submit" class="button" form="subscription-schedule" '
                'formaction="{}">{}</button></p><p class="help">{}</p>',
                _("Move the next charge date to"),
                self._schedule_url(obj, "move"),
                _("Move"),
                _(
                    "Later or earlier, not before the end of the paid period nor more than a "
                    "year ahead; the later cycles follow at the same interval."
                ),
            )
        return table

    def _schedule_url(self, obj, action: str) -> str:
        return reverse(
            f"admin:subscriptions_subscription_schedule_{action}",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    def get_urls(self):
        urls = [
            path(
                f"<path:object_id>/schedule/{action}/",
                self.admin_site.admin_view(self.schedule_view),
                {"action": action},
                name=f"subscriptions_subscription_schedule_{action}",
            )
            for action in ("skip", "unskip", "move", "charge")
        ]
        return urls + super().get_urls()

    def schedule_view(self, request, object_id, action):
        """A schedule button: POST only, through the service; says what happened."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        change_url = reverse(
            "admin:subscriptions_subscription_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        actor = Actor.for_user(request.user)
        tz = obj.organization.tzinfo
        with timezone.override(tz):
            try:
                level = messages.SUCCESS
                if action == "charge":
                    charge = services.subscription_charge_now(subscription=obj, actor=actor)
                    message = charge_now_message(charge, obj)
                    if charge.status != Charge.Status.PAID:
                        level = messages.WARNING
                elif action == "move":
                    form = MoveNextDateForm(request.POST)
                    if not form.is_valid():
                        self.message_user(
                            request, _("Enter the new next charge date."), messages.ERROR
                        )
                        return HttpResponseRedirect(change_url)
                    moved = services.subscription_move_next_date(
                        subscription=obj, actor=actor, at=form.cleaned_data["at"]
                    )
                    message = _("The next charge is moved to %(date)s.") % {
                        "date": when(moved.next_charge_at, tz)
                    }
                else:
                    try:
                        cycle = int(request.POST.get("cycle", ""))
                    except ValueError:
                        cycle = None
                    service = (
                        services.subscription_skip_cycle
                        if action == "skip"
                        else services.subscription_unskip_cycle
                    )
                    done = service(subscription=obj, actor=actor, cycle=cycle)
                    starts_at = when(done.cycle_start(cycle), tz)
                    if action == "skip":
                        message = _(
                            "The cycle of %(date)s is skipped: neither charged nor shipped."
                        ) % {"date": starts_at}
                    else:
                        message = _("The cycle of %(date)s is charged and shipped again.") % {
                            "date": starts_at
                        }
            except ApplicationError as error:
                self.message_user(request, " ".join(refusal_messages(error)), messages.ERROR)
            else:
                self.message_user(request, message, level)
        return HttpResponseRedirect(change_url)
