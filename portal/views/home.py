"""What the subscriber sees: their subscriptions, boxes and charges; the portal's colours."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.access import customer_required, organization_page
from subscriptions.models import Subscription


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


@customer_required
def home(request):
    portal = request.portal
    subscriptions = list(
        Subscription.objects.filter(
            organization=portal.organization, customer=portal.customer
        ).order_by("-started_at", "-id")
    )
    return render(request, "portal/home.html", {"subscriptions": subscriptions})


@customer_required
def subscription(request, subscription_id):
    raise Http404


@customer_required
def boxes(request):
    raise Http404


@customer_required
def charges(request):
    raise Http404
