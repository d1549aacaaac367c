"""The schedule of a subscription the product manages, changed by its subscriber: skip or
bring back a delivery, pause until a date and resume, change the frequency, swap a product
or variant, cancel at the end of the paid period.

Each page looks the subscription up among the signed-in customer's own (another's is a
404), answers 404 when the organization's portal settings do not offer the action, and
for a subscription the WooCommerce shop manages explains that the shop's account page is
where it is changed (never the action). Each change goes through the subscription's
service with the customer as actor; a refusal is the service's message on the form (400
or 409, nothing written); a change is confirmed on screen and by e-mail, saying which box
it reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core import clock
from core.actors import Actor
from core.errors import ApplicationError
from portal import notify
from portal.access import customer_required
from portal.forms_schedule import CancelForm, FrequencyForm, PauseForm, SwapForm
from portal.selectors import change_reach, customer_subscriptions, frequency_label
from portal.selectors import money as money_text
from portal.selectors_schedule import (
    action_allowed,
    delivery_on,
    first_delivery_after_pause,
    last_box,
    local_date,
    next_delivery,
    swap_choices,
)
from subscriptions import services
from subscriptions.models import Subscription

GET_POST = require_http_methods(["GET", "POST"])

#: A service's field, as the portal's forms name it.
SERVICE_FIELDS = {
    "resume_at": "until",
    "billing_period": "frequency",
    "billing_interval": "frequency",
    "items": "by",
    "to_product": "by",
    "to_variant": "by",
    "reason": "reason",
}


# --- What every page shares ---------------------------------------------------------------


def _subscription(request: HttpRequest, subscription_id: int, action: str) -> Subscription:
    """The customer's own subscription; 404 for anyone else's, or an action not offered."""
    portal = request.portal
    subscription = get_object_or_404(
        customer_subscriptions(organization=portal.organization, customer=portal.customer),
        pk=subscription_id,
    )
    if not action_allowed(portal.settings, action):
        raise Http404
    return subscription


def _shop_page(request: HttpRequest, subscription: Subscription) -> HttpResponse:
    """The shop manages it: where to change it, and why not here (409 to a POST)."""
    status = 409 if request.method == "POST" else 200
    context = {"subscription": subscription, "shop_url": request.portal.settings.shop_account_url}
    return render(request, "portal/schedule/shop.html", context, status=status)


def _page(
    request: HttpRequest,
    template: str,
    subscription: Subscription,
    *,
    refusal: ApplicationError | None = None,
    status: int = 200,
    **context,
) -> HttpResponse:
    """An action's page; with a service's refusal, re-rendered with it at its status: on
    the form's field when the service names one (tied to its input), else above."""
    text = ""
    if refusal is not None:
        text = services.refusal_text(refusal)
        form = context.get("form")
        named = [
            (SERVICE_FIELDS.get(name), messages_)
            for name, messages_ in (refusal.extra.get("fields") or {}).items()
        ]
        if form is not None and named and all(field in form.fields for field, _m in named):
            for field, messages_ in named:
                form.add_error(field, [str(message) for message in messages_])
            text = ""
    context = {
        "subscription": subscription,
        "reach": change_reach(organization=subscription.organization),
        "back_url": request.portal.url("subscription", subscription_id=subscription.pk),
        "refusal": text,
        **context,
    }
    return render(
        request,
        f"portal/schedule/{template}.html",
        context,
        status=refusal.status if refusal is not None else status,
    )


def _done(
    request: HttpRequest,
    subscription: Subscription,
    *,
    subject: Callable[[], str],
    lines: Callable[[], list[str]],
) -> HttpResponse:
    """The change is made: say so (which box it reaches), e-mail it, back to the
    subscription. `subject` and `lines` are called once in the page's language and once
    in the customer's, for the e-mail."""
    customer = request.portal.customer
    messages.success(request, " ".join(lines()))
    url = request.portal.url("subscription", subscription_id=subscription.pk)
    with translation.override(notify.language_of(customer)):
        notify.confirm(
            customer=customer,
            subject=subject(),
            lines=lines(),
            portal_url=request.build_absolute_uri(url),
        )
    return HttpResponseRedirect(url)


def _day(value: date) -> str:
    return formats.date_format(value, "l j F Y")


def _box(box) -> str:
    return formats.date_format(box.ships_on, "j F Y")


def _posted(request: HttpRequest):
    """A POST's form data, even empty (an empty POST is refused, 400, not a GET's page)."""
    return request.POST if request.method == "POST" else None


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_customer(request.portal.customer)


# --- Skip or bring back a delivery --------------------------------------------------------


def _on(on: str) -> date:
    try:
        return date.fromisoformat(on)
    except ValueError:
        raise Http404 from None


