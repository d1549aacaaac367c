"""A subscription's preferences and shipping address, changed by the subscriber.

Preferences: the organization's schema as a form (portal/forms_details.py), saved by
`preferences.services.preferences_update` (actor the customer, source portal), for every
subscription, the shop's too (the back office owns preferences). Address: saved by
`portal.services_details.subscription_address_set`; a subscription the WooCommerce shop
manages has its address in the shop, so the page says so and links the shop's account page.
Both pages say which box a change reaches before it is made, and the success message and
the confirmation e-mail say which box it reached.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.actors import Actor
from core.errors import ApplicationError
from crm.models import Address
from portal import notify
from portal.access import customer_required
from portal.forms_details import AddressForm, PreferencesForm
from portal.selectors import box_ships_on, change_reach, customer_subscriptions
from portal.services_details import ENDED, subscription_address_set
from preferences import validation
from preferences.models import PreferenceChange
from preferences.selectors import display_value, preference_field_list, preferences_current
from preferences.services import preferences_update
from subscriptions.models import Subscription


def _subscription(portal, subscription_id: int) -> Subscription:
    """The signed-in customer's own subscription, else 404."""
    return get_object_or_404(
        customer_subscriptions(organization=portal.organization, customer=portal.customer),
        pk=subscription_id,
    )


def box_date(day: date) -> str:
    """A box's date as the reach note writes it ("10 December", "10 décembre")."""
    return formats.date_format(day, "j F")


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path)


@require_http_methods(["GET", "POST"])
@customer_required
def preferences(request, subscription_id):
    portal = request.portal
    if not portal.settings.allow_preferences:
        raise Http404
    subscription = _subscription(portal, subscription_id)
    fields = list(preference_field_list(organization=portal.organization))
    schema = [field.spec() for field in fields]
    current = preferences_current(subscription=subscription, schema=schema)
    data = request.POST if request.method == "POST" else None
    form = PreferencesForm(data, fields=fields, schema=schema, current=current)
    status = 200
    if data is not None:
        status = 400
        if form.is_valid():
            try:
                _preference, change = preferences_update(
                    subscription=subscription,
                    values=form.changed_values(),
                    actor=Actor.for_customer(portal.customer),
                    source=PreferenceChange.Source.PORTAL,
                )
            except ApplicationError as error:
                form.add_service_errors(error)
                status = error.status
            else:
                here = portal.url("preferences", subscription_id=subscription.pk)
                if change is None:
                    messages.info(request, _("Nothing changed: these were already your choices."))
                    return redirect(here)
                reached = box_date(
                    box_ships_on(
                        organization=portal.organization, cutoff_at=change.effective_cutoff_at
                    )
                )
                messages.success(
                    request,
                    _("Your preferences are saved: they apply from the box of %(date)s.")
                    % {"date": reached},
                )
                notify.confirm(
                    customer=portal.customer,
                    subject=gettext_lazy("Your preferences have changed"),
                    lines=[
                        *_preference_lines(schema, change),
                        _("From the box of %(date)s.") % {"date": reached},
                    ],
                    portal_url=_absolute(request, here),
                )
                return redirect(here)
    context = {
        "subscription": subscription,
        "form": form,
        "ended": subscription.status in ENDED,
        "reach": change_reach(organization=portal.organization),
    }
    return render(request, "portal/details/preferences.html", context, status=status)


def _preference_lines(schema: list[validation.FieldSpec], change: PreferenceChange) -> list[str]:
    """ "Grind: Whole beans → Espresso", one line per preference the change changed."""
    specs = {spec.key: spec for spec in schema}
    lines = []
    for key in validation.changed_keys(change.old_values, change.new_values):
        spec = specs.get(key)
        before = display_value(spec, change.old_values.get(key)) or "—"
        after = display_value(spec, change.new_values.get(key)) or "—"
        lines.append(f"{spec.label if spec else key}: {before} → {after}")
    return lines


@require_http_methods(["GET", "POST"])
@customer_required
def address(request, subscription_id):
    portal = request.portal
    if not portal.settings.allow_address:
        raise Http404
    subscription = _subscription(portal, subscription_id)
    current = subscription.shipping_address
    data = request.POST if request.method == "POST" else None
    # A subscription without one yet starts from the customer's shipping address.
    known = current or portal.customer.addresses.filter(kind=Address.Kind.SHIPPING).first()
    initial = known.snapshot() if known else {"name": portal.customer.full_name}
    form = AddressForm(data, initial=initial)
    status = 200
    if data is not None:
        status = 400
        if form.is_valid():
            try:
                result = subscription_address_set(
                    subscription=subscription,
                    content=form.content(),
                    actor=Actor.for_customer(portal.customer),
                )
            except ApplicationError as error:
                form.add_service_errors(error)
                status = error.status
            else:
                here = portal.url("address", subscription_id=subscription.pk)
                if not result.changed:
                    messages.info(request, _("Nothing changed: this was already your address."))
                    return redirect(here)
                reached = box_date(result.box)
                messages.success(
                    request,
                    _("Your boxes go to the new address from the box of %(date)s.")
                    % {"date": reached},
                )
                notify.confirm(
                    customer=portal.customer,
                    subject=gettext_lazy("Your shipping address has changed"),
                    lines=[
                        _("Shipping address: %(address)s") % {"address": _one_line(form)},
                        _("From the box of %(date)s.") % {"date": reached},
                    ],
                    portal_url=_absolute(request, here),
                )
                return redirect(here)
    context = {
        "subscription": subscription,
        "form": form,
        "current": current,
        "ended": subscription.status in ENDED,
        "shop_managed": not subscription.is_native,
        "shop_account_url": portal.settings.shop_account_url,
        "reach": change_reach(organization=portal.organization),
    }
    return render(request, "portal/details/address.html", context, status=status)


def _one_line(form: AddressForm) -> str:
    """The address on one line, its country by name."""
    address = Address(**form.content())
    town = " ".join(part for part in (address.postcode, address.city) if part)
    parts = [address.name, address.company, address.line1, address.line2, town, address.state]
    return ", ".join([*(part for part in parts if part), str(address.country.name)])
