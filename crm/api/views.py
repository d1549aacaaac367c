"""Customers and products. Each view validates input, calls one service, renders output."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from crm import selectors, services
from crm.api.filters import CustomerFilter, ProductFilter
from crm.api.mixins import OrganizationScopedMixin
from crm.api.notes import NoteSerializer, notes_action
from crm.api.serializers import (
    CustomerInputSerializer,
    CustomerOutputSerializer,
    ErrorSerializer,
    ProductInputSerializer,
    ProductOutputSerializer,
)
from crm.models import Customer, Product


def _documented(output):
    """Schema of a CRUD view set: its output, and the error shape for each failure."""
    error = {401: ErrorSerializer}
    invalid = {400: ErrorSerializer, **error}
    missing = {404: ErrorSerializer, **error}
    duplicate = {409: ErrorSerializer}  # an e-mail or SKU another row has
    return extend_schema_view(
        list=extend_schema(responses={200: output(many=True), **invalid}),
        retrieve=extend_schema(responses={200: output, **missing}),
        create=extend_schema(responses={201: output, **invalid, **duplicate}),
        update=extend_schema(responses={200: output, **invalid, **missing, **duplicate}),
        partial_update=extend_schema(responses={200: output, **invalid, **missing, **duplicate}),
    )


class _CrudViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List and retrieve from a selector; create and update through services."""

    input_serializer_class: type
    output_serializer_class: type
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return self.input_serializer_class
        return self.output_serializer_class

    def _validated(self, *, partial: bool) -> dict:
        serializer = self.input_serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _render(self, obj, *, status_code=status.HTTP_200_OK) -> Response:
        obj = self.get_queryset().get(pk=obj.pk)  # re-read with its prefetches
        return Response(self.output_serializer_class(obj).data, status=status_code)

    def create(self, request, *args, **kwargs):
        obj = self.create_service(organization=self.organization, **self._validated(partial=False))
        return self._render(obj, status_code=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        data = self._validated(partial=kwargs.pop("partial", False))
        return self._render(self.update_service(instance, **data))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


@extend_schema(tags=["customers"])
@_documented(CustomerOutputSerializer)
class CustomerViewSet(_CrudViewSet):
    input_serializer_class = CustomerInputSerializer
    output_serializer_class = CustomerOutputSerializer
    filterset_class = CustomerFilter
    model = Customer
    selector = staticmethod(selectors.customer_list)

    create_service = staticmethod(services.customer_create)

    @staticmethod
    def update_service(instance, **data):
        return services.customer_update(customer=instance, **data)

    notes = notes_action(
        read_doc="The staff notes on this customer, newest first.",
        write_doc="Write a staff note on this customer (201 with the note).",
        write=lambda customer, text, actor: services.customer_note_add(
            customer=customer, text=text, actor=actor
        ),
        notes_of=lambda customer: customer.notes.order_by("-created_at", "-pk"),
    )

    def get_serializer_class(self):
        if self.action == "notes":
            return NoteSerializer
        return super().get_serializer_class()


@extend_schema(tags=["products"])
@_documented(ProductOutputSerializer)
class ProductViewSet(_CrudViewSet):
    input_serializer_class = ProductInputSerializer
    output_serializer_class = ProductOutputSerializer
    filterset_class = ProductFilter
    model = Product
    selector = staticmethod(selectors.product_list)

    create_service = staticmethod(services.product_create)

    @staticmethod
    def update_service(instance, **data):
        return services.product_update(product=instance, **data)
