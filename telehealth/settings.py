"""Settings for every environment, read from environment variables (12-factor).

With no environment at all the project runs embedded: SQLite in `.data/`, an in-memory channel
layer, Celery on a filesystem broker, console email and SMS, and development keys generated once
into `.data/`. Each variable below switches one part to a real service. `DJANGO_ENV=production`
refuses to start while a secret is missing.
"""

import ipaddress
import json
import os
import secrets
import sys
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data"))
DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = "pytest" in sys.modules or os.environ.get("TELEHEALTH_TESTING") == "1"


def env(name: str, default: str = "") -> str:
    """A setting from the environment, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = env(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = env(name)
    return int(value) if value else default


def dev_secret(name: str, make) -> str:
    """A development secret, generated once into `.data/`. Production never comes here."""
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"dev-{name.lower()}"
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
        if not TESTING:
            warnings.warn(
                f"{name} is not set: generated a development value into {path}. "
                "Never use it for real patient data.",
                stacklevel=2,
            )
    return path.read_text().strip()


REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "BLIND_INDEX_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "EMAIL_URL",
    "SITE_URL",
)
if PRODUCTION:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not env(name)]
    if missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start without: " + ", ".join(missing)
        )

SECRET_KEY = env("SECRET_KEY") or dev_secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
DEBUG = envbool("DEBUG", default=not PRODUCTION and not TESTING)
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]


def served_site_url(host: str, port: str) -> str:
    """The address `bin/run-dev` serves on (its HOST and PORT), for links in messages."""
    # Loopback and "every interface" both reach this machine as localhost (matched, not bound).
    if host in {"", "127.0.0.1", "0.0.0.0", "::", "::1"}:  # noqa: S104
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# The embedded default follows HOST and PORT, which `bin/run-dev` exports to the workers too, so
# links in messages sent by Celery point at the server actually running. Production requires it.
SITE_URL = (env("SITE_URL") or served_site_url(env("HOST"), env("PORT") or "8000")).rstrip("/")
# Where our FHIR definitions (intake Questionnaires, their answer CodeSystems) are named: each
# practice publishes under {FHIR_CANONICAL_BASE}/{practice slug}/. Canonical URLs are identities
# stored in patients' QuestionnaireResponses, so set it once and keep it when SITE_URL changes.
FHIR_CANONICAL_BASE = (env("FHIR_CANONICAL_BASE") or f"{SITE_URL}/fhir").rstrip("/")
# Remote monitoring: a critical alert nobody acknowledged in this time goes to the escalation
# contact; a monitored patient with no reading for this many days gets a "missed" alert.
RPM_ESCALATION_MINUTES = envint("RPM_ESCALATION_MINUTES", 15)
RPM_MISSED_DAYS = envint("RPM_MISSED_DAYS", 3)
# A device may upload what it remembers from before enrolment, up to this many days; older
# readings (a reset clock says 1970) are refused. Preliminary FHIR Observations are refused
# unless accepted here: a device that later sends the final value would otherwise alert twice.
RPM_BACKFILL_DAYS = envint("RPM_BACKFILL_DAYS", 30)
RPM_ACCEPT_PRELIMINARY = envbool("RPM_ACCEPT_PRELIMINARY", False)
# Billing pulls no visit or monitoring period dated before this day (ISO date). The default is
# the first day every payer profile in billing/rules covers; earlier work has no coding rules.
BILLING_START_DATE = date.fromisoformat(env("BILLING_START_DATE") or "2025-01-01")
# Messages one user may post per minute, counted over pages, the API and sockets together (a
# flood guard; benchmarks raise it). MESSAGING_SOCKET_RATE is its former name, still read.
MESSAGING_RATE = envint("MESSAGING_RATE", envint("MESSAGING_SOCKET_RATE", 20))

# PHI encryption: the first key encrypts, every key decrypts (see telehealth/crypto).
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in (
        env("FIELD_ENCRYPTION_KEYS")
        or dev_secret("FIELD_ENCRYPTION_KEYS", lambda: Fernet.generate_key().decode())
    ).split(",")
    if k.strip()
]
# The blind index key does not rotate with the encryption keys: changing it would mean
# recomputing every index from decrypted values, which rotate_keys does not do.
BLIND_INDEX_KEY = env("BLIND_INDEX_KEY") or dev_secret(
    "BLIND_INDEX_KEY", lambda: secrets.token_urlsafe(32)
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "telehealth.accounts",
    "telehealth.audit",
    "telehealth.crypto",
    "telehealth.notify",
    "telehealth.fhir",
    "oauth2_provider",  # the authorization server of SMART backend services
    "telehealth.smart",
    "telehealth.ehr",
    "telehealth.fhir_subscriptions",
    "telehealth.fhir_import",
    "scheduling",
    "intake",
    "messaging",
    "rpm",
    "documents",
    "visits",
    "billing",
    "feedback",
    "analytics",
]

# JSON endpoints that devices call with `Authorization: Bearer <token>` and nothing else: such
# a request skips the browser middleware below TokenAPIMiddleware (session, CSRF, user, MFA,
# messages, time zone, audit of pages) and keeps the size and NUL limits, the language and the
# security headers (telehealth.middleware). Exact paths; a request without a bearer token, or
# to any other path, takes the whole stack.
TOKEN_API_PATHS = ("/api/v1/rpm/readings",)
# Wrong device tokens one address may send per minute before every upload from it is refused.
RPM_TOKEN_FAILURES_PER_MINUTE = envint("RPM_TOKEN_FAILURES_PER_MINUTE", 20)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "telehealth.middleware.TokenAPIMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "telehealth.middleware.RequestSizeLimitMiddleware",
    "telehealth.middleware.NulRefusalMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "telehealth.accounts.middleware.AuthenticationMiddleware",
    "telehealth.middleware.NoStoreWhenSignedInMiddleware",
    "telehealth.accounts.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "telehealth.accounts.middleware.PatientLanguageMiddleware",
    "telehealth.accounts.middleware.ViewerTimeZoneMiddleware",
    "telehealth.accounts.middleware.SessionTimeoutMiddleware",
    "telehealth.accounts.middleware.MFARequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "telehealth.middleware.CSPMiddleware",
    "telehealth.audit.middleware.PHIAccessMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "telehealth.urls"
ASGI_APPLICATION = "telehealth.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "telehealth.accounts.context_processors.session_policy",
            ],
        },
    },
]

# Database: PostgreSQL from DATABASE_URL, otherwise SQLite in WAL mode. IMMEDIATE transactions
# take the write lock at BEGIN, which keeps read-then-write services correct on SQLite.
# PostgreSQL goes through a bounded psycopg pool per process: under ASGI every request thread
# would otherwise keep a persistent connection of its own (dozens per process under load) or
# pay a fresh connection per request. processes x DB_POOL_MAX_SIZE must stay below the
# server's max_connections (see docs/configuration.md).
# DB_POOL_MAX_SIZE=0 turns the pool off (e.g. behind PgBouncer); DB_CONN_MAX_AGE then applies.
if env("DATABASE_URL"):
    DB_POOL_MAX_SIZE = envint("DB_POOL_MAX_SIZE", 10)
    DATABASES = {
        "default": dj_database_url.parse(
            env("DATABASE_URL"),
            conn_max_age=0 if DB_POOL_MAX_SIZE else envint("DB_CONN_MAX_AGE", 0),
            conn_health_checks=not DB_POOL_MAX_SIZE,
        )
    }
    if DB_POOL_MAX_SIZE:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(envint("DB_POOL_MIN_SIZE", 2), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            # Waiting longer than this for a free connection fails the request, not queues it.
            "timeout": envint("DB_POOL_TIMEOUT", 10),
        }
    # The server binds the parameters, so a statement a connection runs again and again is
    # prepared there (after psycopg's 5 runs) instead of parsed and planned every time:
    # planning was most of the database's time for a portal page. Prepared statements live on
    # their connection, so they are on by default only with the pool; a transaction-mode
    # PgBouncer needs them off (DB_PREPARED_STATEMENTS=0). A statement a migration made stale
    # is planned again: telehealth/prepared_statements.py.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=5 if envbool("DB_PREPARED_STATEMENTS", bool(DB_POOL_MAX_SIZE)) else None,
    )
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "telehealth.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")


def channel_layer_hosts(url: str) -> list[dict]:
    return [
        {
            "address": url,
            # Per process; past it, operations wait up to `timeout` seconds for a connection
            # (telehealth.layers.RedisLayer) rather than fail.
            "max_connections": envint("REDIS_MAX_CONNECTIONS", 500),
            "timeout": 20,
            # Reads must outlast the layer's blocking BZPOPMIN (telehealth.layers.BLOCK_SECONDS;
            # channels-redis's own is 5 s, as long as redis-py 8's default read timeout, and an
            # idle consumer then died with "Timeout reading").
            "socket_timeout": 15,
        }
    ]


if REDIS_URL:
    CHANNEL_LAYERS: dict[str, dict] = {
        "default": {
            "BACKEND": "telehealth.layers.RedisLayer",
            "CONFIG": {"hosts": channel_layer_hosts(REDIS_URL)},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "telehealth.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "telehealth",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# With Redis, a signed-in request reads its session from the cache (written through to the
# database, so a restart of Redis signs nobody out) and its user from the process's snapshot
# (telehealth.accounts.user_cache), both in one round trip (telehealth.accounts.sessions). The
# local-memory cache is per process, so without Redis sessions and users are read from the
# database on every request.
SESSION_ENGINE = (
    "telehealth.accounts.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"
)
SESSION_USER_CACHE = bool(REDIS_URL)

# Celery: Redis when REDIS_URL is set, otherwise a filesystem broker under .data/.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Tests run tasks in-process; the worker runs them everywhere else.
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = TESTING


def email_settings(url: str) -> dict:
    """EMAIL_URL: console://, locmem://, smtp://user:pass@host:587, smtps://... (implicit TLS)."""
    if not url or url.startswith("console:"):
        return {"EMAIL_BACKEND": "telehealth.notify.channels.ConsoleEmailBackend"}
    parsed = urlparse(url)
    options = parse_qs(parsed.query)
    if parsed.scheme in {"locmem", "dummy"}:
        return {"EMAIL_BACKEND": f"django.core.mail.backends.{parsed.scheme}.EmailBackend"}
    if parsed.scheme not in {"smtp", "smtps", "submission"}:
        raise ImproperlyConfigured(f"EMAIL_URL has an unknown scheme: {parsed.scheme!r}")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname or "localhost",
        "EMAIL_PORT": parsed.port or (465 if parsed.scheme == "smtps" else 587),
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_SSL": parsed.scheme == "smtps",
        "EMAIL_USE_TLS": parsed.scheme != "smtps" and options.get("tls", ["1"])[0] != "0",
    }


