"""The carriers API: a batch's labels run, the parcels, a shipment's parcel.

Scoped to the API key's organization like every view: another organization's
batch, parcel or shipment is a 404. Creating labels starts the run in the
background (202) and answers with its operation's id; the parcels list, by
`batch` and `state`, shows how far it went and which boxes the platform refused.
"""

from __future__ import annotations

from django.http import Http404
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from carriers import selectors, services
from carriers.api.filters import ParcelFilter
from carriers.api.serializers import LabelsStartedSerializer, ParcelSerializer
from carriers.models import Parcel
from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
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


@extend_schema(tags=["carriers"])
class BatchLabelsViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """A batch's labels (the batch itself: `/batches/{id}`)."""

    model = Batch
    selector = staticmethod(fulfillment_selectors.batch_list)
    serializer_class = LabelsStartedSerializer
    filter_backends = []
    http_method_names = ["post", "options"]

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
