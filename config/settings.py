"""One settings file; the environment decides the rest (django-environ).

Defaults are the embedded engines of ``make demo``: a SQLite file, tasks run in-process, uploads in a local
folder. ``DATABASE_URL=postgres://…`` switches to PostgreSQL, ``CELERY_BROKER_URL`` to real workers.
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("MEDBROKER_VAR_DIR", default=str(BASE_DIR / "var")))
# The embedded default keeps its SQLite file, uploads and collected static files here.
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _embedded_secret_key() -> str:
    # No key is written in the code: without SECRET_KEY the embedded default makes a random one once and
    # keeps it beside the database, so sessions survive a restart and no two installations share a key.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _embedded_secret_key()


def _embedded_oidc_key() -> str:
    # The key that signs the OpenID Connect ID tokens the workspace hub receives: like the secret key, made
    # once beside the database unless MEDBROKER_OIDC_PRIVATE_KEY gives one (PEM).
    path = VAR_DIR / "oidc_private_key.pem"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    return path.read_text()


DEBUG = env("DEBUG")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=["http://127.0.0.1:8000", "http://localhost:8000"]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "ninja",
    "oauth2_provider",
    "medbroker.core",
    "medbroker.accounts",
    "medbroker.audit",
    "medbroker.catalog",
    "medbroker.ingest",
    "medbroker.calls",
    "medbroker.reviews",
    "medbroker.agreements",
    "medbroker.access",
    "medbroker.compute",
    "medbroker.evaluations",
    "medbroker.outcomes",
    "medbroker.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "medbroker.core.middleware.KoreanFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "medbroker.accounts.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "medbroker" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "medbroker.core.context_processors.navigation",
                "medbroker.accounts.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'medbroker.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait instead of failing at once when the demo's background job and a request write together.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Lockout after repeated failed logins (django-axes): 5 failures for one user name from one address lock
# that pair for 30 minutes; an operator can reset it (``medbroker axes_reset_username``).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "medbroker"

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", _("한국어")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "medbroker" / "locale"]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "medbroker" / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

MEDIA_ROOT = Path(env.str("MEDBROKER_MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Uploaded documents are never served as static media: only permission-checked views stream them.
MEDIA_URL = "/_media-not-served/"
FILE_UPLOAD_PERMISSIONS = 0o640
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MEDBROKER_UPLOAD_MAX_BYTES = env.int("MEDBROKER_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
# Uploads go straight to a temporary file, and never more than the limit of one file is written there.
FILE_UPLOAD_HANDLERS = ["medbroker.core.uploads.SizeLimitedUploadHandler"]

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
# The reconcilers: expiry by the clock has no event, so each downstream app compares what is in force with
# what is allowed and acts (grants, GPUs, agreements, report reminders). Idempotent, safe to run often.
CELERY_BEAT_SCHEDULE = {
    "agreements-close-ended": {
        "task": "medbroker.agreements.tasks.agreements_close_ended",
        "schedule": 300.0,
    },
    "access-grants-reconcile": {"task": "medbroker.access.tasks.grants_reconcile", "schedule": 60.0},
    "access-bookings-reconcile": {
        "task": "medbroker.access.tasks_rooms.bookings_reconcile",
        "schedule": 60.0,
    },
    "compute-allocations-reconcile": {
        "task": "medbroker.compute.tasks.allocations_reconcile",
        "schedule": 300.0,
    },
    "outcomes-reports-remind": {"task": "medbroker.outcomes.tasks.reports_remind", "schedule": 3600.0},
    "ingest-scan-jobs-reconcile": {"task": "medbroker.ingest.tasks.scan_jobs_reconcile", "schedule": 600.0},
    "evaluations-runs-reconcile": {
        "task": "medbroker.evaluations.tasks.evaluation_runs_reconcile",
        "schedule": 600.0,
    },
    # A revoked or expired grant must stop the company's workspaces within a minute.
    "compute-workspaces-reconcile": {
        "task": "medbroker.compute.tasks.workspaces_reconcile",
        "schedule": 30.0,
    },
}

# Step ⑤: the closed learning room. Bookable slots of a day (KST, "HH:MM-HH:MM", comma-separated), the days
# the centre is open (English three-letter names, comma-separated: the grid applies on these days only) and
# the most hours one company may book in one week (Monday to Sunday, whichever days are open).
MEDBROKER_ROOM_SLOTS = env.str("MEDBROKER_ROOM_SLOTS", default="09:00-12:00,13:00-18:00")
MEDBROKER_ROOM_OPEN_DAYS = env.str("MEDBROKER_ROOM_OPEN_DAYS", default="mon,tue,wed,thu,fri")
MEDBROKER_ROOM_WEEKLY_HOURS = env.int("MEDBROKER_ROOM_WEEKLY_HOURS", default=16)
# How many days before a grant ends the company is told that it is expiring.
MEDBROKER_GRANT_EXPIRY_NOTICE_DAYS = env.int("MEDBROKER_GRANT_EXPIRY_NOTICE_DAYS", default=7)
# Step ⑥: the results report is due this many days after the agreement's last day.
MEDBROKER_REPORT_DUE_DAYS = env.int("MEDBROKER_REPORT_DUE_DAYS", default=14)
# Days before the due date when the company is reminded of its report.
MEDBROKER_REPORT_REMINDER_DAYS = env.int("MEDBROKER_REPORT_REMINDER_DAYS", default=7)
# Days an offered GPU (from the waiting list) is held for the company before it goes to the next one.
MEDBROKER_GPU_OFFER_DAYS = env.int("MEDBROKER_GPU_OFFER_DAYS", default=3)

# Ingest. A data steward may scan only folders under these roots (comma-separated absolute paths): the
# page takes a path typed by a user, and the server must not read its own files for them.
MEDBROKER_SCAN_ROOTS = [
    str(Path(root).resolve())
    for root in env.list("MEDBROKER_SCAN_ROOTS", default=[str(VAR_DIR / "datasets")])
]
# Worker processes of a scan (0: one per CPU core).
MEDBROKER_SCAN_WORKERS = env.int("MEDBROKER_SCAN_WORKERS", default=0)
# A DICOM header larger than this is reported as an error instead of being read (a corrupt length or a
# file that is not what it claims would otherwise make the scanner read gigabytes).
MEDBROKER_SCAN_MAX_HEADER_BYTES = env.int("MEDBROKER_SCAN_MAX_HEADER_BYTES", default=64 * 1024 * 1024)
# Counts under this are shown to companies as "< k" (small-cell suppression of the key information).
MEDBROKER_SMALL_CELL_K = env.int("MEDBROKER_SMALL_CELL_K", default=5)
# With in-process Celery (the embedded default) a scan started from the page runs in a thread of the web
# process, so the page can show its progress; tests set this to False to run it inline.
MEDBROKER_SCAN_IN_THREAD = env.bool("MEDBROKER_SCAN_IN_THREAD", default=True)
# A queued or running scan silent (no progress written) for this long is taken as abandoned and failed.
MEDBROKER_SCAN_STALE_MINUTES = env.int("MEDBROKER_SCAN_STALE_MINUTES", default=30)
# PACS servers a data steward may import from through DICOMweb (comma-separated "host" or "host:port"; a
# host alone allows any port). The server fetches whatever address is saved, so an address typed by a
# steward could make it reach internal services; empty: only operators set DICOMweb addresses.
MEDBROKER_DICOMWEB_HOSTS = [
    host.strip().lower() for host in env.list("MEDBROKER_DICOMWEB_HOSTS", default=[]) if host.strip()
]

# Performance tests (evaluations): submissions per company per quota period; the sandbox's limits.
# Test sets, submissions and reports live here, outside MEDIA_ROOT: nothing in it is ever served directly.
MEDBROKER_EVALUATION_ROOT = Path(env.str("MEDBROKER_EVALUATION_ROOT", default=str(VAR_DIR / "evaluations")))
MEDBROKER_EVALUATION_QUOTA = env.int("MEDBROKER_EVALUATION_QUOTA", default=5)
MEDBROKER_EVALUATION_QUOTA_DAYS = env.int("MEDBROKER_EVALUATION_QUOTA_DAYS", default=30)
MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES = env.int(
    "MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024
)
# Uploads to the performance-test pages and API may be as large as a model (see medbroker.core.uploads).
MEDBROKER_UPLOAD_LIMITS_BY_PATH = {
    "/evaluations/": MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES,
    "/api/v1/evaluations/": MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES,
}
MEDBROKER_SANDBOX_CASE_SECONDS = env.int("MEDBROKER_SANDBOX_CASE_SECONDS", default=60)
MEDBROKER_SANDBOX_MEMORY_MB = env.int("MEDBROKER_SANDBOX_MEMORY_MB", default=4096)
MEDBROKER_SANDBOX_THREADS = env.int("MEDBROKER_SANDBOX_THREADS", default=1)
# A model runs in new network, mount, IPC and PID namespaces as an unprivileged user (uid 65534), seeing only
# its own read-only inputs (``evaluations.sandbox``). A root worker builds that directly; another account
# does it inside a user namespace. Where it cannot be built, runs fail, unless this is turned off (a
# developer's machine only): the run then goes ahead with what could be had and records it.
MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION = env.bool(
    "MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION", default=True
)
# Runs go to a Celery worker, or a thread of the web process when Celery runs in-process (the default).
MEDBROKER_EVALUATION_IN_THREAD = env.bool("MEDBROKER_EVALUATION_IN_THREAD", default=True)
MEDBROKER_EVALUATION_STALE_MINUTES = env.int("MEDBROKER_EVALUATION_STALE_MINUTES", default=120)
# Test reports are signed with HMAC-SHA256 under this key (the secret key when not set).
MEDBROKER_REPORT_SIGNING_KEY = env.str("MEDBROKER_REPORT_SIGNING_KEY", default="")

# Workspaces: JupyterHub signs users in through the platform (OpenID Connect, django-oauth-toolkit) and asks
# the platform before every start what the user may see; the platform starts and stops servers through the
# hub's REST API with a service token. The tokens are derived from the secret key unless given.
MEDBROKER_HUB_URL = env.str("MEDBROKER_HUB_URL", default="http://127.0.0.1:8001")
MEDBROKER_HUB_API_URL = env.str("MEDBROKER_HUB_API_URL", default="http://127.0.0.1:8081/hub/api")
MEDBROKER_HUB_API_TOKEN = env.str("MEDBROKER_HUB_API_TOKEN", default="")
MEDBROKER_HUB_PLATFORM_TOKEN = env.str("MEDBROKER_HUB_PLATFORM_TOKEN", default="")
MEDBROKER_HUB_OAUTH_CLIENT_SECRET = env.str("MEDBROKER_HUB_OAUTH_CLIENT_SECRET", default="")
MEDBROKER_HUB_STATE_DIR = Path(env.str("MEDBROKER_HUB_STATE_DIR", default=str(VAR_DIR / "hub")))
MEDBROKER_WORKSPACE_ROOT = Path(env.str("MEDBROKER_WORKSPACE_ROOT", default=str(VAR_DIR / "workspaces")))
# Networks of the closed learning room (CIDR): closed-room grants open in a workspace only from there.
MEDBROKER_CLOSED_ROOM_NETWORKS = env.list("MEDBROKER_CLOSED_ROOM_NETWORKS", default=[])
# How long a start asked by the platform waits for the hub to come and ask, before it is void.
MEDBROKER_WORKSPACE_LAUNCH_SECONDS = env.int("MEDBROKER_WORKSPACE_LAUNCH_SECONDS", default=300)
MEDBROKER_WORKSPACE_IDLE_MINUTES = env.int("MEDBROKER_WORKSPACE_IDLE_MINUTES", default=60)
# A workspace without its jail (uid 65534, hidden project folders, read-only data) is refused unless this
# is off (a developer's machine without namespaces).
MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT = env.bool("MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT", default=True)
MEDBROKER_HUB_PROXY_COMMAND = env.str(
    "MEDBROKER_HUB_PROXY_COMMAND", default=str(BASE_DIR / "node_modules" / ".bin" / "configurable-http-proxy")
)

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": env.str("MEDBROKER_OIDC_PRIVATE_KEY", default="") or _embedded_oidc_key(),
    "OAUTH2_VALIDATOR_CLASS": "medbroker.accounts.oidc.ClaimsValidator",
    "SCOPES": {
        "openid": _("로그인 확인"),
        "profile": _("이름과 소속 기업"),
    },
    "DEFAULT_SCOPES": ["openid", "profile"],
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="medbroker@localhost")
# The address e-mails link back to (the platform as users reach it).
MEDBROKER_SITE_URL = env.str("MEDBROKER_SITE_URL", default="http://127.0.0.1:8000")

NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"axes": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