globals().update(email_settings(env("EMAIL_URL")))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Telehealth <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

AUTH_USER_MODEL = "accounts.User"
# auth.W004 asks for a unique USERNAME_FIELD. The email is encrypted (a fresh token each time,
# so a unique constraint on it would compare nothing); uniqueness is enforced on its blind
# index, `User.email_index`, which sign-in looks up (UserManager.get_by_natural_key).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "telehealth.smart.backends.ServiceUserSignInRefusal",
    "telehealth.accounts.lockout.SignInBackoffBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 stays the production hasher; tests hash thousands of passwords.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# SMART backend services (telehealth.smart): django-oauth-toolkit issues five-minute tokens to
# clients that authenticate with a signed JWT; tokens are stored hashed.
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "telehealth.smart.oauth.SmartValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": envint("SMART_ACCESS_TOKEN_SECONDS", 300),
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # The OAuth 2.0 Security BCP (RFC 9700) throughout: only client credentials with a signed
    # assertion are used here, and nothing weaker is left switched on.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# Named so migrations that point at DOT's (swappable) application model can resolve it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Lockout, two layers. django-axes: five failures lock one email from one IP address for 30
# minutes; a lock runs its course from the failure that set it, whatever is tried meanwhile.
# Per account (telehealth.accounts.lockout): 20 failures from addresses the account has not
# signed in from lock it for 5 minutes, each further failure after a lock ends doubles that up
# to an hour; addresses it signed in from within SIGN_IN_KNOWN_ADDRESS_DAYS are spared.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", 30) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
# Attempts are counted and stored under the email's blind index, never the email itself.
AXES_USERNAME_CALLABLE = "telehealth.accounts.lockout.lockout_username"
# Axes' access log would store each signed-in user's email; the audit trail already records
# every sign-in, successful or not.
AXES_DISABLE_ACCESS_LOG = True
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "telehealth.accounts.lockout.locked_out_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "telehealth.net.client_address"
SIGN_IN_BACKOFF_THRESHOLD = envint("SIGN_IN_BACKOFF_THRESHOLD", 20)
SIGN_IN_BACKOFF_FIRST_MINUTES = envint("SIGN_IN_BACKOFF_FIRST_MINUTES", 5)
SIGN_IN_BACKOFF_MAX_MINUTES = envint("SIGN_IN_BACKOFF_MAX_MINUTES", 60)
SIGN_IN_KNOWN_ADDRESS_DAYS = envint("SIGN_IN_KNOWN_ADDRESS_DAYS", 90)

# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or networks,
# comma-separated. uvicorn reads the same variable (Procfile, bin/run-dev, docker-compose.yml);
# telehealth.net.client_address applies it wherever a request's address is needed.
FORWARDED_ALLOW_IPS = [
    entry.strip()
    for entry in env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").split(",")
    if entry.strip()
]
if "*" in FORWARDED_ALLOW_IPS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "FORWARDED_ALLOW_IPS='*' would let any client choose its own address (and escape "
            "the sign-in lockout): list the proxy's addresses instead."
        )
    FORWARDED_ALLOW_IPS = ["0.0.0.0/0", "::/0"]
for _entry in FORWARDED_ALLOW_IPS:
    if not _entry.startswith("unix:"):
        try:
            ipaddress.ip_network(_entry, strict=False)
        except ValueError as error:
            raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {error}") from error

OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Telehealth")

# Sessions: idle timeouts per role and an absolute limit, enforced by SessionTimeoutMiddleware.
SESSION_IDLE_SECONDS_STAFF = envint("SESSION_IDLE_SECONDS_STAFF", 15 * 60)
SESSION_IDLE_SECONDS_PATIENT = envint("SESSION_IDLE_SECONDS_PATIENT", 30 * 60)
SESSION_ABSOLUTE_SECONDS = envint("SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60)
SESSION_WARNING_SECONDS = envint("SESSION_WARNING_SECONDS", 2 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
BREAK_GLASS_MINUTES = envint("BREAK_GLASS_MINUTES", 60)

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 63072000)  # sent over HTTPS only
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", PRODUCTION)
X_FRAME_OPTIONS = "DENY"
# No SECURE_PROXY_SSL_HEADER: uvicorn sets the scheme from X-Forwarded-Proto, and only for
# connections from FORWARDED_ALLOW_IPS; Django reading the header would believe any client.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SESSION_COOKIE_SECURE else "csrftoken"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# Bodies beyond this are refused with 413 before a view reads them (uploads set their own).
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 8 * 1024 * 1024)
REQUEST_MAX_BODY_BYTES = envint("REQUEST_MAX_BODY_BYTES", 25 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MEDIA_ROOT = Path(env("MEDIA_ROOT") or DATA_DIR / "media")
# FHIR $export files (encrypted, under MEDIA_ROOT/fhir-bulk) are deleted this long after.
FHIR_BULK_EXPORT_TTL_HOURS = envint("FHIR_BULK_EXPORT_TTL_HOURS", 24)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "telehealth.crypto.storage.EncryptedFileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

HEALTHZ_TIMEOUT_SECONDS = 2.0
# /healthz answers from checks at most this old; 0 runs them on every request.
HEALTHZ_CACHE_SECONDS = float(env("HEALTHZ_CACHE_SECONDS") or "1")

# SMS: printed to the console unless Twilio is configured; kept in memory in tests.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID")
# Where the pictures patients text may be fetched from, with the account's credentials: a
# host means https on that host; a full origin ("http://127.0.0.1:8080") is taken as written.
# Nothing else is fetched, whatever URL a webhook names.
TWILIO_MEDIA_HOSTS = [
    h.strip() for h in env("TWILIO_MEDIA_HOSTS", "api.twilio.com").split(",") if h.strip()
]
# Where a media URL may redirect (HTTPS only, no credentials sent): Twilio's media CDN.
# "*.example.com" stands for any host under example.com.
TWILIO_MEDIA_REDIRECT_HOSTS = [
    h.strip()
    for h in env(
        "TWILIO_MEDIA_REDIRECT_HOSTS", "*.twiliocdn.com,s3-external-1.amazonaws.com"
    ).split(",")
    if h.strip()
]
_SMS_BACKENDS = {
    "console": "telehealth.notify.channels.ConsoleSmsBackend",
    "locmem": "telehealth.notify.channels.LocmemSmsBackend",
    "file": "telehealth.notify.channels.FileRecordingSmsBackend",
    "twilio": "telehealth.notify.channels.TwilioSmsBackend",
}
SMS_BACKEND = _SMS_BACKENDS[
    env("SMS_BACKEND") or ("locmem" if TESTING else "twilio" if TWILIO_ACCOUNT_SID else "console")
]
SMS_RECORD_PATH = env("SMS_RECORD_PATH", str(DATA_DIR / "sms-record.jsonl"))
SMS_SEGMENT_BUDGET = envint("SMS_SEGMENT_BUDGET", 3)
# Practice analytics: the price of one SMS segment (projected cost) and the kind of number the
# practice texts from (projected drain time), one of analytics.senders.SENDERS.
try:
    SMS_PRICE_PER_SEGMENT = Decimal(env("SMS_PRICE_PER_SEGMENT", "0.0083"))
except ArithmeticError as error:  # decimal.InvalidOperation
    raise ImproperlyConfigured("SMS_PRICE_PER_SEGMENT must be a number, e.g. 0.0083") from error
SMS_SENDER_TYPE = env("SMS_SENDER_TYPE", "10dlc_low")
# Texts wait for morning in the patient's zone unless the visit comes first.
SMS_QUIET_START_HOUR = envint("SMS_QUIET_START_HOUR", 21)
SMS_QUIET_END_HOUR = envint("SMS_QUIET_END_HOUR", 8)
# Video visits: ICE servers handed to browsers. TURN credentials are minted per visit with
# the coturn REST-API shared secret and expire after TURN_CREDENTIAL_SECONDS.
STUN_URLS = [u for u in env("STUN_URLS").split(",") if u]
TURN_URLS = [u for u in env("TURN_URLS").split(",") if u]
TURN_SECRET = env("TURN_SECRET")
TURN_CREDENTIAL_SECONDS = envint("TURN_CREDENTIAL_SECONDS", 6 * 3600)
# Group sessions: the Janus instances (VideoRoom) rooms are placed on, as a JSON list of
# {"name", "url", "admin_url", "ws_url", "api_secret", "admin_secret", "admin_key",
# "token_secret"} (docs/deploy.md). Empty: group sessions say the media server is not set up.
# "Empty: group sessions say the media server is not set up" also holds for entries whose
# secrets are empty (docker-compose.yml passes its janus service's, set or not).
JANUS_INSTANCE_KEYS = (
    "name",
    "url",
    "admin_url",
    "ws_url",
    "api_secret",
    "admin_secret",
    "admin_key",
    "token_secret",
)
try:
    JANUS_INSTANCES = [
        {key: str(entry[key]) for key in JANUS_INSTANCE_KEYS}
        for entry in json.loads(env("JANUS_INSTANCES") or "[]")
        if all(entry.get(key) for key in JANUS_INSTANCE_KEYS)
    ]
except (ValueError, TypeError, AttributeError, KeyError) as error:
    raise ImproperlyConfigured(
        f"JANUS_INSTANCES must be a JSON list of objects with {', '.join(JANUS_INSTANCE_KEYS)}."
    ) from error
JANUS_TOKEN_SECONDS = envint("JANUS_TOKEN_SECONDS", 4 * 3600)
# "relay" makes visit rooms use TURN only (every call through coturn; tests prove the relay
# with it); "all" (the default) lets browsers connect directly when they can.
ICE_TRANSPORT_POLICY = env("ICE_TRANSPORT_POLICY", "all")
if ICE_TRANSPORT_POLICY not in {"all", "relay"}:
    raise ImproperlyConfigured('ICE_TRANSPORT_POLICY must be "all" or "relay"')
if ICE_TRANSPORT_POLICY == "relay" and not TURN_URLS:
    raise ImproperlyConfigured("ICE_TRANSPORT_POLICY=relay needs TURN_URLS: no call could connect")
# The group room page talks to Janus over its WebSocket: those origins join connect-src.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] += sorted(
    {"{0.scheme}://{0.netloc}".format(urlparse(e["ws_url"])) for e in JANUS_INSTANCES}
)
OUTBOX_BATCH_SIZE = envint("OUTBOX_BATCH_SIZE", 100)
OUTBOX_LEASE_SECONDS = envint("OUTBOX_LEASE_SECONDS", 60)
OUTBOX_MAX_ATTEMPTS = envint("OUTBOX_MAX_ATTEMPTS", 8)
# FHIR change notifications (telehealth/fhir_subscriptions): endpoints must be https on a public
# address; hosts listed here may be http and private (tests and local development only).
FHIR_NOTIFY_ALLOWED_HOSTS = [
    h.strip().lower() for h in env("FHIR_NOTIFY_ALLOWED_HOSTS").split(",") if h.strip()
]
FHIR_NOTIFY_MAX_ATTEMPTS = envint("FHIR_NOTIFY_MAX_ATTEMPTS", 8)
FHIR_NOTIFY_TIMEOUT_SECONDS = envint("FHIR_NOTIFY_TIMEOUT_SECONDS", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
# Each audit chain's head is also appended here as a signed JSON line (telehealth/audit/
# checkpoints.py): a file the application may only append to, or one shipped off the server,
# so that emptying the database's audit tables is still caught. Empty: the log only.
AUDIT_CHECKPOINT_FILE = env("AUDIT_CHECKPOINT_FILE")
# How many hash chains each practice's audit events are spread over (1-1024), so that one
# practice's concurrent readers rarely wait for each other's chain lock. Changing it is safe at
# any time: it only picks the chain of new events (telehealth/audit/services.py `chain_for`).
AUDIT_CHAINS_PER_PRACTICE = envint("AUDIT_CHAINS_PER_PRACTICE", 16)
if not 1 <= AUDIT_CHAINS_PER_PRACTICE <= 1024:
    raise ImproperlyConfigured("AUDIT_CHAINS_PER_PRACTICE must be between 1 and 1024.")
CSRF_FAILURE_VIEW = "telehealth.accounts.views.csrf_failure"

# SMART on FHIR EHR launch (telehealth/ehr): how long a launch may wait for sign-in and for the
# EHR's answer, and the origins an EHR may be reached at over plain http (only ever a test's
# stand-in: "http://127.0.0.1:8081"); everything else must be https.
EHR_LAUNCH_SECONDS = envint("EHR_LAUNCH_SECONDS", 10 * 60)
EHR_INSECURE_ORIGINS = [
    o.strip().lower().rstrip("/") for o in env("EHR_INSECURE_ORIGINS").split(",") if o.strip()
]
