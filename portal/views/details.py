"""Portal views: PLACEHOLDER (to be written; every function answers 404 until then)."""

from django.http import Http404

from portal.access import customer_required


@customer_required
def preferences(request, subscription_id):
    raise Http404


@customer_required
def address(request, subscription_id):
    raise Http404
