"""Portal views: PLACEHOLDER (to be written; every function answers 404 until then)."""

from django.http import Http404

from portal.access import customer_required, organization_page


@organization_page
def sign_in(request):
    raise Http404


@organization_page
def enter_code(request):
    raise Http404


@organization_page
def sign_in_link(request, token):
    raise Http404


@customer_required
def sign_out(request):
    raise Http404


@customer_required
def sign_out_everywhere(request):
    raise Http404
