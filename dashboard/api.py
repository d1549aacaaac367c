"""`GET /api/v1/search/?q=`: the back office's search box for integrations (dashboard.search)."""

from __future__ import annotations

from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.schema import WHITESPACE
from crm.api.serializers import INVALID, UNAUTHORIZED
from crm.models import Customer
from dashboard import search
from fulfillment.models import BatchLine, Shipment
from returns.models import ReturnRequest
from subscriptions.models import Subscription

#: The API address of each kind of row that has one (a shop order has none).
API_ROUTES = {
    Customer: "customer-detail",
    Subscription: "subscription-detail",
    ReturnRequest: "return-request-detail",
    BatchLine: "batch-line-detail",
    Shipment: "shipment-detail",
}


class SearchHitSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=list(search.KINDS), help_text=_("What was found: the kind of row.")
    )
    id = serializers.IntegerField()
    title = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    url = serializers.CharField(
        allow_null=True, help_text=_("The row's API address; none for a shop order.")
    )


class SearchResultsSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(min_length=search.MIN_LENGTH, max_length=search.MAX_LENGTH)


#: At least two characters that are neither blank nor NUL, at most 100 (what `q` takes).
Q_PATTERN = rf"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"


class SearchView(APIView):
    """Every row of the key's organization the text may name (at most 10 of each kind)."""

    @extend_schema(
        operation_id="search",
        parameters=[
            OpenApiParameter(
                "q",
                {
                    "type": "string",
                    "minLength": search.MIN_LENGTH,
                    "maxLength": search.MAX_LENGTH,
                    "pattern": Q_PATTERN,
                },
                required=True,
                description=str(
                    _(
                        "A customer's e-mail, name or phone; a subscription, case or shop "
                        "order number; a packing slip's code; a tracking number "
                        "(2 to 100 characters)."
                    )
                ),
            )
        ],
        responses={200: SearchResultsSerializer, **INVALID, **UNAUTHORIZED},
    )
    def get(self, request):
        query = SearchQuerySerializer(data={"q": request.query_params.get("q", "")})
        query.is_valid(raise_exception=True)
        try:
            hits = search.search(
                organization=request.auth.organization, query=query.validated_data["q"]
            )
        except search.QueryError as refused:
            raise exceptions.ValidationError({"q": [str(refused)]}) from None
        return Response({"results": [self._row(request, hit) for hit in hits]})

    @staticmethod
    def _row(request, hit: search.Hit) -> dict:
        url = None
        if hit.model in API_ROUTES:
            try:
                address = reverse(API_ROUTES[hit.model], args=[hit.pk])
            except NoReverseMatch:
                address = None
            if address is not None:
                # The routers accept both; the documented addresses end with a slash.
                url = request.build_absolute_uri(address.rstrip("/") + "/")
        return {
            "type": hit.kind,
            "id": hit.pk,
            "title": hit.title,
            "detail": hit.detail,
            "url": url,
        }


urlpatterns = [path("search/", SearchView.as_view(), name="search")]
