"""The admin's home page: the dashboard of the organization the staff member works in.

`dashboard_context` reads the figures (`dashboard.selectors`) and gives each
the address of the admin list it counts, filtered to that organization: a
`Figure` with `count=True` shows exactly as many rows there (tested), the
others (an amount, a score) open the list or page they come from. Numbers,
amounts and dates are formatted in the active language, times in the
organization's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.current import current_organization, organization_pick, organizations_of
from crm.models import Customer, Organization
from crm.tenant_admin import money, when
from dashboard import search, selectors
from dashboard.customers import customer_story
from fulfillment.models import Batch, BatchLine, Shipment
from returns.models import ReturnRequest
from satisfaction import charts
from satisfaction.models import SatisfactionSurvey
from satisfaction.presentation import nps_headline, nps_number, number, week_chart, week_label
from subscriptions.models import Charge, Subscription
from woocommerce.models import WebhookDelivery

Status = Subscription.Status


@dataclass(frozen=True)
class Figure:
    """A number on the dashboard and the list behind it."""

    label: str
    value: str
    url: str
    #: The value is how many rows `url` lists.
    count: int | None = None
    hint: str = ""
    tone: str = ""  # "warning" or "error": worth a look
    #: Two columns wide (an amount, a date), in smaller type for a date.
    wide: bool = False
    text: bool = False


def changelist(model: type[models.Model], organization: Organization, **params) -> str:
    """The admin list of `model`, filtered by `params` and to `organization`."""
    opts = model._meta
    params["organization__id__exact"] = organization.pk
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{urlencode(params)}"


def counted(label: str, count: int, url: str, **extra) -> Figure:
    return Figure(label=label, value=number(count), url=url, count=count, **extra)


def amount(total: selectors.Total) -> str:
    """The organization's own currency only: other currencies are never added in."""
    return money(total.amount.amount, total.amount.currency)


def left_out(board: selectors.Dashboard) -> str:
    """What the amounts leave out, in other currencies (a shop may sell in several)."""
    parts = []
    revenue, owed = board.revenue, board.past_due.owed
    if revenue.left_out:
        parts.append(
            ngettext(
                "%(amounts)s a month from %(count)s active subscription in another currency",
                "%(amounts)s a month from %(count)s active subscriptions in other currencies",
                revenue.left_out_subscriptions,
            )
            % {
                "amounts": ", ".join(money(m.amount, m.currency) for m in revenue.left_out),
                "count": number(revenue.left_out_subscriptions),
            }
        )
    if owed.left_out:
        parts.append(
            _("%(amounts)s owed")
            % {"amounts": ", ".join(money(m.amount, m.currency) for m in owed.left_out)}
        )
    if not parts:
        return ""
    return _("Not counted in these amounts (in %(currency)s only): %(parts)s.") % {
        "currency": board.organization.currency,
        "parts": "; ".join(parts),
    }


def subscribers_chart(trend: list[selectors.TrendPoint]) -> str:
    points = [
        charts.WeekPoint(
            label=week_label(point.week),
            value=point.value,
            title=_("Week of %(date)s: %(count)s subscribers")
            % {"date": formats.date_format(point.week), "count": number(point.value or 0)},
        )
        for point in trend
    ]
    chart = charts.count_line(
        points, frame=charts.CARD_FRAME, number=number, labels=charts.CARD_X_LABELS
    )
    return charts.svg_line_chart(
        chart,
        label=_("Subscribers week by week"),
        empty_text=_("No subscribers"),
        css_class="dashboard-chart subscribers-by-week",
    )


def subscription_figures(board: selectors.Dashboard) -> list[Figure]:
    organization = board.organization
    people = board.subscribers
    moves = board.movements
    return [
        counted(
            _("Active subscribers"),
            people.active,
            changelist(Subscription, organization, status__exact=Status.ACTIVE),
        ),
        Figure(
            label=_("Monthly recurring revenue"),
            value=amount(board.revenue),
            url=changelist(Subscription, organization, status__exact=Status.ACTIVE),
            hint=_("What the active subscriptions cost in a month, weekly ones included."),
            wide=True,
        ),
        counted(
            _("New this month"),
            moves.new,
            changelist(Subscription, organization, started="month"),
        ),
        counted(
            _("Churned this month"),
            moves.churned,
            changelist(Subscription, organization, status__exact=Status.CANCELED, ended="month"),
        ),
        counted(
            _("Paused"),
            people.paused,
            changelist(Subscription, organization, status__exact=Status.PAUSED),
        ),
        counted(
            _("Past due"),
            board.past_due.count,
            changelist(Subscription, organization, status__exact=Status.PAST_DUE),
            hint=_("Owed: %(amount)s") % {"amount": amount(board.past_due.owed)},
            tone="error" if board.past_due.count else "",
        ),
    ]


