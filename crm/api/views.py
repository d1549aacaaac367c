"""Customers and products. Each view validates input, calls one service, renders output."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from crm import selectors, services
from crm.api.filters import CustomerFilter, ProductFilter
from crm.api.mixins import OrganizationScopedMixin
from crm.api.serializers import (
    CustomerInputSerializer,
    CustomerOutputSerializer,
    ProductInputSerializer,
    ProductOutputSerializer,
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


@extend_schema(tags=["customers"], responses=CustomerOutputSerializer)
class CustomerViewSet(_CrudViewSet):
    input_serializer_class = CustomerInputSerializer
    output_serializer_class = CustomerOutputSerializer
    filterset_class = CustomerFilter

    def get_queryset(self):
        return selectors.customer_list(organization=self.organization)

    create_service = staticmethod(services.customer_create)

    @staticmethod
    def update_service(instance, **data):
        return services.customer_update(customer=instance, **data)


@extend_schema(tags=["products"], responses=ProductOutputSerializer)
class ProductViewSet(_CrudViewSet):
    input_serializer_class = ProductInputSerializer
    output_serializer_class = ProductOutputSerializer
    filterset_class = ProductFilter

    def get_queryset(self):
        return selectors.product_list(organization=self.organization)

    create_service = staticmethod(services.product_create)

    @staticmethod
    def update_service(instance, **data):
        return services.product_update(product=instance, **data)
