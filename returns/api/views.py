"""The returns API: after-sales cases, the actions that move them, and the reasons.

Every view is scoped to the API key's organization: another organization's
case is a 404 exactly like an unknown id, and another organization's shipment
is an unknown shipment (400). Each action validates its input, calls one
service of `returns.services` with the API key as the actor, and renders the
case as it is afterwards; a status that does not allow the action answers 409
with the service's message, and nothing is written.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from returns import selectors, services
from returns.api.filters import ReturnRequestFilter
from returns.api.serializers import (
    ReturnActionInputSerializer,
    ReturnCancelInputSerializer,
    ReturnCaseSerializer,
    ReturnNoteInputSerializer,
    ReturnOpenInputSerializer,
    ReturnReasonSerializer,
    ReturnReassignInputSerializer,
    ReturnRejectInputSerializer,
    ReturnResolveInputSerializer,
)
from returns.models import ReturnReason, ReturnRequest


def _documented_action(request, *, created: bool = False):
    """Schema of an action on a case: the case afterwards, or why not."""
    return extend_schema(
        request=request,
        responses={
            (201 if created else 200): ReturnCaseSerializer,
            **INVALID,
            **UNAUTHORIZED,
            **NOT_FOUND,
            **CONFLICT,
        },
    )


@extend_schema(tags=["returns"])
class ReturnRequestViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """After-sales cases: a request about one shipment, `requested`, then `approved` or
    `rejected`, the goods `received`, and `resolved` by a refund, a replacement in the next
    batch, a credit or nothing; `canceled` while requested or approved. Each case has an
    assignee and a due date; its timeline says who did what and when."""

    model = ReturnRequest
    selector = staticmethod(selectors.return_request_list)
    serializer_class = ReturnCaseSerializer
    # The selector applies the filters; declared here so the schema lists them.
    filterset_class = ReturnRequestFilter
    http_method_names = ["get", "post", "head", "options"]

    # --- Helpers -------------------------------------------------------------

    def _render(self, case: ReturnRequest, *, status_code=status.HTTP_200_OK) -> Response:
        case = self.get_queryset().get(pk=case.pk)  # with its annotation, joins and timeline
        return Response(ReturnCaseSerializer(case).data, status=status_code)

    # --- Reads ---------------------------------------------------------------

    @extend_schema(responses={200: ReturnCaseSerializer(many=True), **INVALID, **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The cases, newest first, each with its timeline."""
        cases = selectors.return_request_list(
            organization=self.organization, filters=request.query_params
        )
        page = self.paginate_queryset(cases)
        return self.get_paginated_response(ReturnCaseSerializer(page, many=True).data)

    @extend_schema(responses={200: ReturnCaseSerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One case with its timeline; the reason's label in the request's language
        (Accept-Language)."""
        return Response(ReturnCaseSerializer(self.get_object()).data)

    # --- Writes --------------------------------------------------------------

    @extend_schema(
        request=ReturnOpenInputSerializer,
        responses={201: ReturnCaseSerializer, **INVALID, **UNAUTHORIZED, **CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        """Open a case about one of the organization's shipments (one that has left).

        The request must come within the return window: until the end of the
        delivery day plus the organization's window days (its time). Later, the
        answer is 400 with the day the window closed in `extra.window_closed_on`:
        only a staff member, in the admin, can accept a request outside the
        window, so an API key cannot, even with `override_reason`. A shipment
        that already has an open case answers 409 with that case's id in
        `extra.case`.
        """
        data = self._input(ReturnOpenInputSerializer)
        case = services.return_open(organization=self.organization, actor=self.actor, **data)
        return self._render(case, status_code=status.HTTP_201_CREATED)

    @_documented_action(ReturnActionInputSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        """Agree to the request (from `requested`): the customer may send the goods back."""
        case = self.get_object()
        data = self._input(ReturnActionInputSerializer)
        return self._render(services.return_approve(case=case, actor=self.actor, **data))

    @_documented_action(ReturnRejectInputSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        """Refuse the request (from `requested`), saying why."""
        case = self.get_object()
        data = self._input(ReturnRejectInputSerializer)
        return self._render(services.return_reject(case=case, actor=self.actor, **data))

    @_documented_action(ReturnActionInputSerializer)
    @action(detail=True, methods=["post"])
    def receive(self, request, *args, **kwargs):
        """The goods came back (from `approved`)."""
        case = self.get_object()
        data = self._input(ReturnActionInputSerializer)
        return self._render(services.return_receive(case=case, actor=self.actor, **data))

    @_documented_action(ReturnResolveInputSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, *args, **kwargs):
        """Close the case with what the customer gets (from `approved` or `received`).

        A refund is recorded against the box's charge, or for a WooCommerce order
        noted as to refund in the shop (then `confirm-shop-refund`); a credit is
        deducted from the subscription's next charge; a replacement is a box of
        the open batch that ships with it.
        """
        case = self.get_object()
        data = self._input(ReturnResolveInputSerializer)
        return self._render(services.return_resolve(case=case, actor=self.actor, **data))

    @_documented_action(ReturnCancelInputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Withdraw the request (from `requested` or `approved`)."""
        case = self.get_object()
        data = self._input(ReturnCancelInputSerializer)
        return self._render(services.return_cancel(case=case, actor=self.actor, **data))

    @_documented_action(ReturnReassignInputSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request, *args, **kwargs):
        """Give an open case to another staff member (admin or staff), or to nobody."""
        case = self.get_object()
        data = self._input(ReturnReassignInputSerializer)
        return self._render(services.return_reassign(case=case, actor=self.actor, **data))

    @_documented_action(ReturnNoteInputSerializer, created=True)
    @action(detail=True, methods=["post"])
    def notes(self, request, *args, **kwargs):
        """Add a note to the timeline, whatever the status (a closed case too). Answers 201
        with the case, the note last in its timeline."""
        case = self.get_object()
        data = self._input(ReturnNoteInputSerializer)
        services.return_add_note(case=case, actor=self.actor, **data)
        return self._render(case, status_code=status.HTTP_201_CREATED)

    @_documented_action(ReturnActionInputSerializer)
    @action(detail=True, methods=["post"], url_path="confirm-shop-refund")
    def confirm_shop_refund(self, request, *args, **kwargs):
        """Say the refund owed on a WooCommerce order was made in the shop (`refund`
        `to_refund_in_shop` becomes `refunded_in_shop`); 409 when none is waiting."""
        case = self.get_object()
        data = self._input(ReturnActionInputSerializer)
        return self._render(
            services.return_confirm_shop_refund(case=case, actor=self.actor, **data)
        )


@extend_schema(tags=["returns"])
class ReturnReasonViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """The reasons a case can give, so an integration knows their codes.

    Not paginated: a handful of reasons, wanted all at once, in order.
    """

    model = ReturnReason
    selector = staticmethod(selectors.return_reason_list)
    serializer_class = ReturnReasonSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(responses={200: ReturnReasonSerializer(many=True), **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The organization's active reasons in order, with their code and their label in the
        request's language (Accept-Language). The default reasons are created the first
        time."""
        services.return_config_ensure(organization=self.organization)
        reasons = selectors.return_reason_list(organization=self.organization)
        return Response(ReturnReasonSerializer(reasons, many=True).data)