def batch_context(board: selectors.Dashboard) -> dict | None:
    upcoming = board.next_batch
    if upcoming is None:
        return None
    batch = upcoming.batch
    organization = board.organization
    page = reverse("admin:fulfillment_batch_change", args=[batch.pk])
    if upcoming.preview:
        # An open batch's boxes are a preview on its page, not yet lines.
        figures = [
            Figure(label=_("Boxes due"), value=number(upcoming.boxes), url=page),
            *(
                Figure(label=label, value=number(count), url=page)
                for _s, label, count in upcoming.lines
            ),
        ]
        if upcoming.later:
            # Due before the cut-off, not yet started: in the batch only if it is not
            # locked before then (the batch's page lists them).
            figures.append(
                Figure(
                    label=_("Due later, before the cut-off"), value=number(upcoming.later), url=page
                )
            )
    else:
        live = [status for status, _label, _count in upcoming.lines]
        figures = [
            counted(
                _("Boxes"),
                upcoming.boxes,
                changelist(
                    BatchLine, organization, batch__id__exact=batch.pk, status__in=",".join(live)
                ),
            ),
            *(
                counted(
                    label,
                    count,
                    changelist(
                        BatchLine, organization, batch__id__exact=batch.pk, status__exact=status
                    ),
                )
                for status, label, count in upcoming.lines
            ),
        ]
    now = board.now
    if batch.status == Batch.Status.OPEN:
        if batch.cutoff_at > now:
            countdown = _("Cut-off in %(time)s, %(when)s.") % {
                "time": timeuntil(batch.cutoff_at, now, depth=2),
                "when": when(batch.cutoff_at, organization.tzinfo),
            }
        else:
            countdown = _("Cut-off passed at %(when)s: the batch locks at the next beat.") % {
                "when": when(batch.cutoff_at, organization.tzinfo)
            }
    else:
        countdown = _("Locked at the cut-off, %(when)s: to prepare and dispatch.") % {
            "when": when(batch.cutoff_at, organization.tzinfo)
        }
    plan_url = reverse("fulfillment:batch-export", args=[batch.pk, "production-plan.html"])
    return {
        "batch": batch,
        "url": page,
        "status": batch.get_status_display(),
        "preview": upcoming.preview,
        "countdown": countdown,
        "figures": figures,
        "production": [
            {
                "sku": product.total.sku,
                "name": product.total.name,
                "quantity": number(product.total.quantity),
                "kilograms": (
                    number(product.total.kilograms, 3)
                    if product.total.kilograms is not None
                    else ""
                ),
            }
            for product in upcoming.production
        ],
        "production_url": plan_url,
    }


def satisfaction_context(board: selectors.Dashboard) -> dict:
    """The last 30 days' NPS; this month's beside it once the month has answers.

    A calendar month alone would leave the card empty for the first days of every
    month, when staff still want to know how things stand.
    """
    organization = board.organization
    recent = board.satisfaction.recent.nps
    month = board.satisfaction.this_month.nps
    report = reverse("admin:satisfaction_satisfactionsurvey_report")
    report_url = f"{report}?{urlencode({'organization': organization.pk})}"
    answered = {"status__exact": SatisfactionSurvey.Status.ANSWERED}
    figures = [
        counted(
            _("Answers, last 30 days"),
            recent.answers,
            changelist(SatisfactionSurvey, organization, answered="30days", **answered),
        )
    ]
    if month.answers:
        figures += [
            Figure(label=_("NPS this month"), value=nps_number(month.score), url=report_url),
            counted(
                _("Answers this month"),
                month.answers,
                changelist(SatisfactionSurvey, organization, answered="month", **answered),
            ),
        ]
    return {
        "headline": nps_headline(recent),
        "report_url": report_url,
        "figures": figures,
        # satisfaction.charts escapes every text it writes.
        "chart": mark_safe(  # noqa: S308
            week_chart(organization, board.satisfaction.trend_start, board.now, card=True)
        ),
    }


def returns_figures(board: selectors.Dashboard) -> list[Figure]:
    organization = board.organization
    return [
        counted(
            _("Open cases"),
            board.returns.open,
            changelist(ReturnRequest, organization, status__in=",".join(ReturnRequest.OPEN)),
        ),
        counted(
            _("Overdue"),
            board.returns.overdue,
            changelist(ReturnRequest, organization, overdue="yes"),
            tone="error" if board.returns.overdue else "",
        ),
    ]


