"""Subscriptions: one operation per method, each validating its input, calling one
service and rendering the subscription as it is afterwards."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.mixins import OrganizationScopedMixin
from crm.api.notes import notes_action
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from subscriptions import selectors, services
from subscriptions.api.filters import SubscriptionFilter
from subscriptions.api.serializers import (
    BulkInputSerializer,
    BulkResultSerializer,
    CancelInputSerializer,
    ChangeItemsInputSerializer,
    ChangeScheduleInputSerializer,
    ChargeSerializer,
    CycleInputSerializer,
    MoveNextDateInputSerializer,
    PauseInputSerializer,
    ReasonInputSerializer,
    ScheduleCycleSerializer,
    SubscriptionCreateInputSerializer,
    SubscriptionEventSerializer,
    SubscriptionSerializer,
)
from subscriptions.models import Subscription


def _documented_action(request):
    """Schema of a lifecycle action: the subscription afterwards, or why not."""
    return extend_schema(
        request=request,
        responses={
            200: SubscriptionSerializer,
            **INVALID,
            **UNAUTHORIZED,
            **NOT_FOUND,
            **CONFLICT,
        },
    )


@extend_schema(tags=["subscriptions"])
class SubscriptionViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    model = Subscription
    selector = staticmethod(selectors.subscription_list)
    serializer_class = SubscriptionSerializer
    # The selector applies the filters; declared here so the schema lists them.
    filterset_class = SubscriptionFilter
    http_method_names = ["get", "post", "head", "options"]

    # --- Helpers -------------------------------------------------------------

    def _render(self, subscription: Subscription, *, status_code=status.HTTP_200_OK) -> Response:
        subscription = self.get_queryset().get(pk=subscription.pk)  # with its prefetches
        return Response(SubscriptionSerializer(subscription).data, status=status_code)

    def _paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    # --- Staff notes ---------------------------------------------------------

    notes = notes_action(
        read_doc="The staff notes on this subscription, newest first.",
        write_doc="Write a staff note on this subscription (201 with the note).",
        write=lambda subscription, text, actor: services.subscription_note_add(
            subscription=subscription, text=text, actor=actor
        ),
        notes_of=lambda subscription: subscription.notes.order_by("-created_at", "-pk"),
    )

    # --- Reads ---------------------------------------------------------------

    @extend_schema(
        responses={200: SubscriptionSerializer(many=True), **INVALID, **UNAUTHORIZED},
    )
    def list(self, request, *args, **kwargs):
        """The organization's subscriptions, newest first."""
        queryset = selectors.subscription_list(
            organization=self.organization, filters=request.query_params
        )
        return self._paginated(queryset, SubscriptionSerializer)

    @extend_schema(
        responses={200: SubscriptionSerializer, **UNAUTHORIZED, **NOT_FOUND},
    )
    def retrieve(self, request, *args, **kwargs):
        """One subscription."""
        return Response(SubscriptionSerializer(self.get_object()).data)

    @extend_schema(
        filters=False,
        responses={200: SubscriptionEventSerializer(many=True), **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, *args, **kwargs):
        """Its history, newest first: who did what, from which status to which."""
        events = selectors.subscription_event_list(subscription=self.get_object())
        return self._paginated(events, SubscriptionEventSerializer)

    @extend_schema(
        filters=False,
        responses={200: ChargeSerializer(many=True), **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def charges(self, request, *args, **kwargs):
        """Its charges, one per billed cycle, latest cycle first."""
        charges = selectors.subscription_charge_list(subscription=self.get_object())
        return self._paginated(charges, ChargeSerializer)

    @extend_schema(
        filters=False,
        responses={200: ScheduleCycleSerializer(many=True), **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # a few rows, never a page
    def schedule(self, request, *args, **kwargs):
        """Its next cycles as staff act on them: date, batch, amount, skipped or not.

        From the next cycle charged (paused: the first after the resume date), skipped
        ones included; empty when nothing more will be charged.
        """
        rows = selectors.subscription_schedule(subscription=self.get_object())
        return Response(ScheduleCycleSerializer(rows, many=True).data)

    # --- Writes --------------------------------------------------------------

    @extend_schema(
        request=SubscriptionCreateInputSerializer,
        responses={201: SubscriptionSerializer, **INVALID, **UNAUTHORIZED},
    )
    def create(self, request, *args, **kwargs):
        """A new subscription, pending until its first charge is paid (active with a trial)."""
        data = self._input(SubscriptionCreateInputSerializer)
        subscription = services.subscription_create(
            organization=self.organization, actor=self.actor, **data
        )
        return self._render(subscription, status_code=status.HTTP_201_CREATED)

    @_documented_action(PauseInputSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, *args, **kwargs):
        """Stop charging and shipping; resume by hand or automatically at `resume_at`."""
        subscription = self.get_object()
        data = self._input(PauseInputSerializer)
        return self._render(
            services.subscription_pause(subscription=subscription, actor=self.actor, **data)
        )

    @_documented_action(ReasonInputSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, *args, **kwargs):
        """Charge and ship again; cycles whose date passed during the pause are not charged."""
        subscription = self.get_object()
        data = self._input(ReasonInputSerializer)
        return self._render(
            services.subscription_resume(subscription=subscription, actor=self.actor, **data)
        )

    @_documented_action(ReasonInputSerializer)
    @action(detail=True, methods=["post"])
    def skip(self, request, *args, **kwargs):
        """Neither charge nor ship the next cycle; the schedule after it is unchanged.

        Paused, the cycle skipped is the first after the resume date (409 with no resume
        date); 409 while the next cycle's charge is under way.
        """
        subscription = self.get_object()
        data = self._input(ReasonInputSerializer)
        return self._render(
            services.subscription_skip(subscription=subscription, actor=self.actor, **data)
        )

    @_documented_action(ChangeScheduleInputSerializer)
    @action(detail=True, methods=["post"], url_path="change-schedule")
    def change_schedule(self, request, *args, **kwargs):
        """Charge every `billing_interval` `billing_period` from the next charge date on.

        409 while the next cycle's charge is under way.
        """
        subscription = self.get_object()
        data = self._input(ChangeScheduleInputSerializer)
        return self._render(
            services.subscription_change_schedule(
                subscription=subscription, actor=self.actor, **data
            )
        )

    @_documented_action(ChangeItemsInputSerializer)
    @action(detail=True, methods=["post"], url_path="change-items")
    def change_items(self, request, *args, **kwargs):
        """Replace the items; the rest of a paid period is charged or credited pro rata.

        Active or paused alike; 409 with a cancellation at period end scheduled.
        """
        subscription = self.get_object()
        data = self._input(ChangeItemsInputSerializer)
        return self._render(
            services.subscription_change_items(subscription=subscription, actor=self.actor, **data)
        )

    @_documented_action(CancelInputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Cancel now (unpaid charges are voided), or at the end of the paid period."""
        subscription = self.get_object()
        data = self._input(CancelInputSerializer)
        return self._render(
            services.subscription_cancel(subscription=subscription, actor=self.actor, **data)
        )

    @_documented_action(ReasonInputSerializer)
    @action(detail=True, methods=["post"], url_path="withdraw-cancellation")
    def withdraw_cancellation(self, request, *args, **kwargs):
        """Drop a cancellation scheduled at period end: the subscription continues."""
        subscription = self.get_object()
        data = self._input(ReasonInputSerializer)
        return self._render(
            services.subscription_withdraw_cancellation(
                subscription=subscription, actor=self.actor, **data
            )
        )

    @_documented_action(CycleInputSerializer)
    @action(detail=True, methods=["post"], url_path="skip-cycle")
    def skip_cycle(self, request, *args, **kwargs):
        """Neither charge nor ship one future cycle, named by `cycle` or `date`.

        409 for a cycle passed, already charged or in a locked batch, inside a pause (or
        any while paused with no resume date), beyond the next 104 cycles, after a fixed
        term's end, or with a cancellation at period end scheduled. Skipping the next
        cycle moves the next charge past it; the dates do not move.
        """
        subscription = self.get_object()
        data = self._input(CycleInputSerializer)
        return self._render(
            services.subscription_skip_cycle(
                subscription=subscription,
                actor=self.actor,
                cycle=data.get("cycle"),
                on=data.get("date"),
                reason=data["reason"],
            )
        )

    @_documented_action(CycleInputSerializer)
    @action(detail=True, methods=["post"], url_path="unskip-cycle")
    def unskip_cycle(self, request, *args, **kwargs):
        """Charge and ship again a skipped future cycle (before the next charge: it becomes
        the next one). 409 for a cycle not skipped, passed, or inside a pause."""
        subscription = self.get_object()
        data = self._input(CycleInputSerializer)
        return self._render(
            services.subscription_unskip_cycle(
                subscription=subscription,
                actor=self.actor,
                cycle=data.get("cycle"),
                on=data.get("date"),
                reason=data["reason"],
            )
        )

    @_documented_action(MoveNextDateInputSerializer)
    @action(detail=True, methods=["post"], url_path="move-next-date")
    def move_next_date(self, request, *args, **kwargs):
        """Charge the next cycle at `at`; the later cycles follow at the same interval.

        Active subscriptions only. 409 for a date in the past, before the end of the paid
        period, more than a year ahead or at a fixed term's end, while the next charge is
        under way, or with a cancellation at period end scheduled.
        """
        subscription = self.get_object()
        data = self._input(MoveNextDateInputSerializer)
        return self._render(
            services.subscription_move_next_date(
                subscription=subscription, actor=self.actor, **data
            )
        )

    @extend_schema(
        request=None,
        responses={200: ChargeSerializer, **UNAUTHORIZED, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="charge-now")
    def charge_now(self, request, *args, **kwargs):
        """Charge the next cycle now through the gateway, as the renewal would on its date.

        The cycle keeps its dates (paid ahead, it ships with its batch); a failed charge of
        it is retried now. Answers the charge (`paid`, `pending` or `failed`, as the gateway
        said). 409 for a shop's subscription, one paused, canceled or expired, one ending
        with its paid period, when no cycle is left to charge, or when that cycle's charge
        is under way or paid.
        """
        charge = services.subscription_charge_now(subscription=self.get_object(), actor=self.actor)
        return Response(ChargeSerializer(charge).data)

    @extend_schema(
        operation_id="api_v1_subscriptions_bulk",
        request=BulkInputSerializer,
        responses={200: BulkResultSerializer, **INVALID, **UNAUTHORIZED},
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request, *args, **kwargs):
        """One action on up to 500 subscriptions, each as its own action would do it.

        Each subscription is done or refused on its own (a refusal undoes nothing of the
        others), with the reason its action alone would answer; an id that is not one of
        the organization's subscriptions is refused as not found and never touched.
        """
        data = self._input(BulkInputSerializer)
        report = services.subscriptions_bulk(
            organization=self.organization, actor=self.actor, **data
        )
        body = {
            "done": [{"id": pk} for pk in report.done],
            "refused": [
                {"id": pk, "reason": reason} for pk, reason in sorted(report.refused.items())
            ],
        }
        return Response(BulkResultSerializer(body).data)
