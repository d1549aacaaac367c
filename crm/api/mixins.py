"""Building blocks every app's API uses, so each view is scoped the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from core.actors import Actor
from crm.models import Organization


class OrganizationScopedMixin:
    """The request's organization comes from its API key, never from the input.

    A view names its `model` and a `selector(*, organization)` returning that
    organization's rows; a row of another organization is then a 404, exactly
    like a row that does not exist.
    """

    model: type
    selector: Callable[..., QuerySet]

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    @property
    def actor(self) -> Actor:
        """Who acts: the API key (or, in the browsable API, the logged-in staff member)."""
        return Actor.for_request(self.request)

    def _input(self, serializer_class) -> dict[str, Any]:
        """The request's body validated by `serializer_class` (400 in the error shape)."""
        serializer = serializer_class(
            data=self.request.data,
            context={"request": self.request, "organization": self.organization},
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return self.model._default_manager.none()
        return type(self).selector(organization=self.organization)

    def get_object(self):
        try:
            pk = int(self.kwargs["pk"])
        except ValueError:
            raise Http404 from None  # /customers/abc/ is not found, not a server error
        obj = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(self.request, obj)
        return obj