def subscriber_change_figures(board: selectors.Dashboard) -> list[Figure]:
    """This week's changes subscribers made in their portal, and the subscriptions they
    changed (the list counts subscriptions: a subscriber may change one several times)."""
    changed = board.subscriber_changes
    if changed is None:
        return []
    url = changelist(Subscription, board.organization, subscriber_changes="week")
    return [
        Figure(
            label=_("Changes from subscribers this week"),
            value=number(changed.changes),
            url=url,
            hint=_("Preferences, deliveries, pauses... made in their portal since Monday."),
        ),
        counted(_("Subscriptions they changed"), changed.subscriptions, url),
    ]


def store_rows(board: selectors.Dashboard) -> list[dict]:
    organization = board.organization
    rows = []
    for health in board.stores:
        store = health.store
        deliveries = {"store__id__exact": store.pk}
        rows.append(
            {
                "name": store.name,
                "url": reverse("admin:woocommerce_woocommercestore_change", args=[store.pk]),
                "active": store.active,
                "last": Figure(
                    label=_("Last delivery"),
                    value=(
                        when(health.last_delivery_at, organization.tzinfo)
                        if health.last_delivery_at
                        else _("never")
                    ),
                    url=changelist(WebhookDelivery, organization, **deliveries),
                    wide=True,
                    text=True,
                ),
                "failed": counted(
                    _("Failed"),
                    health.failed,
                    changelist(
                        WebhookDelivery,
                        organization,
                        status__exact=WebhookDelivery.Status.FAILED,
                        **deliveries,
                    ),
                    tone="error" if health.failed else "",
                ),
                "waiting": counted(
                    _("Waiting"),
                    health.waiting,
                    changelist(
                        WebhookDelivery,
                        organization,
                        status__in=",".join(WebhookDelivery.WAITING),
                        **deliveries,
                    ),
                    tone="warning" if health.waiting else "",
                ),
            }
        )
    return rows


def dashboard_context(request, *, now: datetime | None = None) -> dict:
    """The dashboard of the organization the member works in (none if they have none)."""
    organizations = organizations_of(request)
    organization = current_organization(request, organizations)
    if organization is None:
        return {"dashboard": None}
    now = now or timezone.now()
    board = selectors.dashboard(organization=organization, now=now)
    people = board.subscribers
    return {
        "dashboard": {
            "organization": organization,
            "organizations": organizations if len(organizations) > 1 else [],
            "generated": when(now, organization.tzinfo),
            "timezone": organization.timezone,
            "subscriptions": subscription_figures(board),
            "subscribers_chart": mark_safe(subscribers_chart(people.trend)),  # noqa: S308
            "left_out": left_out(board),
            "batch": batch_context(board),
            "to_dispatch": [
                {
                    "batch": waiting.batch,
                    "url": reverse("admin:fulfillment_batch_change", args=[waiting.batch.pk]),
                    "boxes": ngettext(
                        "%(count)s box to prepare or ship",
                        "%(count)s boxes to prepare or ship",
                        waiting.boxes,
                    )
                    % {"count": number(waiting.boxes)},
                }
                for waiting in board.to_dispatch
                if board.next_batch is None or waiting.batch.pk != board.next_batch.batch.pk
            ],
            "batches_url": changelist(Batch, organization),
            "satisfaction": satisfaction_context(board),
            "returns": returns_figures(board),
            "subscriber_changes": subscriber_change_figures(board),
            "stores": store_rows(board),
            "month": formats.date_format(
                board.movements.start.astimezone(organization.tzinfo), "F Y"
            ),
            "stores_hint": ngettext(
                "%(count)s WooCommerce shop", "%(count)s WooCommerce shops", len(board.stores)
            )
            % {"count": number(len(board.stores))},
        }
    }


def pick_organization(request) -> HttpResponseRedirect | None:
    """`?organization=<id>` on the home page: work in it from now on (if the member sees it)."""
    chosen = request.GET.get("organization")
    if not chosen:
        return None
    for organization in organizations_of(request):
        if str(organization.pk) == chosen:
            organization_pick(request, organization)
            break
    return HttpResponseRedirect(reverse("admin:index"))


def search_page(request):
    """The header's search box: every row the text may name; straight to it when only one."""
    organization = current_organization(request)
    raw = request.GET.get("q", "")
    hits, error = [], ""
    if organization is not None and raw.strip():
        try:
            hits = search.search(organization=organization, query=raw)
        except search.QueryError as refused:
            error = str(refused)
    results = [
        {
            "kind": hit.kind_label,
            "title": hit.title,
            "detail": hit.detail,
            "url": (
                reverse("admin:customer_story", args=[hit.pk])
                if hit.model is Customer
                else reverse(
                    f"admin:{hit.model._meta.app_label}_{hit.model._meta.model_name}_change",
                    args=[hit.pk],
                )
            ),
        }
        for hit in hits
    ]
    if len(results) == 1 and request.GET.get("go", "1") == "1":
        return HttpResponseRedirect(results[0]["url"])
    context = {
        **admin.site.each_context(request),
        "title": _("Search"),
        "query": raw,
        "results": results,
        "error": error,
        "organization": organization,
    }
    return TemplateResponse(request, "admin/search.html", context)


