"""The back office's admin site: Django's, whose home page is the dashboard."""

from __future__ import annotations

from django.contrib import admin


class BackOfficeSite(admin.AdminSite):
    def get_urls(self):
        from django.urls import path

        from dashboard.views import customer_page, search_page

        return [
            path("search/", self.admin_view(search_page), name="search"),
            path("customers/<int:pk>/", self.admin_view(customer_page), name="customer_story"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        from dashboard.views import dashboard_context, pick_organization

        redirect = pick_organization(request)
        if redirect is not None:
            return redirect
        return super().index(request, {**dashboard_context(request), **(extra_context or {})})
