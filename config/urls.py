from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.metrics import metrics
from crm.api.errors import api_not_found
from crm.api.errors import bad_request as handler400  # noqa: F401  (Django reads it here)
from crm.health import healthz
from crm.views import set_language

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Prometheus metrics, for the allowed networks or the bearer token only (config/metrics.py).
    path("metrics", metrics, name="metrics"),
    # The admin login's two steps and the two-factor page, before the admin's own login.
    path("admin/", include("signin.urls")),
    path("admin/", admin.site.urls),
    # Before Django's: the switch also keeps the choice in the staff member's profile.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("crm.api.urls")),
    path("api/v1/", include("preferences.api.urls")),
    path("api/v1/", include("subscriptions.api.urls")),
    path("api/v1/", include("fulfillment.api.urls")),
    path("api/v1/", include("returns.api.urls")),
    path("api/v1/", include("satisfaction.api.urls")),
    path("api/v1/", include("carriers.api.urls")),
    path("api/v1/", include("dashboard.api")),
    path("fulfillment/", include("fulfillment.urls")),
    path("", include("satisfaction.urls")),
    path("", include("woocommerce.urls")),
    path("", include("carriers.urls")),
    # The subscribers' own space, one per organization (portal/urls.py).
    path("p/<slug:organization>/", include("portal.urls")),
    # Any other API address answers in the API's error shape, not an HTML page.
    re_path(r"^api/", api_not_found),
]
