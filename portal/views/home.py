"""What the subscriber sees: their subscriptions, boxes and charges; the portal's colours.

Reads only (portal/selectors_home.py). Each page links to the pages where a change is
made, and only to those the organization allows (PortalSettings.allow_*); the schedule
and billing of a subscription the WooCommerce shop manages are the shop's: its page says
so and links to the shop's account page instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core import clock
from portal import selectors_home
from portal.access import Portal, customer_required, organization_page
from portal.selectors import change_reach, customer_subscriptions
from subscriptions.models import Subscription

Status = Subscription.Status


@require_GET
@organization_page
def theme(request):
    """The organization's colours as CSS variables (a style sheet: the CSP allows no inline
    style)."""
    settings = request.portal.settings
    css = f":root {{ --accent: {settings.primary_colour}; --bg: {settings.background_colour}; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def action_links(portal: Portal, subscription: Subscription) -> list[Link]:
    """The changes the subscriber may make to this subscription, as links to their pages."""
    allowed = portal.settings
    ended = subscription.status in (Status.CANCELED, Status.EXPIRED)
    if ended:
        return []
    links = []
    pk = subscription.pk
    if allowed.allow_preferences:
        links.append(
            Link(_("Change my preferences"), portal.url("preferences", subscription_id=pk))
        )
    if allowed.allow_address:
        links.append(
            Link(_("Change the shipping address"), portal.url("address", subscription_id=pk))
        )
    if not subscription.is_native:
        return links
    if allowed.allow_pause and subscription.status == Status.ACTIVE:
        links.append(Link(_("Pause"), portal.url("pause", subscription_id=pk)))
    if allowed.allow_pause and subscription.status == Status.PAUSED:
        links.append(Link(_("Resume"), portal.url("resume", subscription_id=pk)))
    if allowed.allow_frequency:
        links.append(Link(_("Change the frequency"), portal.url("frequency", subscription_id=pk)))
    if allowed.allow_swap:
        links.append(Link(_("Change a product"), portal.url("swap", subscription_id=pk)))
    if allowed.allow_cancel and not subscription.cancel_at_period_end:
        links.append(Link(_("Cancel my subscription"), portal.url("cancel", subscription_id=pk)))
    return links


def _subscriptions(portal: Portal):
    return list(customer_subscriptions(organization=portal.organization, customer=portal.customer))


@require_GET
@customer_required
def home(request):
    portal = request.portal
    now = clock.now()
    subscriptions = _subscriptions(portal)
    cards = selectors_home.subscription_cards(
        organization=portal.organization, subscriptions=subscriptions, now=now
    )
    for card in cards:
        card.links = action_links(portal, card.subscription)
    return render(
        request,
        "portal/home.html",
        {
            "cards": cards,
            "to_do": selectors_home.to_do(
                organization=portal.organization,
                customer=portal.customer,
                settings=portal.settings,
                subscriptions=subscriptions,
                now=now,
            ),
            "reach": change_reach(organization=portal.organization, now=now),
        },
    )


@require_GET
@customer_required
def subscription(request, subscription_id):
    portal = request.portal
    now = clock.now()
    row = get_object_or_404(
        customer_subscriptions(organization=portal.organization, customer=portal.customer),
        pk=subscription_id,
    )
    (card,) = selectors_home.subscription_cards(
        organization=portal.organization, subscriptions=[row], now=now
    )
    card.links = action_links(portal, row)
    deliveries = selectors_home.upcoming_deliveries(subscription=row, now=now)
    may_skip = portal.settings.allow_skip and row.is_native
    return render(
        request,
        "portal/home/subscription.html",
        {
            "card": card,
            "deliveries": deliveries,
            "may_skip": may_skip,
            "history": selectors_home.subscription_history(
                subscription=row, organization_name=portal.settings.display_name
            ),
            "reach": change_reach(organization=portal.organization, now=now),
        },
    )


@require_GET
@customer_required
def boxes(request):
    portal = request.portal
    return render(
        request,
        "portal/home/boxes.html",
        {
            "boxes": selectors_home.box_list(
                organization=portal.organization, customer=portal.customer
            ),
            "may_open_case": portal.settings.allow_cases,
        },
    )


@require_GET
@customer_required
def charges(request):
    portal = request.portal
    rows, owed = selectors_home.charge_list(
        organization=portal.organization, customer=portal.customer
    )
    return render(request, "portal/home/charges.html", {"charges": rows, "owed": owed})
