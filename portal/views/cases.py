"""Portal views: PLACEHOLDER (to be written; every function answers 404 until then)."""

from django.http import Http404

from portal.access import customer_required


@customer_required
def case_list(request):
    raise Http404


@customer_required
def case_open(request, shipment_id):
    raise Http404


@customer_required
def case_detail(request, case_id):
    raise Http404


@customer_required
def survey(request, survey_id):
    raise Http404


@customer_required
def surveys_stop(request):
    raise Http404
