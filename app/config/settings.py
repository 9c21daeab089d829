"""Settings for the shop: one module, every value from the environment (see .env.example)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.contrib.messages import constants as message_levels
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent

# Real environment variables win over the .env file.
load_dotenv(REPO_DIR / ".env", override=False)

# Core
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
ADMIN_URL = env_str("ADMIN_URL", "admin/").strip("/") + "/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "shop",
]

MIDDLEWARE = [
    "shop.request_id.RequestIdMiddleware",
    # Probes answer before host validation and the HTTPS redirect.
    "shop.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything that can refuse a request, so every refusal carries these headers too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shop.middleware.ContentSecurityPolicyMiddleware",
    "shop.middleware.AllowedHostMiddleware",
    "shop.middleware.DatabaseOutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "shop.staff_sessions.StaffSessionMiddleware",
    "shop.flash_messages.MessageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.payments",
            ],
        },
    },
]

# Database
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{REPO_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: take the write lock when a transaction starts, so racing
    # requests wait their turn instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
else:
    DATABASES["default"]["ENGINE"] = "shop.postgresql"
    # Short, so that no request holds a worker thread for long while the database is out.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        connect_timeout=env_int("DB_CONNECT_TIMEOUT", 2),
        options=f"-c statement_timeout={env_int('DB_STATEMENT_TIMEOUT', 5) * 1000}",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions live in a signed cookie: no row per visitor, and any replica can read them.
SESSION_ENGINE = "shop.signed_sessions"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 90
SESSION_COOKIE_HTTPONLY = True
# A signed-in session is also a row (shop.staff_sessions), so logout ends every copy of it; it
# expires this long after its last request.
STAFF_SESSION_HOURS = env_float("STAFF_SESSION_HOURS", 8.0)
# The admin login refuses, for this many minutes, a username and address with this many
# failed passwords (counted in the database, so every replica sees the same count).
ADMIN_LOGIN_FAILURES_ALLOWED = env_int("ADMIN_LOGIN_FAILURES_ALLOWED", 5)
ADMIN_LOGIN_LOCKOUT_MINUTES = env_int("ADMIN_LOGIN_LOCKOUT_MINUTES", 15)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "shop.views.csrf_failure"
MESSAGE_TAGS = {message_levels.ERROR: "danger"}
MESSAGE_STORAGE = "shop.flash_messages.FallbackStorage"

# Security
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# nginx overwrites X-Forwarded-Proto on every request, so the app can trust it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000) if SECURE_SSL_REDIRECT else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not SECURE_HSTS_PRELOAD:
    # Joining the browsers' preload list is the site owner's decision, not a default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Stripe
STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", STRIPE_DEFAULT_API_BASE).rstrip("/")
STRIPE_SIMULATED = STRIPE_API_BASE != STRIPE_DEFAULT_API_BASE
# Stripe's own Checkout pages live on one origin. A simulator serves its pages itself, at the
# API's address or, in a container stack, at the address browsers reach it on.
STRIPE_CHECKOUT_ORIGIN = (
    (env_str("STRIPE_CHECKOUT_ORIGIN") or STRIPE_API_BASE).rstrip("/")
    if STRIPE_SIMULATED
    else "https://checkout.stripe.com"
)
# Idempotency keys are scoped to the Stripe account, which several environments may share in
# test mode. The default differs per deployment (secret key and database) and is the same on
# every replica of one.
_DEPLOYMENT = f"{SECRET_KEY}|{DATABASES['default'].get('HOST')}|{DATABASES['default']['NAME']}"
STRIPE_IDEMPOTENCY_PREFIX = env_str("STRIPE_IDEMPOTENCY_PREFIX") or (
    "shop-" + hashlib.sha256(_DEPLOYMENT.encode()).hexdigest()[:12]
)

# Products: each process keeps the products for sale this many seconds before reading them
# again, so an admin's change reaches every replica within it. Prices charged are read afresh.
PRODUCT_CACHE_SECONDS = env_float("PRODUCT_CACHE_SECONDS", 60.0)

# Abuse: orders one visitor, or one client address, may create per minute. Counted in the
# database, so every replica sees the same count.
ORDERS_PER_MINUTE_PER_VISITOR = env_int("ORDERS_PER_MINUTE_PER_VISITOR", 10)
ORDERS_PER_MINUTE_PER_ADDRESS = env_int("ORDERS_PER_MINUTE_PER_ADDRESS", 30)
# The proxy whose X-Forwarded-For names the client (gunicorn trusts the same addresses).
TRUSTED_PROXIES = env_list("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Reconciliation: reconcile_orders asks Stripe about orders pending this long; the stacks'
# `reconcile` service runs it again after this many seconds (`--repeat`).
RECONCILE_OLDER_THAN_MINUTES = env_int("RECONCILE_OLDER_THAN_MINUTES", 5)
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 300)

# Content-Security-Policy: our own assets only; the Buy form's POST redirects to Checkout,
# and browsers apply form-action to that redirect too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF, STRIPE_CHECKOUT_ORIGIN],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# Static files
STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Internationalisation
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Logging: everything to stdout, where the container runtime collects it. JSON in
# production, one readable line per record for `make run`.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json").lower()
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shop.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
    },
}

# Error reporting
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        # The image sets it to the git revision it was built from.
        release=env_str("SENTRY_RELEASE") or None,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        send_default_pii=False,
    )
