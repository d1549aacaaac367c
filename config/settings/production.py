"""Production: every secret and host comes from the environment."""

from .base import *  # noqa: F403
from .base import DATABASES, env

# No fallback in production: a missing URL stops the start, loudly.
DATABASES["default"].update(env.db_url("DATABASE_URL"))
if not env("CELERY_BROKER_URL", default=env("REDIS_URL")):
    raise ImportError("REDIS_URL (or CELERY_BROKER_URL) must be set in production")

if not env.list("ENCRYPTION_KEYS", default=[]):
    raise ImportError("ENCRYPTION_KEYS must be set in production (see README, Configuration)")

DEBUG = False
# The demo data's fictitious carrier platform ships nothing: never in production.
CARRIERS_DEMO_PLATFORM = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The health check is probed over plain HTTP by the load balancer, and a
# webhook must never be answered with a redirect (WooCommerce counts a 301 as
# delivered and the event would be lost).
# The metrics are scraped from the private network (METRICS_ALLOWED_NETWORKS), often over
# plain HTTP: not redirected either (send METRICS_TOKEN over HTTPS only).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^webhooks/", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")

# --- Security hardening (issue 23b); docs/operations.md, "Security settings" -----------
# HSTS on by default: browsers then refuse plain HTTP for the site (and its subdomains)
# for a year. SECURE_HSTS_SECONDS=0 turns it off, e.g. while trying a new domain.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# The header a TLS-terminating proxy sets to say the client used HTTPS
# ("X-Forwarded-Proto"), trusted only when named: a client could send it itself.
_proxy_ssl_header = env("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_ssl_header.upper().replace("-", "_").removeprefix("HTTP_"),
        "https",
    )
# WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP stays off (config/settings/base.py): a webhook over
# plain HTTP carries customers' names and addresses in clear and is refused.
# Survey e-mails carry answer links: STARTTLS by default (port 587), or implicit TLS
# with EMAIL_USE_SSL (port 465). EMAIL_USE_TLS=false only for a relay on this machine.
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=not EMAIL_USE_SSL)
EMAIL_PORT = env.int("EMAIL_PORT", default=465 if EMAIL_USE_SSL else 587)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
