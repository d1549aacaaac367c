"""Building blocks every app's API uses, so each view is scoped the same way."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from crm.models import Organization


class OrganizationScopedMixin:
    """The request's organization comes from its API key, never from the input.

    `get_queryset()` must return rows of `self.organization` only; a row of
    another organization is then a 404, exactly like a row that does not exist.
    """

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    def get_object(self):
        obj = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, obj)
        return obj
