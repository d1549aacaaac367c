"""The fulfillment API: batches, their lines, shipments, and the actions that move them.

Every view is scoped to the API key's organization: another organization's
batch, line or shipment is a 404 exactly like an unknown id, and lists never
include them. Each action validates its input, calls one service of
`fulfillment.services` and renders the row as it is afterwards; a status that
does not allow the action answers 409 with the service's message, and nothing
is written.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import ApplicationError
from crm.api.filters import ID_MAX
from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from fulfillment import selectors, services, snapshots
from fulfillment.api.filters import BatchFilter, ShipmentFilter
from fulfillment.api.serializers import (
    BatchDispatchSerializer,
    BatchLineSerializer,
    BatchSerializer,
    BulkPrepareInputSerializer,
    BulkPrepareSerializer,
    DispatchInputSerializer,
    ExcludeInputSerializer,
    ProductionPlanSerializer,
    ShipmentSerializer,
    ShipmentUpdateInputSerializer,
)
from fulfillment.models import Batch, BatchLine, Shipment, line_code, line_pk_from_code
from preferences.selectors import display_value, preference_schema

LINE_PARAMETERS = [
    OpenApiParameter(
        "status",
        str,
        enum=BatchLine.Status.values,
        many=True,
        description=_("Status (repeat the parameter for several)"),
    ),
    OpenApiParameter(
        "product",
        {"type": "integer", "minimum": 1, "maximum": ID_MAX},
        description=_("Product id: lines whose box holds it"),
    ),
]


def _documented_action(response, request=None):
    """Schema of an action: the row afterwards, or why not."""
    return extend_schema(
        request=request,
        responses={200: response, **INVALID, **UNAUTHORIZED, **NOT_FOUND, **CONFLICT},
    )


class _FulfillmentViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    def _reread(self, row):
        return self.get_queryset().get(pk=row.pk)  # with its annotations and joins


# --- Batches -------------------------------------------------------------------------------


@extend_schema(tags=["fulfillment"])
class BatchViewSet(_FulfillmentViewSet):
    """The organization's weekly batches: one open (a live preview), then locked at its
    cut-off, dispatched and completed."""

    model = Batch
    selector = staticmethod(selectors.batch_list)
    serializer_class = BatchSerializer
    # The selector applies the filters; declared here so the schema lists them.
    filterset_class = BatchFilter
    http_method_names = ["get", "post", "head", "options"]

    def _render(self, batch: Batch, **context) -> Response:
        return Response(BatchSerializer(self._reread(batch), context=context).data)

    @staticmethod
    def _preview(batch: Batch) -> dict[str, Any]:
        preview = snapshots.open_batch_preview(batch=batch)
        # No schema: the preview totals products only, not preference values.
        products, _details = snapshots.production_plan(
            organization=batch.organization, boxes=preview.boxes, schema=[]
        )
        return {
            "as_of": preview.at,
            "boxes": len(preview.boxes),
            "paid": preview.paid,
            "awaiting_payment": len(preview.boxes) - preview.paid,
            "moved_if_locked_now": len(preview.later),
            "products": products,
        }

    # --- Reads ---------------------------------------------------------------

    @extend_schema(responses={200: BatchSerializer(many=True), **INVALID, **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The batches, latest cut-off first, each with its number of lines per status.
        `preview` is null here: ask for one batch to get it."""
        batches = selectors.batch_list(organization=self.organization, filters=request.query_params)
        page = self.paginate_queryset(batches)
        return self.get_paginated_response(BatchSerializer(page, many=True).data)

    @extend_schema(responses={200: BatchSerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One batch; while it is open, with `preview`: the boxes locking it now would freeze,
        paid or not, the quantity of each product, and how many boxes due before its
        scheduled cut-off would move to the next batch if it were locked now."""
        batch = self.get_object()
        previews = {batch.pk: self._preview(batch)} if batch.status == Batch.Status.OPEN else {}
        return Response(BatchSerializer(batch, context={"previews": previews}).data)

    @extend_schema(
        filters=False,
        parameters=LINE_PARAMETERS,
        responses={200: BatchLineSerializer(many=True), **INVALID, **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def lines(self, request, *args, **kwargs):
        """The batch's lines (boxes) in order, with the content frozen at its cut-off.

        Lines exist from the lock: an open batch lists only the lines rolled into
        it from an earlier batch (its other boxes are the live `preview` of
        `GET /batches/{id}`, and the `production-plan`). Rolled and excluded lines
        are listed too; filter with `status`.

        Filter by preference with `pref.<key>=<value>`, e.g. `pref.grind=espresso`
        or `pref.decaf=true`: several keys must all match, a key repeated matches
        any of its values, and a several-choices preference matches lines whose
        choices include the value. An unknown key or a value of the wrong type
        answers 400.
        """
        batch = self.get_object()
        schema = preference_schema(organization=self.organization)
        lines = selectors.batch_line_list(
            organization=self.organization,
            batch=batch,
            filters=request.query_params,
            schema=schema,
        )
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(
            BatchLineSerializer(page, many=True, context={"schema": schema}).data
        )

    @extend_schema(
        filters=False,
        responses={200: ProductionPlanSerializer, **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="production-plan")
    def production_plan(self, request, *args, **kwargs):
        """What to produce: the quantity (and kilograms) of each product, and of each
        product per value of each one-choice or yes/no preference. Live while the
        batch is open; from its lines once locked (excluded and rolled ones left out)."""
        batch = self.get_object()
        boxes, as_of, live = snapshots.batch_boxes(batch=batch)
        schema = preference_schema(organization=self.organization)
        products, details = snapshots.production_plan(
            organization=self.organization, boxes=boxes, schema=schema
        )
        specs = {spec.key: spec for spec in schema}
        by_preference = [
            {
                "product_id": row.product_id,
                "sku": row.sku,
                "name": row.name,
                "quantity": row.quantity,
                "kilograms": row.kilograms,
                "field": row.field,
                "field_label": specs[row.field].label,
                "value": row.value,
                "value_display": display_value(specs[row.field], row.value),
            }
            for row in details
        ]
        plan = {
            "batch": batch.pk,
            "live": live,
            "as_of": as_of,
            "boxes": len(boxes),
            "products": products,
            "by_preference": by_preference,
        }
        return Response(ProductionPlanSerializer(plan).data)

    # --- Actions -------------------------------------------------------------

    @_documented_action(BatchSerializer)
    @action(detail=True, methods=["post"])
    def lock(self, request, *args, **kwargs):
        """Close the cycle now (before its cut-off: the cut-off becomes now): the lines are
        written with their content as it stands, and the next batch opens."""
        batch = services.batch_lock(batch=self.get_object(), actor=self.actor)
        return self._render(batch)

    @_documented_action(BatchDispatchSerializer, request=DispatchInputSerializer)
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_batch(self, request, *args, **kwargs):  # `dispatch` is the view's own method
        """Hand the prepared boxes to the carrier: one shipment per prepared, paid line.
        Unpaid lines roll to the next batch or are excluded, as the settings say; paid
        lines nobody prepared roll. Returns the batch and what happened to its lines."""
        batch = self.get_object()
        data = self._input(DispatchInputSerializer)
        report = services.batch_dispatch(batch=batch, actor=self.actor, **data)
        body = {"batch": self._reread(batch), "report": report}
        return Response(BatchDispatchSerializer(body).data)

    @_documented_action(BatchSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, *args, **kwargs):
        """Close a dispatched batch; 409 while a shipment is neither delivered, returned
        nor lost."""
        batch = services.batch_complete(batch=self.get_object(), actor=self.actor)
        return self._render(batch)

    @_documented_action(BatchSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """No shipment run this cycle (open batches only): the next batch opens and its
        cycles ship with it."""
        batch = services.batch_cancel(batch=self.get_object(), actor=self.actor)
        return self._render(batch)


# --- Lines ---------------------------------------------------------------------------------


@extend_schema(tags=["fulfillment"])
class BatchLineViewSet(_FulfillmentViewSet):
    """One box of a batch, and the packing room's actions on it. The lines of a batch are
    listed at `GET /batches/{id}/lines`."""

    model = BatchLine
    selector = staticmethod(selectors.batch_line_list)
    serializer_class = BatchLineSerializer
    filter_backends = []
    http_method_names = ["get", "post", "head", "options"]

    def _render(self, line: BatchLine) -> Response:
        schema = preference_schema(organization=self.organization)
        return Response(BatchLineSerializer(self._reread(line), context={"schema": schema}).data)

    @extend_schema(responses={200: BatchLineSerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One line, with its content as frozen at its batch's cut-off."""
        return self._render(self.get_object())

    @_documented_action(BatchLineSerializer)
    @action(detail=True, methods=["post"])
    def prepare(self, request, *args, **kwargs):
        """Mark the box packed. Only a paid line (`ready`) of a locked batch can be."""
        line = services.line_prepare(line=self.get_object(), actor=self.actor)
        return self._render(line)

    @_documented_action(BatchLineSerializer)
    @action(detail=True, methods=["post"])
    def unprepare(self, request, *args, **kwargs):
        """Take a prepared box back out of the pile (scanned by mistake): `ready` again."""
        line = services.line_unprepare(line=self.get_object(), actor=self.actor)
        return self._render(line)

    @_documented_action(BatchLineSerializer, request=ExcludeInputSerializer)
    @action(detail=True, methods=["post"])
    def exclude(self, request, *args, **kwargs):
        """Leave the box out of its batch, saying why (open or locked batches only)."""
        line = self.get_object()
        data = self._input(ExcludeInputSerializer)
        return self._render(services.line_exclude(line=line, actor=self.actor, **data))

    @extend_schema(
        operation_id="api_v1_batch_lines_prepare_many",
        request=BulkPrepareInputSerializer,
        responses={200: BulkPrepareSerializer, **INVALID, **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=False, methods=["post"], url_path="prepare")
    def prepare_many(self, request, *args, **kwargs):
        """Mark many boxes packed at once, by id (`lines`) or by scanned code (`codes`).

        Lines that cannot be (unpaid, already prepared or shipped, batch not
        locked) are reported under `refused` with why, and left as they were. A
        code that is not a line code answers 400; an unknown id or code (or
        another organization's) answers 404, and then nothing is written.
        """
        data = self._input(BulkPrepareInputSerializer)
        codes = {}
        if "codes" in data:
            invalid = []
            for code in data["codes"]:
                pk = line_pk_from_code(code)
                if pk is None:
                    invalid.append(code)
                else:
                    codes[pk] = code.strip()
            if invalid:
                raise ApplicationError(
                    _("Invalid input."),
                    {
                        "fields": {
                            "codes": [
                                _("Not a line code (a digit may be misread): %(codes)s.")
                                % {"codes": ", ".join(invalid)}
                            ]
                        }
                    },
                )
            ids = list(codes)
        else:
            ids = data["lines"]
        try:
            report = services.lines_prepare(
                organization=self.organization, line_ids=ids, actor=self.actor
            )
        except ApplicationError as exc:
            if not codes or exc.status != 404:
                raise
            unknown = [codes[pk] for pk in exc.extra.get("unknown", [])]
            raise ApplicationError(
                _("Unknown codes: %(codes)s.") % {"codes": ", ".join(unknown)},
                {"fields": {"codes": [_("Unknown codes.")]}, "unknown": unknown},
                status=404,
            ) from exc
        body = {
            "done": [{"id": pk, "code": line_code(pk)} for pk in report.done],
            "refused": [
                {"id": pk, "code": line_code(pk), "reason": reason}
                for pk, reason in sorted(report.refused.items())
            ],
        }
        return Response(BulkPrepareSerializer(body).data)


# --- Shipments -----------------------------------------------------------------------------


@extend_schema(tags=["fulfillment"])
class ShipmentViewSet(_FulfillmentViewSet):
    """Parcels handed to a carrier, one per prepared line of a dispatched batch: `created`,
    then `shipped`, and `delivered`, `returned` or `lost`. The batch completes by itself
    when its last shipment is closed."""

    model = Shipment
    selector = staticmethod(selectors.shipment_list)
    serializer_class = ShipmentSerializer
    filterset_class = ShipmentFilter
    http_method_names = ["get", "patch", "post", "head", "options"]

    def _render(self, shipment: Shipment) -> Response:
        return Response(ShipmentSerializer(self._reread(shipment)).data)

    def _transition(self, transition: str) -> Response:
        shipment = services.shipment_transition(
            shipment=self.get_object(), action=transition, actor=self.actor
        )
        return self._render(shipment)

    @extend_schema(responses={200: ShipmentSerializer(many=True), **INVALID, **UNAUTHORIZED})
    def list(self, request, *args, **kwargs):
        """The shipments, newest first."""
        shipments = selectors.shipment_list(
            organization=self.organization, filters=request.query_params
        )
        page = self.paginate_queryset(shipments)
        return self.get_paginated_response(ShipmentSerializer(page, many=True).data)

    @extend_schema(responses={200: ShipmentSerializer, **UNAUTHORIZED, **NOT_FOUND})
    def retrieve(self, request, *args, **kwargs):
        """One shipment."""
        return Response(ShipmentSerializer(self.get_object()).data)

    @_documented_action(ShipmentSerializer, request=ShipmentUpdateInputSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Set the carrier or the tracking number; a closed shipment keeps them (409)."""
        shipment = self.get_object()
        data = self._input(ShipmentUpdateInputSerializer)
        return self._render(services.shipment_update(shipment=shipment, actor=self.actor, **data))

    @_documented_action(ShipmentSerializer)
    @action(detail=True, methods=["post"])
    def ship(self, request, *args, **kwargs):
        """Handed to the carrier (from `created`)."""
        return self._transition("ship")

    @_documented_action(ShipmentSerializer)
    @action(detail=True, methods=["post"])
    def deliver(self, request, *args, **kwargs):
        """Delivered (from `created` or `shipped`)."""
        return self._transition("deliver")

    @_documented_action(ShipmentSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, *args, **kwargs):
        """Came back to the sender (from `shipped` or `delivered`)."""
        return self._transition("mark_returned")

    @_documented_action(ShipmentSerializer)
    @action(detail=True, methods=["post"])
    def lose(self, request, *args, **kwargs):
        """Lost by the carrier (from `created` or `shipped`)."""
        return self._transition("mark_lost")
