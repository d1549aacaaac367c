"""Settings shared by every environment, read from the environment (12-factor).

Every variable read here is documented in README.md ("Configuration").
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from core.csp import inline_style_hashes

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "dashboard.apps.BackOfficeAdminConfig",  # django.contrib.admin, its home a dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_countries",
    "crm",
    "subscriptions",
    "woocommerce",
    "fulfillment",
    "preferences",
    "satisfaction",
    "returns",
    "carriers",
    "portal",
    "operations",
    "dashboard",
    # Security hardening (issue 23b): login lockouts, two-factor sign-in, the CSP header.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "signin",
]

MIDDLEWARE = [
    # issue 26: first, so a webhook delivery skips the rest of the stack (woocommerce/webhooks.py).
    "woocommerce.webhooks.WebhookReceiverMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # issue 23b: Content-Security-Policy on every answer
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # issue 23b: which device verified the session; staff whose account needs a second
    # factor and whose session has none are signed out (signin/middleware.py).
    "django_otp.middleware.OTPMiddleware",
    "signin.middleware.TwoFactorMiddleware",
    "crm.middleware.StaffLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # issue 23b: last, so it turns a locked-out login's answer into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# `make run` / `make test` set DATABASE_URL to the embedded PostgreSQL
# (config/embedded.py) when it is not set; production requires it.
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://localhost/cadence")}
# A Unix-socket directory is written percent-encoded in the URL's host part.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
#: Staff pages besides the admin: shown in the staff member's language and their
#: organization's time zone (crm.middleware.StaffLocaleMiddleware).
STAFF_PAGE_PREFIXES = ("/fulfillment/",)

# --- Static files ----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / ".data" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded files (after-sales photos): kept through Django's storage API under this
# directory, never served from a public URL (no MEDIA_URL route): each is streamed by a
# view that checks who asks (returns.admin, portal.views.cases).
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".data" / "media")

# --- REST API ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "crm.authentication.HasOrganizationApiKey",
        "crm.authentication.ApiKeyScopeAllows",  # issue 23: read-only keys never write
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "crm.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Issue 23 (23a): JSON bodies only, bounded (crm.api.parsers); requests per key
    # (crm.api.throttling); the test client speaks JSON like the API.
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.ApiKeyRateThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cadence API",
    "DESCRIPTION": (
        "Subscription back office. Authenticate with `Authorization: Api-Key <key>`; "
        "every request is scoped to the key's organization. Errors are "
        '`{"message": str, "extra": object}`, field errors under `extra.fields`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its UI are public documentation; the endpoints are not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI's files come from our static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # One named enum per set of choices, shared by every field that uses it.
    "ENUM_NAME_OVERRIDES": {
        "SubscriptionStatusEnum": "subscriptions.models.Subscription.Status",
        "ChargeStatusEnum": "subscriptions.models.Charge.Status",
    },
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.api.pagination.document_page_errors",
        "crm.api.schema.document_common_refusals",  # issue 23: scopes, limits, throttling
    ],
}

# --- Celery ----------------------------------------------------------------
# REDIS_URL is required like DATABASE_URL; `make run` / `make test` provide the
# embedded Redis when it is not set.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged only once it has run
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed worker's task is redelivered
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a busy worker does not hoard messages
CELERY_TASK_ALWAYS_EAGER = False  # never eager outside unit tests that ask for it
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Visibility timeout above the longest task: an unacknowledged task is
# redelivered after it, so it must not be shorter than any task's run time.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # Issue 26: a hung Redis (accepting, never answering) holds a publish (the webhook
    # relay's, the sweeper's) at most this long instead of forever; the worker's BRPOP
    # (1 s) answers well within it.
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0),
    "socket_connect_timeout": 2.0,
}
# Named queues; each app that needs its own queue adds it here and routes its
# tasks to it in CELERY_TASK_ROUTES. The Procfile's worker consumes them all
# (tests/test_layout.py keeps the two lists in step).
CELERY_TASK_QUEUES = tuple(
    Queue(name)
    for name in ("default", "woo_customers", "woo_products", "woo_orders", "woo_subscriptions")
)
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {}
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Ends, expires, resumes, charges and retries whatever is due; idempotent.
    "subscriptions-renewals": {
        "task": "subscriptions.run_renewals",
        "schedule": env.int("RENEWALS_INTERVAL_SECONDS", default=300),
    },
    # Locks every batch whose cut-off passed (exactly once) and opens the next.
    "fulfillment-lock-due-batches": {"task": "fulfillment.lock_due_batches", "schedule": 60},
    # The webhook outbox: resends deliveries the broker or a worker lost.
    "woocommerce-sweep": {"task": "woocommerce.sweep_deliveries", "schedule": 60},
    # Pulls what the webhooks missed from every shop with REST credentials.
    "woocommerce-reconcile": {
        "task": "woocommerce.reconcile_all",
        "schedule": env.int("WOOCOMMERCE_RECONCILE_SECONDS", default=3600),
    },
    # Each organization's overdue after-sales cases, e-mailed once a day from 8:00 its time.
    "returns-overdue-lists": {"task": "returns.send_overdue_lists", "schedule": 900},
    # Satisfaction surveys: created once the delay after delivery passed, then e-mailed,
    # then closed when nobody answered in time. Each is idempotent.
    "satisfaction-schedule": {"task": "satisfaction.schedule_surveys", "schedule": 900},
    "satisfaction-send": {"task": "satisfaction.send_surveys", "schedule": 300},
    "satisfaction-expire": {"task": "satisfaction.expire_surveys", "schedule": 3600},
    # Carrier tracking: resends stored statuses a worker never applied; asks the platform
    # for parcels whose status webhooks never came.
    "carriers-sweep": {"task": "carriers.sweep_deliveries", "schedule": 60},
    "carriers-pull-tracking": {
        "task": "carriers.pull_tracking",
        "schedule": env.int("CARRIER_TRACKING_PULL_SECONDS", default=6 * 3600),
    },
}
CELERY_TIMEZONE = "UTC"
# Issue 26: workers keep their database connection across tasks. Celery's Django fix-up
# closes it after every task unless this is set; with it set, config/celery.py applies
# Django's own rules per task instead (CONN_MAX_AGE, CONN_HEALTH_CHECKS, a connection
# that raised is dropped), and the fix-up reconnects at most every N tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# --- Logging -------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- Product ---------------------------------------------------------------
# Where staff and customers reach this install: links in e-mails start with it.
SITE_URL = env("SITE_URL", default="http://localhost:8000").rstrip("/")

# How often an API key's "last used" time is written (seconds): a busy client
# must not turn every request into a write.
API_KEY_LAST_USED_RESOLUTION = env.int("API_KEY_LAST_USED_RESOLUTION", default=60)

# Secrets at rest (shop credentials): comma-separated Fernet keys, the first
# encrypts, all decrypt. Required in production; derived from SECRET_KEY otherwise.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

# WooCommerce webhooks: the largest body kept (a larger one is answered 413),
# how many times a delivery is attempted before it is marked failed, and when
# the sweeper considers a delivery lost (seconds since its last change).
WOOCOMMERCE_MAX_BODY_BYTES = env.int("WOOCOMMERCE_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2621440, WOOCOMMERCE_MAX_BODY_BYTES + 1)
# Carrier platforms (carriers/platforms): each platform's one API host, HTTPS only; the
# tests point it at a fake. Timeouts (connect, read) in seconds bound every call.
SENDCLOUD_API_URL = env("SENDCLOUD_API_URL", default="https://panel.sendcloud.sc/api/v3")
# The fictitious carrier platform of the demo data (carriers/platforms/demo.py): allowed
# when DEBUG or this is true; production settings force it off.
CARRIERS_DEMO_PLATFORM = env.bool("CARRIERS_DEMO_PLATFORM", default=False)
# Tracking webhooks: the largest body accepted; a stored status not applied after this
# many seconds is resent by the sweeper; parcels still not delivered this many days
# after their label are asked to the platform (for so many more days, then given up).
CARRIER_WEBHOOK_MAX_BODY_BYTES = env.int("CARRIER_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
CARRIER_DELIVERY_STUCK_SECONDS = env.int("CARRIER_DELIVERY_STUCK_SECONDS", default=300)
CARRIER_TRACKING_PULL_AFTER_DAYS = env.int("CARRIER_TRACKING_PULL_AFTER_DAYS", default=3)
CARRIER_TRACKING_PULL_FOR_DAYS = env.int("CARRIER_TRACKING_PULL_FOR_DAYS", default=30)
#: How many label documents one "Print labels" fetches from the platform at once.
CARRIER_LABEL_FETCHES = env.int("CARRIER_LABEL_FETCHES", default=4)
CARRIER_HTTP_TIMEOUT = (
    env.float("CARRIER_CONNECT_TIMEOUT", default=5.0),
    env.float("CARRIER_READ_TIMEOUT", default=30.0),
)
WOOCOMMERCE_MAX_ATTEMPTS = env.int("WOOCOMMERCE_MAX_ATTEMPTS", default=10)
WOOCOMMERCE_STALE_SECONDS = env.int("WOOCOMMERCE_STALE_SECONDS", default=600)
WOOCOMMERCE_RECEIVED_GRACE_SECONDS = env.int("WOOCOMMERCE_RECEIVED_GRACE_SECONDS", default=30)
# issue 23b: webhooks over plain HTTP are refused (403) unless allowed; `make run` and
# the tests allow them, production does only when WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP is set.
WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = env.bool("WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP", default=False)

# --- Security hardening (issue 23b): sign-in, two-factor, Content-Security-Policy ----
# Documented in docs/operations.md ("Security settings") and decision 13.

# The login is refused after LOGIN_FAILURE_LIMIT wrong passwords (or second-factor codes)
# for one username from one address, until LOGIN_COOLOFF_MINUTES pass without another try
# or a superuser deletes the attempt (admin: Axes > Access attempts).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "signin.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "signin.addresses.client_ip"
# Masked in the attempts axes keeps (the password is never kept): a mistyped code too.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
# No "AXES: BEGIN version ..." line at the start of every command and worker.
AXES_VERBOSE = False
# How many reverse proxies in front of the app append to X-Forwarded-For: the client's
# address is read from it only when this is set (else from the connection).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Two-factor sign-in (TOTP, with recovery codes): any staff member may turn it on; it is
# required for an organization's admins when the organization asks for it, and for every
# organization admin and superuser when TWO_FACTOR_REQUIRED_FOR_ADMINS is set.
TWO_FACTOR_REQUIRED_FOR_ADMINS = env.bool("TWO_FACTOR_REQUIRED_FOR_ADMINS", default=False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Cadence")
# The devices' secrets are never shown in the admin (only a staff member's own page shows
# theirs, while they set it up).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (django-csp) on every page: scripts and styles from our own
# static files only, plus the inline <style> blocks of two templates we do not write,
# allowed by their hash (core/csp.py).
CSP_INLINE_STYLE_HASHES = inline_style_hashes()
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *CSP_INLINE_STYLE_HASHES],
        # data: for the icons Django's and Swagger UI's style sheets embed.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Issue 23 (branch 23a): API limits and throttling, the shops' REST API ---------------
# An API request body: JSON of at most this many bytes (a larger one is a 413) nested at
# most this deep (400); the nested rows per request are bounded in the serializers.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=20)
# Requests per API key ("<n>/second|minute|hour|day"; empty: no limit), beyond which the
# API answers 429 with Retry-After. Counted in Redis, shared by every web process.
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="300/minute")
API_THROTTLE_CACHE = "api_throttle"
# Requests to a shop's REST API (woocommerce/client.py): HTTPS only unless this allows
# plain HTTP (development); an address that is not public (loopback, private, link-local...)
# only when one of these networks holds it, e.g. "10.0.0.0/8" for a shop on the LAN.
WOOCOMMERCE_REST_ALLOW_HTTP = env.bool("WOOCOMMERCE_REST_ALLOW_HTTP", default=False)
WOOCOMMERCE_REST_ALLOWED_NETWORKS = env.list("WOOCOMMERCE_REST_ALLOWED_NETWORKS", default=[])
# Issue 26: the webhook receiver finds a shop by its address key in this cache (id,
# organization, secrets still encrypted), shared by every web process so that a shop
# saved in the admin is forgotten by all at once. Short timeouts: a slow Redis sends
# the receiver to the database, it never holds the shop's answer.
WOOCOMMERCE_SHOP_CACHE = "woocommerce_shops"
WOOCOMMERCE_SHOP_CACHE_URL = env("WOOCOMMERCE_SHOP_CACHE_URL", default=REDIS_URL)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    WOOCOMMERCE_SHOP_CACHE: (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": WOOCOMMERCE_SHOP_CACHE_URL,
            "KEY_PREFIX": "cadence",
            # Bounds a race (a delivery reading the shop while it is saved) to a minute.
            "TIMEOUT": 60,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
        if WOOCOMMERCE_SHOP_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "TIMEOUT": 300}
    ),
    API_THROTTLE_CACHE: (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("API_THROTTLE_REDIS_URL", default=REDIS_URL),
            "KEY_PREFIX": "cadence",
            # A slow Redis must not hold API requests: past this, the request is served.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if env("API_THROTTLE_REDIS_URL", default=REDIS_URL)
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
}

# --- Issue 26: what an operator watches ------------------------------------------------
# Prometheus metrics on /metrics (config/metrics.py, docs/operations.md "Monitoring"): for
# clients on these networks, or with `Authorization: Bearer <METRICS_TOKEN>` when set.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# A machine running workers only serves its processes' metrics on this port (0: off).
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDRESS = env("METRICS_WORKER_ADDRESS", default="127.0.0.1")
# Errors to Sentry when a DSN is set (Django and Celery integrations); off otherwise.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    from config.observability import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
