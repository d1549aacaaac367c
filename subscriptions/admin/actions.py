"""A subscription's status buttons (`crm.fsm_admin.ServiceActionsAdminMixin`): one service each."""

from __future__ import annotations

from django.utils.translation import gettext as _

from crm.tenant_admin import when
from subscriptions import services
from subscriptions.admin.forms import shop_notice
from subscriptions.models import Subscription

Status = Subscription.Status


class SubscriptionActionsMixin:
    """What each button says and which service it calls, for SubscriptionAdmin."""

    def admin_actions(self) -> dict:
        return {
            "pause": self._pause,
            "resume": self._resume,
            "skip": self._skip,
            "change_schedule": self._change_schedule,
            "cancel": self._cancel,
            "withdraw_cancellation": self._withdraw_cancellation,
        }

    def may_act(self, request, obj) -> bool:
        return self.has_change_permission(request, obj)

    def actions_refused(self, obj) -> str | None:
        # Only a subscription this back office manages.
        return None if obj.is_native else shop_notice()

    def not_possible_message(self, obj, label: str) -> str:
        return _("“%(action)s” is not possible now: the subscription is %(status)s.") % {
            "action": label,
            "status": obj.get_status_display().lower(),
        }

    def describe_transition(self, obj, name: str) -> str:
        if name == "pause":
            return _(
                "Nothing is charged or shipped until the subscription is resumed, by hand or "
                "on the date given."
            )
        if name == "resume":
            return _(
                "Charging and shipping start again; cycles whose date passed during the pause "
                "are not charged."
            )
        if name == "skip":
            if obj.status == Status.PAUSED and obj.next_due_at is None:
                return _(
                    "Paused with no resume date: the first cycle after the pause is not known "
                    "yet, so it cannot be skipped."
                )
            return _(
                "The next cycle (%(date)s) is neither charged nor shipped; the cycles after it "
                "keep their dates."
            ) % {"date": when(obj.next_due_at)}
        if name == "change_schedule":
            return _(
                "The new frequency counts from the next charge (%(date)s), which stays where it is."
            ) % {"date": when(obj.next_charge_at)}
        if name == "withdraw_cancellation":
            return _(
                "The cancellation at period end is dropped: the subscription renews on "
                "%(date)s as before."
            ) % {"date": when(obj.next_charge_at)}
        if name == "cancel":
            return _(
                "Now: unpaid charges are voided and nothing more is charged or shipped. At the "
                "end of the paid period: the subscription continues until then."
            )
        return ""

    # One per button: call the service, say what happened.

    def _pause(self, obj, actor, data):
        subscription = services.subscription_pause(
            subscription=obj,
            actor=actor,
            resume_at=data.get("resume_at"),
            reason=data.get("reason", ""),
        )
        if subscription.resume_at is not None:
            return _("The subscription is paused until %(date)s, then resumes by itself.") % {
                "date": when(subscription.resume_at)
            }
        return _("The subscription is paused until it is resumed by hand.")

    def _resume(self, obj, actor, data):
        subscription = services.subscription_resume(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The subscription is active again (next charge: %(date)s).") % {
            "date": when(subscription.next_charge_at)
        }

    def _skip(self, obj, actor, data):
        subscription = services.subscription_skip(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The next cycle is skipped (next charge: %(date)s).") % {
            "date": when(subscription.next_due_at)
        }

    def _change_schedule(self, obj, actor, data):
        subscription = services.subscription_change_schedule(
            subscription=obj,
            actor=actor,
            billing_period=data["billing_period"],
            billing_interval=data["billing_interval"],
            reason=data.get("reason", ""),
        )
        return _("The schedule is changed (next charge: %(date)s).") % {
            "date": when(subscription.next_charge_at)
        }

    def _withdraw_cancellation(self, obj, actor, data):
        services.subscription_withdraw_cancellation(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The cancellation is withdrawn: the subscription continues.")

    def _cancel(self, obj, actor, data):
        at_period_end = data.get("when") == "period_end"
        subscription = services.subscription_cancel(
            subscription=obj,
            actor=actor,
            reason=data.get("reason", ""),
            at_period_end=at_period_end,
        )
        if at_period_end:
            return _(
                "The subscription will be canceled at the end of its paid period (%(date)s)."
            ) % {"date": when(subscription.current_period_end or subscription.next_charge_at)}
        return _("The subscription is canceled.")