def _cycle_action(request: HttpRequest, subscription_id: int, on: str, action: str):
    subscription = _subscription(request, subscription_id, action)
    if not subscription.is_native:
        return _shop_page(request, subscription)
    day = _on(on)
    service_action = "skip_cycle" if action == "skip" else "unskip_cycle"
    delivery = delivery_on(subscription=subscription, on=day, action=service_action)
    if delivery is None:
        raise Http404
    context = {"delivery": delivery, "action": action}
    if request.method == "GET":
        return _page(request, "cycle", subscription, **context)
    service = (
        services.subscription_skip_cycle if action == "skip" else services.subscription_unskip_cycle
    )
    try:
        service(subscription=subscription, actor=_actor(request), on=day)
    except ApplicationError as error:
        return _page(request, "cycle", subscription, refusal=error, **context)

    def subject() -> str:
        return _("Your box is skipped") if action == "skip" else _("Your box is back")

    def lines() -> list[str]:
        values = {"box": _box(delivery.box), "day": _day(delivery.on)}
        if action == "skip":
            return [
                _(
                    "The box of %(box)s is skipped: nothing is charged on %(day)s and "
                    "nothing is sent."
                )
                % values
            ]
        return [_("The box of %(box)s is back: it is charged on %(day)s and sent.") % values]

    return _done(request, subscription, subject=subject, lines=lines)


@GET_POST
@customer_required
def skip(request, subscription_id, on):
    return _cycle_action(request, subscription_id, on, "skip")


@GET_POST
@customer_required
def unskip(request, subscription_id, on):
    return _cycle_action(request, subscription_id, on, "unskip")


# --- Pause and resume ----------------------------------------------------------------------


@GET_POST
@customer_required
def pause(request, subscription_id):
    subscription = _subscription(request, subscription_id, "pause")
    if not subscription.is_native:
        return _shop_page(request, subscription)
    organization = subscription.organization
    today = local_date(subscription, clock.now())
    form = PauseForm(_posted(request), today=today)
    paused_until = (
        local_date(subscription, subscription.resume_at) if subscription.resume_at else None
    )
    context = {"form": form, "paused_until": paused_until}
    if request.method == "GET" or not form.is_valid():
        status = 400 if form.is_bound else 200
        return _page(request, "pause", subscription, status=status, **context)
    resume_at = form.resume_at(organization)
    try:
        subscription = services.subscription_pause(
            subscription=subscription, actor=_actor(request), resume_at=resume_at
        )
    except ApplicationError as error:
        return _page(request, "pause", subscription, refusal=error, **context)
    first = first_delivery_after_pause(subscription, resume_at)

    def lines() -> list[str]:
        return [
            _(
                "Your subscription is paused until %(until)s: nothing is charged or sent "
                "before. Your first box after the pause is the box of %(box)s."
            )
            % {"until": _day(form.cleaned_data["until"]), "box": _box(first.box)}
        ]

    return _done(
        request, subscription, subject=lambda: _("Your subscription is paused"), lines=lines
    )


@GET_POST
@customer_required
def resume(request, subscription_id):
    subscription = _subscription(request, subscription_id, "resume")
    if not subscription.is_native:
        return _shop_page(request, subscription)
    paused = subscription.status == Subscription.Status.PAUSED
    first = first_delivery_after_pause(subscription, clock.now()) if paused else None
    if request.method == "GET":
        return _page(request, "resume", subscription, paused=paused, first=first)
    try:
        subscription = services.subscription_resume(
            subscription=subscription, actor=_actor(request)
        )
    except ApplicationError as error:
        return _page(request, "resume", subscription, paused=paused, first=first, refusal=error)
    following = next_delivery(subscription)

    def lines() -> list[str]:
        if following is None:
            return [_("Your subscription is active again.")]
        return [
            _("Your subscription is active again: your next box is the box of %(box)s.")
            % {"box": _box(following.box)}
        ]

    return _done(
        request, subscription, subject=lambda: _("Your subscription is active again"), lines=lines
    )


# --- Frequency -----------------------------------------------------------------------------


@GET_POST
@customer_required
def frequency(request, subscription_id):
    subscription = _subscription(request, subscription_id, "frequency")
    if not subscription.is_native:
        return _shop_page(request, subscription)
    form = FrequencyForm(_posted(request), subscription=subscription)
    context = {"form": form, "next": next_delivery(subscription)}
    if request.method == "GET" or not form.is_valid():
        status = 400 if form.is_bound else 200
        return _page(request, "frequency", subscription, status=status, **context)
    period, interval = form.schedule()
    try:
        subscription = services.subscription_change_schedule(
            subscription=subscription,
            actor=_actor(request),
            billing_period=period,
            billing_interval=interval,
        )
    except ApplicationError as error:
        return _page(request, "frequency", subscription, refusal=error, **context)
    following = next_delivery(subscription)

    def lines() -> list[str]:
        values = {"frequency": frequency_label(period, interval).lower()}
        if following is None:
            return [_("Your boxes now come %(frequency)s.") % values]
        return [
            _(
                "Your boxes now come %(frequency)s, counted from your next box, the box of "
                "%(box)s (charged on %(day)s)."
            )
            % {**values, "box": _box(following.box), "day": _day(following.on)}
        ]

    return _done(
        request, subscription, subject=lambda: _("Your delivery frequency changed"), lines=lines
    )


