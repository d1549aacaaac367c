"""The back office's admin site: Django's, whose home page is the dashboard."""

from __future__ import annotations

from django.contrib import admin


class BackOfficeSite(admin.AdminSite):
    def get_urls(self):
        from django.urls import path

        from dashboard.views import search_page

        return [
            path("search/", self.admin_view(search_page), name="search"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        from dashboard.views import dashboard_context, pick_organization

        redirect = pick_organization(request)
        if redirect is not None:
            return redirect
        return super().index(request, {**dashboard_context(request), **(extra_context or {})})
