"""The satisfaction API: the surveys, two actions on them, and the NPS report of a period.

Every view is scoped to the API key's organization: another organization's
survey is a 404 exactly like an unknown id, and lists and reports never count
it. Each action calls one service of `satisfaction.services` with the API key
as the actor and renders the survey as it is afterwards; a status that does not
allow the action answers 409 with the service's message, and nothing is written.
Opening an after-sales case from an answer stays in the admin: the case is
accepted outside the return window, which only a staff member may decide.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from satisfaction import selectors, services
from satisfaction.api.filters import SatisfactionSurveyFilter
from satisfaction.api.serializers import (
    NpsQuerySerializer,
    NpsReportSerializer,
    SurveyCancelInputSerializer,
    SurveySerializer,
)
from satisfaction.models import SatisfactionSurvey


@extend_schema(tags=["satisfaction"])
class SatisfactionSurveyViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """Satisfaction surveys: one per delivered box (at most one per customer in the cooling
    period), `scheduled` a few days after the delivery, `sent` by e-mail, `answered` with a
    score from 0 to 10 and a comment (the customer may change it until it expires),
    `expired` unanswered, or `canceled` before being sent."""

    model = SatisfactionSurvey
    selector = staticmethod(selectors.survey_list)
    serializer_class = SurveySerializer
    # The selector applies the filters; declared here so the schema lists them.
    filterset_class = SatisfactionSurveyFilter
    http_method_names = ["get", "post", "head", "options"]

    def _render(self, survey: SatisfactionSurvey) -> Response:
        survey = self.get_queryset().get(pk=survey.pk)  # with its customer
        return Response(SurveySerializer(survey).data)

    # --- Reads ---------------------------------------------------------------

    @extend_schema(responses={200: SurveySerializer(many=True), **INVALID, **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The surveys, the latest to send first. The survey's link is not shown: it is
        the customer's own."""
        surveys = selectors.survey_list(
            organization=self.organization, filters=request.query_params
        )
        page = self.paginate_queryset(surveys)
        return self.get_paginated_response(SurveySerializer(page, many=True).data)

    @extend_schema(responses={200: SurveySerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One survey."""
        return Response(SurveySerializer(self.get_object()).data)

    # --- Writes --------------------------------------------------------------

    @extend_schema(
        request=None,
        responses={200: SurveySerializer, **UNAUTHORIZED, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="follow-up")
    def follow_up(self, request, *args, **kwargs):
        """Record that someone took care of an answered survey (called the customer, wrote
        back...): `followed_up_at` is set, and `needs_follow_up` becomes false. Once is
        enough: doing it again keeps the first time. A survey not answered answers 409.

        Opening an after-sales case from the answer is done in the admin only: the case
        is accepted outside the return window, which needs a staff member."""
        survey = self.get_object()
        return self._render(services.survey_mark_followed_up(survey=survey, actor=self.actor))

    @extend_schema(
        request=SurveyCancelInputSerializer,
        responses={200: SurveySerializer, **INVALID, **UNAUTHORIZED, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Do not send a scheduled survey after all; `canceled_reason` says why. A survey
        already sent answers 409."""
        survey = self.get_object()
        data = self._input(SurveyCancelInputSerializer)
        return self._render(services.survey_cancel(survey=survey, actor=self.actor, **data))


@extend_schema(tags=["satisfaction"])
class SatisfactionReportViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """The Net Promoter Score of the organization's answers."""

    model = SatisfactionSurvey
    selector = staticmethod(selectors.survey_list)
    serializer_class = NpsReportSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[NpsQuerySerializer],
        responses={200: NpsReportSerializer, **INVALID, **UNAUTHORIZED},
    )
    @action(detail=False, methods=["get"])
    def nps(self, request, *args, **kwargs):
        """The NPS of the answers first given in a period of the organization's days
        (`start` to `end`, both included; by default the last twelve weeks ending today),
        in all, per week (Monday to Sunday), per score, per product the boxes held and per
        value of each choice, multi-choice and yes/no preference the boxes were packed
        with; labels in the request's language (Accept-Language).

        An answer counts in the period and week of its first answer, with the latest
        score the customer gave. `response_rate` is the share of the surveys e-mailed in
        the period that were answered. `nps` and `margin_of_error` are null without an
        answer. A start after the end, a period over two years or a date that is not
        YYYY-MM-DD answers 400 naming the parameter under `extra.fields`."""
        query = NpsQuerySerializer(
            data=request.query_params, context={"organization": self.organization}
        )
        query.is_valid(raise_exception=True)
        report = selectors.nps_report(organization=self.organization, **query.validated_data)
        return Response(NpsReportSerializer(report).data)
