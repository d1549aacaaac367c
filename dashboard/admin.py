"""The back office's composition of the apps' pages (found by the admin's autodiscovery,
after every app's own admin: `dashboard` comes last in INSTALLED_APPS)."""

from dashboard import fulfillment_admin  # noqa: F401  (registers the fulfillment pages)
