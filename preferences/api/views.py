"""The preferences API: the organization's schema, a subscription's values and history.

Everything is scoped to the API key's organization: another organization's
subscription is a 404 exactly like an unknown id, and its schema is neither
listed nor used to validate.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.actors import Actor
from core.errors import ApplicationError
from crm.api import limits
from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from preferences import selectors, services
from preferences.api.serializers import (
    PreferenceChangeSerializer,
    PreferenceFieldQuerySerializer,
    PreferenceFieldSerializer,
    SubscriptionPreferencesSerializer,
    SubscriptionPreferencesUpdateSerializer,
)
from preferences.models import PreferenceChange, PreferenceField
from subscriptions.models import Subscription

# The body of PUT / PATCH: the values themselves, not wrapped in another object.
VALUES_BODY = {
    "application/json": {
        "type": "object",
        "additionalProperties": {},
        "maxProperties": limits.PREFERENCE_VALUES_MAX,
        "description": _(
            "An object of preference key to value, as `GET /preference-fields` describes "
            "them: a choice's value (text), a list of values for a multi-choice, true or "
            "false, a whole number, or text. null (or an empty text or list) clears a "
            "value; its default, if any, then applies."
        ),
    }
}
VALUES_EXAMPLE = OpenApiExample(
    "Coffee",
    value={"grind": "espresso", "decaf": False, "avoid_origins": ["brazil"]},
    request_only=True,
)


def _documented_write():
    """The schema of PATCH and PUT: the values in, the state and the change out, or why not."""
    return extend_schema(
        request=VALUES_BODY,
        examples=[VALUES_EXAMPLE],
        responses={
            200: SubscriptionPreferencesUpdateSerializer,
            **INVALID,
            **UNAUTHORIZED,
            **NOT_FOUND,
            **CONFLICT,
        },
    )


@extend_schema(tags=["preferences"])
class PreferenceFieldViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """The organization's preference schema, so a shop or a portal can render the form.

    Not paginated: a schema is a handful of fields, and a form needs all of
    them at once, in order.
    """

    model = PreferenceField
    selector = staticmethod(selectors.preference_field_list)
    serializer_class = PreferenceFieldSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[PreferenceFieldQuerySerializer],
        responses={200: PreferenceFieldSerializer(many=True), **INVALID, **UNAUTHORIZED},
    )
    def list(self, request, *args, **kwargs):
        """The active preferences in order, each with its active choices (all with
        `include_retired=true`); labels in the request's language (Accept-Language).
        One list, not paginated: a form needs the whole schema."""
        query = PreferenceFieldQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = selectors.preference_field_list(
            organization=self.organization,
            include_retired=query.validated_data["include_retired"],
        )
        return Response(PreferenceFieldSerializer(fields, many=True).data)


@extend_schema(tags=["preferences"])
class SubscriptionPreferenceViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    """A subscription's preferences: read, replace, update in part, and their history."""

    model = Subscription
    selector = staticmethod(selectors.preference_subscription_list)
    serializer_class = SubscriptionPreferencesSerializer
    filter_backends = []
    http_method_names = ["get", "put", "patch", "head", "options"]

    # --- Helpers -------------------------------------------------------------

    def _state(self, subscription: Subscription) -> dict[str, Any]:
        schema = selectors.preference_schema(organization=subscription.organization)
        values = selectors.preferences_current(subscription=subscription, schema=schema)
        updated_at = selectors.preferences_updated_at(subscription=subscription)
        return {
            "subscription": subscription.pk,
            "values": values,
            "display": selectors.preference_rows(schema, values),
            "applies_to": selectors.change_cycle(subscription=subscription),
            "updated_at": updated_at,
        }

    def _update(self, *, partial: bool) -> Response:
        subscription = self.get_object()
        if isinstance(self.request.data, dict) and (
            len(self.request.data) > limits.PREFERENCE_VALUES_MAX
        ):
            raise ApplicationError(
                _("Invalid input."),
                {
                    "fields": {
                        "non_field_errors": [
                            _("At most %(count)d preference values in one request.")
                            % {"count": limits.PREFERENCE_VALUES_MAX}
                        ]
                    }
                },
            )
        _preference, change = services.preferences_update(
            subscription=subscription,
            values=self.request.data,
            actor=Actor.for_request(self.request),
            source=PreferenceChange.Source.API,
            partial=partial,
        )
        body = {**self._state(subscription), "change": change}
        return Response(SubscriptionPreferencesUpdateSerializer(body).data)

    # --- Operations ----------------------------------------------------------

    @extend_schema(
        responses={200: SubscriptionPreferencesSerializer, **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def preferences(self, request, *args, **kwargs):
        """Its values now (defaults filled in), as a person reads them, and the cycle a
        change made now would count for."""
        return Response(SubscriptionPreferencesSerializer(self._state(self.get_object())).data)

    @_documented_write()
    @preferences.mapping.patch
    def preferences_update(self, request, *args, **kwargs):
        """Change the values given; the others keep theirs. A value the schema refuses
        answers 400 naming it under `extra.fields`, and nothing is written; an ended
        subscription answers 409. `change` is null when nothing changed."""
        return self._update(partial=True)

    @_documented_write()
    @preferences.mapping.put
    def preferences_replace(self, request, *args, **kwargs):
        """Replace all values: a preference left out is cleared (to its default, if
        any); values of retired preferences are kept. Errors as for PATCH."""
        return self._update(partial=False)

    @extend_schema(
        responses={200: PreferenceChangeSerializer(many=True), **UNAUTHORIZED, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="preferences/history")
    def history(self, request, *args, **kwargs):
        """Every change of its preferences, newest first: who, from where, before and
        after, and the cycle it first counts for."""
        changes = selectors.preference_change_list(subscription=self.get_object())
        page = self.paginate_queryset(changes)
        return self.get_paginated_response(PreferenceChangeSerializer(page, many=True).data)
