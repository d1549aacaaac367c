"""Portal views: PLACEHOLDER (to be written; every function answers 404 until then)."""

from django.http import Http404

from portal.access import customer_required


@customer_required
def skip(request, subscription_id, on):
    raise Http404


@customer_required
def unskip(request, subscription_id, on):
    raise Http404


@customer_required
def pause(request, subscription_id):
    raise Http404


@customer_required
def resume(request, subscription_id):
    raise Http404


@customer_required
def frequency(request, subscription_id):
    raise Http404


@customer_required
def swap(request, subscription_id):
    raise Http404


@customer_required
def cancel(request, subscription_id):
    raise Http404
