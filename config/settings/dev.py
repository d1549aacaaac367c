"""Local development: `make run`."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-not-secret")
# Serve static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected outside production
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# issue 23b: a shop on this machine pushes its webhooks over plain HTTP.
WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = env.bool("WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP", default=True)

# Issue 23 (23a): a WooCommerce running on this machine, over plain HTTP, may be reached.
WOOCOMMERCE_REST_ALLOW_HTTP = env.bool("WOOCOMMERCE_REST_ALLOW_HTTP", default=True)
WOOCOMMERCE_REST_ALLOWED_NETWORKS = env.list(
    "WOOCOMMERCE_REST_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)
