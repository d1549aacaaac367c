"""`{% schedule_panel subscription %}`: what a subscriber may do with a subscription's
schedule, for the subscription's page (`{% load portal_schedule %}`).

The next deliveries with a link to skip or bring back each one, and links to the actions
the organization's portal settings offer and the subscription's status allows; for a
subscription the shop manages, the shop's account link instead.
"""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import can_proceed

from portal.selectors_schedule import local_date, upcoming_deliveries
from subscriptions.selectors import CycleState

register = template.Library()

#: How many deliveries the panel lists.
PANEL_ROWS = 4

STATES = {
    CycleState.DUE: pgettext_lazy("box state", "planned"),
    CycleState.SKIPPED: pgettext_lazy("box state", "skipped"),
    CycleState.PAUSED: pgettext_lazy("box state", "paused"),
    CycleState.CHARGING: pgettext_lazy("box state", "being charged"),
    CycleState.PAID: pgettext_lazy("box state", "paid"),
}


@register.inclusion_tag("portal/schedule/panel.html", takes_context=True)
def schedule_panel(context, subscription):
    request = context["request"]
    portal = request.portal
    settings = portal.settings
    values = {"request": request, "subscription": subscription}
    if not subscription.is_native:
        return {**values, "shop": True, "shop_url": settings.shop_account_url}
    deliveries = []
    for row in upcoming_deliveries(subscription=subscription)[:PANEL_ROWS]:
        on = local_date(subscription, row.starts_at)
        kwargs = {"subscription_id": subscription.pk, "on": on.isoformat()}
        deliveries.append(
            {
                "on": on,
                "box": row.batch,
                "state": STATES.get(row.state, row.state),
                "skipped": row.state == CycleState.SKIPPED,
                "skip_url": portal.url("skip", **kwargs)
                if settings.allow_skip and row.can_skip
                else "",
                "unskip_url": portal.url("unskip", **kwargs)
                if settings.allow_skip and row.can_unskip
                else "",
            }
        )
    ending = subscription.cancel_at_period_end
    actions = []

    def offer(allowed: bool, name: str, label) -> None:
        if allowed:
            actions.append((label, portal.url(name, subscription_id=subscription.pk)))

    offer(settings.allow_pause and can_proceed(subscription.pause), "pause", _("Pause"))
    offer(settings.allow_pause and can_proceed(subscription.resume), "resume", _("Resume"))
    offer(
        settings.allow_frequency and not ending and can_proceed(subscription.change_schedule),
        "frequency",
        _("Change the frequency"),
    )
    offer(
        settings.allow_swap and not ending and can_proceed(subscription.change_items),
        "swap",
        _("Change what your box holds"),
    )
    offer(
        settings.allow_cancel and not ending and can_proceed(subscription.schedule_cancel),
        "cancel",
        _("Cancel your subscription"),
    )
    return {**values, "shop": False, "deliveries": deliveries, "actions": actions}
