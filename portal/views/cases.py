"""After-sales cases and surveys in the portal.

- `case_list`: the customer's cases, the delivered boxes a case may still be opened about,
  the pending surveys and the switch to stop survey e-mails.
- `case_open`: a case about one of the customer's delivered boxes, inside the return
  window (outside: a page saying when it closed, nothing written), through
  `returns.services.return_open` and `return_photos_add` in one transaction, actor the
  customer. Photos: at most 3, 5 MB each, JPEG/PNG/WebP by their content.
- `case_detail`, `case_photo`: the case as the customer reads it (no staff notes), and its
  photos streamed after checking the case is theirs.
- `survey`: answer a pending survey through `satisfaction.services.survey_answer` (the
  e-mail page's service), `surveys_stop`: `customer_opt_out` (the opt-out link's).

Request size: `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MB) counts a multipart body's fields, not
its files, so 3 photos of 5 MB pass it and it stays as it is for every other route. This
route bounds the uploads itself instead: a body declaring more than `CASE_BODY_MAX_BYTES`
is refused (413) before it is read, and a file is read no further than 5 MB
(`forms_cases.PhotoSizeLimit`). Installing that handler must happen before the body is
parsed, and CSRF's middleware parses it: the route is exempted from the middleware and
checks CSRF itself with `csrf_protect` once the handler is in place (Django's documented
way to change upload handlers in a view).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from core import clock
from core.actors import Actor
from core.errors import ApplicationError
from fulfillment.models import Shipment
from portal import notify
from portal.access import customer_required
from portal.forms_cases import CaseOpenForm, PhotoSizeLimit, SurveyAnswerForm
from portal.selectors_cases import (
    boxes_open_to_cases,
    customer_case,
    customer_cases,
    customer_shipments,
    customer_surveys,
    customer_timeline,
    pending_surveys,
    resolution_text,
    return_config_of,
    surveys_stopped,
)
from returns import photos as photo_rules
from returns import services as returns
from returns.files import photo_response
from returns.models import ReturnRequest
from returns.selectors import return_reason_list
from satisfaction import services as satisfaction
from satisfaction.models import SatisfactionSurvey
from satisfaction.services import COMMENT_MAX_LENGTH

#: The largest body the case form may send: three photos and the form's fields.
CASE_BODY_MAX_BYTES = photo_rules.PHOTOS_MAX * photo_rules.PHOTO_MAX_BYTES + 1024 * 1024


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


def _local_date(value) -> str:
    return formats.date_format(value) if value else ""


def _day(value, organization) -> str:
    """An instant's date in the organization's time, in the active language."""
    return _local_date(value.astimezone(organization.tzinfo).date()) if value else ""


def _number(text: str) -> int | None:
    """A whole number of at most 18 ASCII digits (any id, any body size), else None.
    (`str.isdigit` is true of "²", which `int` refuses, and of other scripts' digits;
    `int` refuses more than 4,300 digits.)"""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


# --- The list ---------------------------------------------------------------------------------


@require_GET
@customer_required
def case_list(request):
    portal = request.portal
    customer = portal.customer
    context = {
        "cases": list(customer_cases(customer=customer)),
        "boxes": boxes_open_to_cases(customer=customer) if portal.settings.allow_cases else [],
        "surveys": pending_surveys(customer=customer) if portal.settings.allow_surveys else [],
        "surveys_stopped": surveys_stopped(customer=customer),
    }
    return render(request, "portal/cases/list.html", context)


# --- Opening a case ---------------------------------------------------------------------------


def _form_errors(form, error: ApplicationError) -> None:
    """A service's refusal on the form: on its field when the form has it, else on top."""
    fields = error.extra.get("fields", {})
    placed = False
    for field, problems in fields.items():
        for problem in problems:
            if field in form.fields:
                form.add_error(field, problem)
                placed = True
    if not placed or error.extra.keys() - {"fields"}:
        form.add_error(None, error.message)


