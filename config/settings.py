"""Settings, read from the environment.

The embedded default (no variables set) is one machine, zero keys: SQLite, an in-memory
channel layer, runs executed on the server's own event loop, the local sandbox backend and the
offline demo model. Each variable below switches one piece to its scale-out counterpart.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Local state that must survive restarts but never lands in git: generated secret key,
# the printed admin password, sandbox snapshots.
DATA_DIR = Path(os.environ.get("DASHBOARD_DATA_DIR", BASE_DIR / ".local"))
DATA_DIR.mkdir(parents=True, exist_ok=True)
if DATA_DIR.stat().st_uid == os.geteuid():
    # Others (the sandbox account) may pass through to their workspaces, not list or read.
    DATA_DIR.chmod(0o711)


def _secret_key() -> str:
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# DJANGO_PRODUCTION=1: the preset for serving behind a TLS proxy (`check --deploy` is clean
# with it); each switch below can still be set on its own. Without it, plain HTTP on loopback.
PRODUCTION = envbool("DJANGO_PRODUCTION", False)
DEBUG = envbool("DJANGO_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# --- HTTPS (DJANGO_PRODUCTION turns each on) --------------------------------------------------
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", PRODUCTION)  # the header only: no submission
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", PRODUCTION)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own);
# set DJANGO_PROXY_SSL_HEADER=0 when daphne serves TLS itself.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("DJANGO_PROXY_SSL_HEADER", PRODUCTION) else None
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",
    "django_htmx",
    "channels",
    "django_tasks_db",
    "sandboxes",
    "runs",
    "comparisons",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "runs.context_processors.dashboard",
                "lib.once.form_once",
            ],
        },
    },
]

# --- Database: SQLite by default, DATABASE_URL (e.g. postgres://...) for scale-out -------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The database is the dashboard's alone (SQLite gives -wal/-shm the same mode); new ones
    # are made under the umask 077 of manage.py and config/asgi.py.
    for suffix in ("", "-wal", "-shm"):
        database = Path(f"{DATABASES['default']['NAME']}{suffix}")
        if database.is_file() and database.stat().st_uid == os.geteuid():
            database.chmod(0o600)
    # WAL lets the live pages read while a run writes its events; IMMEDIATE avoids
    # "database is locked" upgrades when several runs write at once.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer: in-memory by default, Redis when REDIS_URL is set -------------------------
# group_send silently drops messages once a channel holds `capacity`; a busy run emits far more
# than the default 100 before a slow client drains them.
CHANNEL_CAPACITY = envint("CHANNEL_CAPACITY", 5000)
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": CHANNEL_CAPACITY, "expiry": 120},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 120},
        }
    }

# --- Cache: lib.once (one submission per form) needs it shared by every serving process ------
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# --- Background work: django.tasks ------------------------------------------------------------
# "server" runs tasks on the daphne process's own event loop (the embedded default);
# "db" queues them for `manage.py db_worker` processes on any machine.
TASKS_MODE = os.environ.get("TASKS_BACKEND", "server")
if TASKS_MODE == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_MODE == "server":
    TASKS = {"default": {"BACKEND": "lib.task_backends.ServerLoopBackend"}}
else:
    raise ValueError(f"TASKS_BACKEND must be 'server' or 'db', not {TASKS_MODE!r}")

# --- Auth -------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Static files (ServeStatic works under ASGI; WhiteNoise is WSGI-only) ---------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Public files: readable by a web server in front despite the server's umask 077.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "OPTIONS": {"file_permissions_mode": 0o644, "directory_permissions_mode": 0o755},
    },
}
SERVESTATIC_USE_FINDERS = DEBUG
SERVESTATIC_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Agents and sandboxes ---------------------------------------------------------------------
OPENAI_API_KEY_SET = bool(os.environ.get("OPENAI_API_KEY"))
E2B_API_KEY_SET = bool(os.environ.get("E2B_API_KEY"))
# Tracing exports to OpenAI; without a key (or network) every run would log export failures.
AGENTS_TRACING = envbool("AGENTS_TRACING", OPENAI_API_KEY_SET)
# Seconds between the offline demo model's streamed chunks, so a person can watch it work.
DEMO_MODEL_DELAY = float(os.environ.get("DEMO_MODEL_DELAY", "0.04"))
# A running run writes a heartbeat this often; one silent for RUN_STALE_SECONDS is interrupted.
RUN_HEARTBEAT_SECONDS = envint("RUN_HEARTBEAT_SECONDS", 5)
RUN_STALE_SECONDS = envint("RUN_STALE_SECONDS", 60)
# A run waiting this long for a person's approval is ended (status "timed out") by the reaper.
RUN_APPROVAL_TIMEOUT_SECONDS = envint("RUN_APPROVAL_TIMEOUT_SECONDS", 3600)
# Largest tool output kept in one event (the full text still reaches the model).
EVENT_OUTPUT_LIMIT = envint("EVENT_OUTPUT_LIMIT", 20_000)
SANDBOX_SNAPSHOT_DIR = DATA_DIR / "snapshots"

# Every line goes through RedactingFormatter: URLs lose user:password@ and query strings (MCP
# server URLs carry keys). httpx2 is the MCP client's HTTP library (mcp 2.x): it logs each
# request's URL at INFO.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"redacted": {"()": "lib.log_redaction.RedactingFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "redacted"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "openai.agents": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Previews ---------------------------------------------------------------------------------
# Previews are served through the dashboard on their own origin: p<id>.<PREVIEW_DOMAIN>[:port].
# Chromium resolves *.localhost to loopback; in production use a wildcard DNS name.
PREVIEW_DOMAIN = os.environ.get("PREVIEW_DOMAIN", "preview.localhost")
PREVIEW_BOOT_SECONDS = envint("PREVIEW_BOOT_SECONDS", 300)
# How long a preview's access cookie lasts (its grant is also re-checked on every request).
PREVIEW_COOKIE_SECONDS = envint("PREVIEW_COOKIE_SECONDS", 12 * 3600)
PREVIEW_MODULES_CACHE = DATA_DIR / "node-modules-cache"

# --- Screenshots and images (sandboxes.screenshots, runs.images) -------------------------------
# Files the dashboard stores (screenshots, images tools produced): under the data directory,
# never served as static files; each has a view that checks who asks.
MEDIA_ROOT = DATA_DIR / "media"
# Debian's chromium photographs previews server-side (`make run` installs it).
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Longest wait for a preview's page to load and its network to go idle.
SCREENSHOT_TIMEOUT_SECONDS = envint("SCREENSHOT_TIMEOUT_SECONDS", 30)
PREVIEW_LOG_DIR = DATA_DIR / "preview-logs"

# --- Manifests --------------------------------------------------------------------------------
MANIFEST_FILE_LIMIT = envint("MANIFEST_FILE_LIMIT", 1_000_000)
MANIFEST_TOTAL_LIMIT = envint("MANIFEST_TOTAL_LIMIT", 20_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MANIFEST_TOTAL_LIMIT + 1_000_000
FILE_UPLOAD_MAX_MEMORY_SIZE = MANIFEST_TOTAL_LIMIT + 1_000_000
# Local sandboxes' workspaces (one directory per session); the reaper only cleans in here.
SANDBOX_WORKSPACE_DIR = DATA_DIR / "workspaces"
# Caches of the tools local sandboxes run (npm's), shared by them, outside every workspace.
SANDBOX_CACHE_DIR = Path(os.environ.get("DASHBOARD_SANDBOX_CACHE", DATA_DIR / "sandbox-cache"))
# When the dashboard runs as root, local sandboxes run as this unprivileged account
# (`make setup` creates it; empty: as the dashboard's own user). sandboxes/isolation.py.
SANDBOX_USER = os.environ.get("DASHBOARD_SANDBOX_USER", "sandbox-dashboard")
# Who may use the local backend (real processes on this machine): "staff" or "everyone".
LOCAL_SANDBOXES = os.environ.get("DASHBOARD_LOCAL_SANDBOXES", "staff")
if LOCAL_SANDBOXES not in ("staff", "everyone"):
    raise ValueError(
        f"DASHBOARD_LOCAL_SANDBOXES must be 'staff' or 'everyone', not {LOCAL_SANDBOXES!r}"
    )