def customer_page(request, pk: int):
    """A customer's whole story (dashboard.customers), for staff who may view them."""
    customers = admin.site._registry[Customer].get_queryset(request).select_related("organization")
    customer = customers.filter(pk=pk).first()
    if customer is None:
        raise Http404
    story = customer_story(customer=customer)
    organization = customer.organization
    tz = organization.tzinfo

    def listed(model, **params):
        return changelist(model, organization, **params)

    def amounts(totals: dict) -> str:
        return ", ".join(money(total, currency) for currency, total in totals.items()) or "-"

    subscriptions = []
    for subscription in story.subscriptions:
        subscriptions.append(
            {
                "url": reverse("admin:subscriptions_subscription_change", args=[subscription.pk]),
                "title": str(_("Subscription %(number)s") % {"number": subscription.pk}),
                "status": subscription.get_status_display(),
                "items": ", ".join(str(item) for item in subscription.items.all()),
                "price": money(
                    sum((item.total for item in subscription.items.all()), Decimal(0)),
                    subscription.currency,
                ),
                "next": (
                    when(subscription.next_charge_at, tz)
                    if subscription.status == Subscription.Status.ACTIVE
                    else "-"
                ),
                "preferences": [
                    (row.label, row.display)
                    for row in story.preferences.get(subscription.pk, [])
                    if row.display
                ],
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": str(customer),
        "customer": customer,
        "change_url": reverse("admin:crm_customer_change", args=[customer.pk]),
        "subscriptions": subscriptions,
        "subscriptions_url": listed(Subscription, customer__id__exact=customer.pk),
        "addresses": story.addresses,
        "lifetime": amounts(story.lifetime),
        "owed": amounts(story.owed),
        "charges": [
            {
                "url": reverse("admin:subscriptions_charge_change", args=[charge.pk]),
                "cycle": charge.cycle,
                "period": when(charge.period_start, tz),
                "amount": money(charge.amount, charge.currency),
                "status": charge.get_status_display(),
            }
            for charge in story.charges
        ],
        "charges_count": story.charges_count,
        "charges_url": listed(Charge, subscription__customer__id__exact=customer.pk),
        "shipments": [
            {
                "url": reverse("admin:fulfillment_shipment_change", args=[shipment.pk]),
                "batch": str(shipment.batch),
                "carrier": shipment.carrier,
                "tracking": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "status": shipment.get_status_display(),
                "delivered": when(shipment.delivered_at, tz) if shipment.delivered_at else "-",
            }
            for shipment in story.shipments
        ],
        "shipments_count": story.shipments_count,
        "shipments_url": listed(Shipment, customer__id__exact=customer.pk),
        "cases": [
            {
                "url": reverse("admin:returns_returnrequest_change", args=[case.pk]),
                "title": str(case),
                "status": case.get_status_display(),
                "opened": when(case.opened_at, tz),
            }
            for case in story.cases
        ],
        "cases_count": story.cases_count,
        "open_cases": story.open_cases,
        "cases_url": listed(ReturnRequest, customer__id__exact=customer.pk),
        "surveys": [
            {
                "url": reverse("admin:satisfaction_satisfactionsurvey_change", args=[survey.pk]),
                "score": survey.score,
                "comment": survey.comment,
                "answered": when(survey.answered_at, tz),
            }
            for survey in story.surveys
        ],
        "surveys_count": story.surveys_count,
        "notes": [
            {
                "text": note.text,
                "by": note.actor_display(),
                "time": when(note.created_at, tz),
                "about": (
                    str(_("Subscription %(number)s") % {"number": note.subscription_id})
                    if getattr(note, "subscription_id", None)
                    else ""
                ),
            }
            for note in story.notes
        ],
        "emails": [
            {
                "kind": email.get_kind_display(),
                "subject": email.subject,
                "to": email.to,
                "status": email.get_status_display(),
                "error": email.error,
                "time": when(email.sent_at, tz),
            }
            for email in story.emails
        ],
        # The answers only, as the section counts them (a survey sent is no answer yet).
        "surveys_url": listed(
            SatisfactionSurvey,
            customer__id__exact=customer.pk,
            status__exact=SatisfactionSurvey.Status.ANSWERED,
        ),
    }
    return TemplateResponse(request, "admin/crm/customer/story.html", context)