@csrf_exempt  # checked below by csrf_protect, once the upload handler is installed
@customer_required
def case_open(request, shipment_id):
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    portal = request.portal
    if not portal.settings.allow_cases:
        raise Http404
    shipment = customer_shipments(customer=portal.customer).filter(pk=shipment_id).first()
    if shipment is None:
        raise Http404
    if request.method == "POST":
        declared = _number(request.META.get("CONTENT_LENGTH") or "0")
        if declared is None or declared > CASE_BODY_MAX_BYTES:
            return render(
                request,
                "portal/cases/too_large.html",
                {"shipment": shipment, "max_mb": CASE_BODY_MAX_BYTES // (1024 * 1024)},
                status=413,
            )
        limit = PhotoSizeLimit(request)
        request.upload_handlers.insert(0, limit)
        return csrf_protect(_case_open)(request, shipment, limit.too_large)
    return _case_open(request, shipment, [])


def _case_open(request, shipment: Shipment, too_large: list[str]):
    portal = request.portal
    organization, customer = portal.organization, portal.customer
    config = return_config_of(organization=organization)
    last_day = returns.window_last_day(config=config, shipment=shipment)
    today = clock.now().astimezone(organization.tzinfo).date()
    if last_day is not None and today > last_day:
        context = {"shipment": shipment, "last_day": last_day, "settings": portal.settings}
        status = 409 if request.method == "POST" else 200
        return render(request, "portal/cases/window_closed.html", context, status=status)
    open_case = shipment.return_requests.filter(status__in=ReturnRequest.OPEN).first()
    if open_case is not None:
        messages.info(request, _("A case is already open for this box: here it is."))
        return redirect(portal.url("case", case_id=open_case.pk))
    returns.return_config_ensure(organization=organization)  # the reasons, the first time
    form_kwargs = {
        "reasons": return_reason_list(organization=organization),
        "box_items": shipment.line.items,
    }
    if request.method == "GET":
        form = CaseOpenForm(**form_kwargs)
        return _case_page(request, shipment, last_day, form)
    form = CaseOpenForm(request.POST, request.FILES, too_large=too_large, **form_kwargs)
    if not form.is_valid():
        return _case_page(request, shipment, last_day, form, status=400)
    actor = Actor.for_customer(customer)
    photos = form.cleaned_data["photos"]
    try:
        with transaction.atomic():
            case = returns.return_open(
                organization=organization,
                shipment=shipment,
                reason=form.cleaned_data["reason"],
                actor=actor,
                description=form.cleaned_data["description"],
                items=form.chosen_items() or None,
            )
            returns.return_photos_add(case=case, actor=actor, files=photos)
    except ApplicationError as error:
        _form_errors(form, error)
        return _case_page(request, shipment, last_day, form, status=error.status)
    case_url = portal.url("case", case_id=case.pk)
    lines = [
        _("After-sales case %(number)s about your box delivered on %(date)s: %(reason)s.")
        % {
            "number": case.pk,
            "date": _local_date(_delivered_on(shipment, organization)),
            "reason": case.reason.display_label,
        }
    ]
    if photos:
        lines.append(_("Photos attached: %(count)s.") % {"count": len(photos)})
    lines.append(_("We answer by %(date)s.") % {"date": _day(case.due_at, organization)})
    notify.confirm(
        customer=customer,
        subject=_("Your after-sales case %(number)s is open") % {"number": case.pk},
        lines=lines,
        portal_url=_absolute(case_url),
    )
    messages.success(
        request,
        _("Case %(number)s is open: we answer by %(date)s.")
        % {"number": case.pk, "date": _day(case.due_at, organization)},
    )
    return redirect(case_url)


def _delivered_on(shipment: Shipment, organization):
    when = shipment.delivered_at or shipment.shipped_at
    return when.astimezone(organization.tzinfo).date() if when else None


def _case_page(request, shipment, last_day, form, status=200):
    organization = request.portal.organization
    context = {
        "shipment": shipment,
        "delivered_on": _delivered_on(shipment, organization),
        "last_day": last_day,
        "form": form,
        "max_photos": photo_rules.PHOTOS_MAX,
    }
    return render(request, "portal/cases/open.html", context, status=status)


# --- A case -----------------------------------------------------------------------------------


@require_GET
@customer_required
def case_detail(request, case_id):
    case = customer_case(customer=request.portal.customer, case_id=case_id)
    if case is None:
        raise Http404
    context = {
        "case": case,
        "timeline": customer_timeline(case=case),
        "resolution": resolution_text(case=case),
        "photos": list(case.photos.order_by("created_at", "id")),
        "delivered_on": _delivered_on(case.shipment, request.portal.organization),
    }
    return render(request, "portal/cases/detail.html", context)


@require_GET
@customer_required
def case_photo(request, case_id):
    """One photo of the customer's own case (`?photo=<id>`); anything else is a 404."""
    case = customer_case(customer=request.portal.customer, case_id=case_id)
    photo_id = _number(request.GET.get("photo", ""))
    if case is None or photo_id is None:
        raise Http404
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404
    return photo_response(photo)


# --- Surveys ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@customer_required
def survey(request, survey_id):
    portal = request.portal
    if not portal.settings.allow_surveys:
        raise Http404
    found = customer_surveys(customer=portal.customer).filter(pk=survey_id).first()
    if found is None:
        raise Http404
    if found.status == SatisfactionSurvey.Status.ANSWERED:
        return _survey_refused(
            request,
            found,
            _("You already answered this survey on %(date)s. Thank you!")
            % {"date": _day(found.answered_at, portal.organization)},
        )
    if not found.is_open():
        return _survey_refused(request, found, _("This survey is closed."))
    if request.method == "GET":
        return _survey_page(request, found, SurveyAnswerForm())
    form = SurveyAnswerForm(request.POST)
    if not form.is_valid():
        return _survey_page(request, found, form, status=400)
    try:
        satisfaction.survey_answer(
            token=found.token,
            score=form.cleaned_data["score"],
            comment=form.cleaned_data["comment"],
            customer=portal.customer,
            first_answer_only=True,
        )
    except (satisfaction.SurveyAnswered, satisfaction.SurveyClosed) as error:
        return _survey_refused(request, found, error.message)
    except ApplicationError as error:
        _form_errors(form, error)
        return _survey_page(request, found, form, status=error.status)
    notify.confirm(
        customer=portal.customer,
        subject=_("Thank you for your answer"),
        lines=[
            _("Your answer about the box delivered on %(date)s: %(score)s out of 10.")
            % {
                "date": _local_date(_delivered_on(found.shipment, request.portal.organization)),
                "score": form.cleaned_data["score"],
            }
        ],
        portal_url=_absolute(portal.url("cases")),
    )
    messages.success(request, _("Thank you: your answer is recorded."))
    return redirect(portal.url("cases"))


def _survey_page(request, found, form, status=200):
    context = {
        "survey": found,
        "question": satisfaction.survey_question(found),
        "delivered_on": _delivered_on(found.shipment, request.portal.organization),
        "form": form,
        "comment_max": COMMENT_MAX_LENGTH,
    }
    return render(request, "portal/cases/survey.html", context, status=status)


def _survey_refused(request, found, message: str):
    status = 409 if request.method == "POST" else 200
    context = {"survey": found, "message": message}
    return render(request, "portal/cases/survey_refused.html", context, status=status)


@require_http_methods(["GET", "POST"])
@customer_required
def surveys_stop(request):
    """GET asks for confirmation; POST stops survey e-mails (the opt-out link's service)."""
    portal = request.portal
    if not portal.settings.allow_surveys:
        raise Http404
    stopped = surveys_stopped(customer=portal.customer)
    if request.method == "GET" or stopped:
        return render(request, "portal/cases/surveys_stop.html", {"stopped": stopped})
    satisfaction.customer_opt_out(customer=portal.customer)
    notify.confirm(
        customer=portal.customer,
        subject=_("You will receive no more surveys"),
        lines=[_("We will send you no more satisfaction surveys by e-mail.")],
        portal_url=_absolute(portal.url("cases")),
    )
    messages.success(request, _("Done: we will send you no more surveys."))
    return redirect(portal.url("cases"))
