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
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The health check is probed over plain HTTP by the load balancer, and a
# webhook must never be answered with a redirect (WooCommerce counts a 301 as
# delivered and the event would be lost).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^webhooks/"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
