"""The public survey page: no login, the link's token is the key.

The page speaks the customer's language (the survey's), whatever the browser
says, and names nobody but the customer by first name. GET never writes (mail
scanners open links); a score clicked in the e-mail arrives as `?score=N` and is
only preselected. The answer is a POST, then a redirect to the thank-you page.
An unknown link answers 404 and a closed survey 410, both with a polite page.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from satisfaction import services
from satisfaction.models import SatisfactionSurvey

SCORES = range(11)


class AnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Score"),
        choices=[(score, str(score)) for score in SCORES],
        coerce=int,
        error_messages={"required": _("Pick a score from 0 to 10.")},
    )
    comment = forms.CharField(
        label=_("Anything to add? (optional)"),
        required=False,
        max_length=services.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["Content-Language"] = translation.get_language()
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "same-origin"  # no-referrer would make the POST's Origin "null"
    return response


def _unavailable(request: HttpRequest, survey: SatisfactionSurvey | None) -> HttpResponse:
    context = {"survey": survey, "organization": survey.organization if survey else None}
    return _private(
        render(request, "satisfaction/unavailable.html", context, status=410 if survey else 404)
    )


def _page(request, survey, form, status=200):
    context = {
        "survey": survey,
        "organization": survey.organization,
        "first_name": survey.customer.first_name.strip(),
        "question": services.survey_question(survey),
        "form": form,
        "scores": SCORES,
        "selected": form["score"].value(),
        "answered": survey.status == SatisfactionSurvey.Status.ANSWERED,
    }
    return _private(render(request, "satisfaction/survey.html", context, status=status))


@never_cache
@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        survey = services.survey_for_token(token)
    except ApplicationError:
        return _unavailable(request, None)
    with translation.override(survey.language):
        if not survey.is_open():
            return _unavailable(request, survey)
        if request.method == "GET":
            initial = {"score": survey.score, "comment": survey.comment}
            if request.GET.get("score", "").isdigit() and int(request.GET["score"]) in SCORES:
                initial["score"] = int(request.GET["score"])
            return _page(request, survey, AnswerForm(initial=initial))
        form = AnswerForm(request.POST)
        if not form.is_valid():
            return _page(request, survey, form, status=400)
        try:
            services.survey_answer(
                token=token, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
            )
        except services.SurveyClosed:
            return _unavailable(request, survey)
        except ApplicationError as error:
            for field, messages in error.extra.get("fields", {}).items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
            return _page(request, survey, form, status=400)
        return redirect("satisfaction:thanks", token=token)


@never_cache
@require_http_methods(["GET"])
def survey_thanks(request: HttpRequest, token: str) -> HttpResponse:
    try:
        survey = services.survey_for_token(token)
    except ApplicationError:
        return _unavailable(request, None)
    with translation.override(survey.language):
        context = {
            "survey": survey,
            "organization": survey.organization,
            "first_name": survey.customer.first_name.strip(),
            "may_change": survey.is_open(),
        }
        return _private(render(request, "satisfaction/thanks.html", context))


@csrf_exempt  # mail clients' one-click unsubscribe posts without a cookie; the token is the key
@never_cache
@require_http_methods(["GET", "POST"])
def survey_opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation (a link opened is not a decision); POST records it."""
    try:
        survey = services.survey_for_token(token)
    except ApplicationError:
        return _unavailable(request, None)
    with translation.override(survey.language):
        done = request.method == "POST"
        if done:
            services.survey_opt_out(token=token)
        context = {"survey": survey, "organization": survey.organization, "done": done}
        return _private(render(request, "satisfaction/opt_out.html", context))