# --- Swap a product or variant -------------------------------------------------------------


@GET_POST
@customer_required
def swap(request, subscription_id):
    subscription = _subscription(request, subscription_id, "swap")
    if not subscription.is_native:
        return _shop_page(request, subscription)
    form = SwapForm(
        _posted(request),
        subscription=subscription,
        choices=swap_choices(organization=subscription.organization),
    )
    if request.method == "GET" or not form.is_valid():
        status = 400 if form.is_bound else 200
        return _page(request, "swap", subscription, form=form, status=status)
    replaced, replacement = form.replaced(), form.replacement()
    old_total = sum(item.total for item in form.items)
    adjustment = subscription.adjustment
    try:
        swap = services.swap_for(organization=subscription.organization, **form.swap_arguments())
        items = [
            {
                "product": swap.new_product,
                "variant": swap.new_variant,
                "quantity": item.quantity,
                "unit_price": None,  # the new product's or variant's price
            }
            if item.pk == replaced.pk
            else {
                "product": item.product,
                "variant": item.variant,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
            }
            for item in form.items
        ]
        subscription = services.subscription_change_items(
            subscription=subscription, actor=_actor(request), items=items
        )
    except ApplicationError as error:
        return _page(request, "swap", subscription, form=form, refusal=error)
    new_total = sum(item.total for item in subscription.items.all())
    carried = subscription.adjustment - adjustment
    reach = change_reach(organization=subscription.organization)

    def lines() -> list[str]:
        currency = subscription.currency
        found = [
            _(
                "Your box now holds %(new)s in place of %(old)s: %(total)s per delivery "
                "(before: %(before)s)."
            )
            % {
                "new": replacement.name,
                "old": replaced.name,
                "total": money_text(new_total, currency),
                "before": money_text(old_total, currency),
            },
            reach.text(),
        ]
        if carried > 0:
            found.append(
                _(
                    "For the rest of the period already paid, %(amount)s is added to your "
                    "next payment."
                )
                % {"amount": money_text(carried, currency)}
            )
        elif carried < 0:
            found.append(
                _(
                    "For the rest of the period already paid, %(amount)s is taken off your "
                    "next payment."
                )
                % {"amount": money_text(-carried, currency)}
            )
        return found

    return _done(request, subscription, subject=lambda: _("Your box changed"), lines=lines)


# --- Cancel at the end of the paid period ------------------------------------------------


@GET_POST
@customer_required
def cancel(request, subscription_id):
    subscription = _subscription(request, subscription_id, "cancel")
    if not subscription.is_native:
        return _shop_page(request, subscription)
    portal = request.portal
    form = CancelForm(_posted(request))
    upcoming = next_delivery(subscription)
    context = {
        "form": form,
        "last": last_box(subscription=subscription),
        "pause_url": (
            portal.url("pause", subscription_id=subscription.pk)
            if portal.settings.allow_pause and subscription.status == Subscription.Status.ACTIVE
            else ""
        ),
        "skip_url": (
            portal.url("skip", subscription_id=subscription.pk, on=upcoming.on.isoformat())
            if portal.settings.allow_skip and upcoming is not None
            else ""
        ),
        "upcoming": upcoming,
    }
    if request.method == "GET" or not form.is_valid():
        status = 400 if form.is_bound else 200
        return _page(request, "cancel", subscription, status=status, **context)
    with translation.override(subscription.organization.language):
        reason = form.reason_text()  # in the organization's language: staff read it
    try:
        subscription = services.subscription_cancel(
            subscription=subscription, actor=_actor(request), reason=reason, at_period_end=True
        )
    except ApplicationError as error:
        return _page(request, "cancel", subscription, refusal=error, **context)
    last = context["last"]

    def lines() -> list[str]:
        found = []
        if last.ends_on is not None:
            found.append(
                _("Your subscription ends on %(end)s: nothing is charged or sent after that.")
                % {"end": _day(last.ends_on)}
            )
        if last.box is not None:
            found.append(_("Your last box is the box of %(box)s.") % {"box": _box(last.box)})
        return found or [_("Your subscription ends with its paid period.")]

    return _done(
        request,
        subscription,
        subject=lambda: _("Your subscription will end"),
        lines=lines,
    )
