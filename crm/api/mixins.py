"""Building blocks every app's API uses, so each view is scoped the same way."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

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
