"""Included under `admin/` before the admin's own URLs (config/urls.py)."""

from django.contrib import admin
from django.urls import path

from signin import views

app_name = "signin"

urlpatterns = [
    # Replaces the admin's login view (same address, same name for the admin: admin:login).
    path("login/", views.PasswordStep.as_view(), name="login"),
    path("login/code/", views.code_step, name="code"),
    path("login/setup/", views.setup_at_login, name="setup_at_login"),
    path("two-factor/", admin.site.admin_view(views.two_factor), name="two_factor"),
]
