"""The carriers API: a batch's labels run, the parcels, a shipment's parcel.

Scoped to the API key's organization like every view: another organization's
batch, parcel or shipment is a 404. Creating labels starts the run in the
background (202) and answers with its operation's id; the parcels list, by
`batch` and `state`, shows how far it went and which boxes the platform refused.
`GET /batches/{id}/labels.pdf` answers the merged labels (a PDF; the boxes
left out for want of a label in the `Unlabelled-Boxes` header).
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from carriers import selectors, services
from carriers.api.filters import ParcelFilter
from carriers.api.serializers import (
    LabelsPdfQuerySerializer,
    LabelsStartedSerializer,
    ParcelSerializer,
)
from carriers.models import Parcel
from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED, ErrorSerializer
from fulfillment import selectors as fulfillment_selectors
from fulfillment.models import Batch, Shipment


@extend_schema(tags=["carriers"])
class ParcelViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """The boxes' parcels on the carrier platform: label, tracking, or the platform's refusal."""

    model = Parcel
    selector = staticmethod(selectors.parcel_list)
    serializer_class = ParcelSerializer
    filterset_class = ParcelFilter  # applied by the selector; declared for the schema
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses={200: ParcelSerializer(many=True), **INVALID, **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The parcels by batch and line; filter by `batch`, `line` and `state` (`refused`:
        the boxes to correct, with the platform's message in `refusal`)."""
        parcels = selectors.parcel_list(
            organization=self.organization, filters=request.query_params
        )
        page = self.paginate_queryset(parcels)
        return self.get_paginated_response(ParcelSerializer(page, many=True).data)

    @extend_schema(responses={200: ParcelSerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One parcel."""
        return Response(ParcelSerializer(self.get_object()).data)


class ErrorsInJson(BaseContentNegotiation):
    """The labels file is a PDF whatever `Accept` says; its errors are the JSON error shape."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(tags=["carriers"])
class BatchLabelsViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """A batch's labels (the batch itself: `/batches/{id}`)."""

    model = Batch
    selector = staticmethod(fulfillment_selectors.batch_list)
    serializer_class = LabelsStartedSerializer
    filter_backends = []
    http_method_names = ["get", "post", "options"]

    @extend_schema(
        request=None,
        responses={202: LabelsStartedSerializer, **UNAUTHORIZED, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def labels(self, request, *args, **kwargs):
        """Create a carrier label for each prepared box of a locked batch that has none yet,
        in the background; safe to repeat (a box never gets two). 409 when the batch is
        not locked or the organization has no carrier account. Follow the run with
        `GET /parcels?batch={id}`."""
        operation = services.labels_start(
            batch=self.get_object(), language=translation.get_language()
        )
        body = {"operation": operation.pk, "status": operation.status}
        return Response(LabelsStartedSerializer(body).data, status=202)

    @extend_schema(
        operation_id="api_v1_batches_labels_pdf",
        parameters=[
            OpenApiParameter(
                "lines",
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                    "maxItems": 1000,
                },
                explode=True,
                description="Ids of the batch's lines (boxes) to print; repeat the parameter. "
                "All its prepared or shipped boxes when absent.",
            ),
            OpenApiParameter(
                "Unlabelled-Boxes",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="The codes of the boxes left out of the file (no label, or none "
                "on the carrier platform), comma-separated; empty when none.",
            ),
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The labels, in the organization's format."
            ),
            **INVALID,
            **UNAUTHORIZED,
            **NOT_FOUND,
            **CONFLICT,
            503: ErrorSerializer,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="labels.pdf",
        url_name="labels-pdf",
        renderer_classes=[JSONRenderer],
        content_negotiation_class=ErrorsInJson,
    )
    def labels_pdf(self, request, *args, **kwargs):
        """The labels of the batch's boxes merged in one PDF for the label printer, in the
        organization's label format (A6: one per page; A4: four per page), in the boxes'
        order. Boxes without a label are left out and named in the `Unlabelled-Boxes`
        header. 409 when none has a label; 503 when the carrier platform cannot be
        reached."""
        batch = self.get_object()
        query = LabelsPdfQuerySerializer(data={"lines": request.query_params.getlist("lines")})
        if "lines" not in request.query_params:
            query = LabelsPdfQuerySerializer(data={})
        query.is_valid(raise_exception=True)
        document = services.labels_pdf(batch=batch, line_ids=query.validated_data.get("lines"))
        response = HttpResponse(document.pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{document.filename}"'
        response["Unlabelled-Boxes"] = ",".join(document.unlabelled)
        return response


@extend_schema(tags=["carriers"])
class ShipmentParcelViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """A shipment's parcel (the shipment itself: `/shipments/{id}`)."""

    model = Shipment
    selector = staticmethod(fulfillment_selectors.shipment_list)
    serializer_class = ParcelSerializer
    filter_backends = []
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses={200: ParcelSerializer, **UNAUTHORIZED, **NOT_FOUND})
    @action(detail=True, methods=["get"])
    def parcel(self, request, *args, **kwargs):
        """The parcel of the shipment's box: tracking link, label, carrier status. 404 when
        the box was not labelled through the carrier account."""
        shipment = self.get_object()
        parcel = selectors.parcel_for_shipment(
            organization=self.organization, shipment_id=shipment.pk
        )
        if parcel is None:
            raise Http404
        return Response(ParcelSerializer(parcel).data)
