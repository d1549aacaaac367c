from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    default = True
    name = "dashboard"
    verbose_name = _("Dashboard")


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` with the back office's site (`admin.site` is a BackOfficeSite)."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin
    default_site = "dashboard.sites.BackOfficeSite"
