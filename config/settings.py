"""Settings, read from the environment.

The embedded default (no variables set) is one machine, zero keys: SQLite, an in-memory
channel layer, runs executed on the server's own event loop, the local sandbox backend and the
offline demo model. Each variable below switches one piece to its scale-out counterpart.
"""

import json
import os
import secrets
import socket
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


# Scaled out (another database than SQLite, Redis, or db workers): several processes, maybe on
# several machines, must share one secret key (sessions, share links, preview grants and the
# sealed MCP headers and envs all derive from it). Each machine generating its own would make
# what one process sealed unreadable to the others: refuse to start instead.
SCALED_OUT = bool(
    os.environ.get("REDIS_URL")
    or os.environ.get("TASKS_BACKEND") == "db"
    or not os.environ.get("DATABASE_URL", "sqlite:").startswith("sqlite:")
)


class ImproperlyConfiguredSecret(RuntimeError):
    pass


def _secret_key() -> str:
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    if SCALED_OUT:
        raise ImproperlyConfiguredSecret(
            "DJANGO_SECRET_KEY must be set, to the same value in every daphne and worker "
            "process: with DATABASE_URL, REDIS_URL or TASKS_BACKEND=db the dashboard is scaled "
            "out, and a key generated per machine would break sessions, share links, preview "
            "grants and sealed secrets across processes. Generate one with: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
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
# DEBUG's error page shows names, never values, of local variables and posted fields.
DEFAULT_EXCEPTION_REPORTER_FILTER = "lib.error_pages.SecretSafeExceptionReporterFilter"
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
# PostgreSQL: a pool of connections per process. Under ASGI, Django closes a connection at the
# end of every request and channels around every database_sync_to_async call (CONN_MAX_AGE=0,
# as async code requires); without a pool each was a new connection, so a new PostgreSQL
# backend process forked and set up. Scaled out, those short-lived backends were a quarter of
# the machine's CPU for 10 runs (bench/scale.py). DATABASE_POOL_MAX connections at most per
# process (daphne, worker, command): keep processes x DATABASE_POOL_MAX under the server's
# max_connections. DATABASE_POOL_MAX=0: no pool.
POOL_MAX = envint("DATABASE_POOL_MAX", 16)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and POOL_MAX > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, POOL_MAX),
        "max_size": POOL_MAX,
        # A request waits this long for a free connection, then fails with a clear error.
        "timeout": envint("DATABASE_POOL_TIMEOUT", 30),
    }
# The same backends, without DEBUG's record of every query (lib/db_engines): on with
# DASHBOARD_SQL_LOG=1.
SQL_LOG = envbool("DASHBOARD_SQL_LOG", False)
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.sqlite3": "lib.db_engines.sqlite3",
    "django.db.backends.postgresql": "lib.db_engines.postgresql",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer: in-memory by default, Redis when REDIS_URL is set -------------------------
# group_send silently drops messages once a channel holds `capacity`; a busy run emits far more
# than the default 100 before a slow client drains them.
CHANNEL_CAPACITY = envint("CHANNEL_CAPACITY", 5000)
REDIS_URL = os.environ.get("REDIS_URL", "")
# channels_redis waits for messages with a 5 s blocking read (BZPOPMIN): the client's socket
# timeout must be longer, or every idle websocket dies with 1011 (django/channels_redis#422,
# redis-py 8's 5 s default); it still bounds a read from a Redis that went away.
REDIS_SOCKET_OPTIONS = {
    "socket_timeout": envint("REDIS_SOCKET_TIMEOUT", 15),
    "socket_connect_timeout": envint("REDIS_CONNECT_TIMEOUT", 5),
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, **REDIS_SOCKET_OPTIONS}],
                "capacity": CHANNEL_CAPACITY,
                "expiry": 120,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # The in-memory layer, usable from the tasks' own loop (lib/task_backends.py).
            "BACKEND": "lib.channel_layers.ServerLoopChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 120},
        }
    }

# --- Cache: lib.once (one submission per form) needs it shared by every serving process ------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_SOCKET_OPTIONS,
        }
    }

# --- Background work: django.tasks ------------------------------------------------------------
# "server" runs tasks on the daphne process's own event loop (the embedded default);
# "db" queues them for `manage.py db_worker` processes on any machine.
TASKS_MODE = os.environ.get("TASKS_BACKEND", "server")
if TASKS_MODE == "db":
    # Any queue: "default", and one per machine for its local sandboxes (sandboxes/hosts.py).
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
elif TASKS_MODE == "server":
    TASKS = {"default": {"BACKEND": "lib.task_backends.ServerLoopBackend"}}
else:
    raise ValueError(f"TASKS_BACKEND must be 'server' or 'db', not {TASKS_MODE!r}")
# Inside the server, tasks run on the loop that serves the websockets ("server"), or on their
# own loop in a thread ("thread"). bench/live.py measures both: with the GIL, the thread only
# adds hand-offs (50 runs x 4 viewers: live p50 34 ms against 21-27 ms, p99 worse too).
TASKS_LOOP = os.environ.get("TASKS_LOOP", "server")
if TASKS_LOOP not in ("thread", "server"):
    raise ValueError(f"TASKS_LOOP must be 'thread' or 'server', not {TASKS_LOOP!r}")

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
# Snapshots of shared previews (comparisons.snapshots): files under the data dir by default; any
# Django storage backend (an S3-compatible one from django-storages, say) through
# SHARE_SNAPSHOT_STORAGE, a JSON {"BACKEND": ..., "OPTIONS": {...}}.
STORAGES["snapshots"] = json.loads(os.environ.get("SHARE_SNAPSHOT_STORAGE") or "null") or {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(DATA_DIR / "share-snapshots")},
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
if RUN_STALE_SECONDS < 3 * RUN_HEARTBEAT_SECONDS:
    raise ValueError(
        f"RUN_STALE_SECONDS ({RUN_STALE_SECONDS}) must be at least 3 x RUN_HEARTBEAT_SECONDS "
        f"({RUN_HEARTBEAT_SECONDS}), or live runs would be taken for dead ones"
    )
# This machine, as recorded on the local sandboxes and previews it starts: only processes on
# the same machine can reach their directories, processes and ports (sandboxes/hosts.py).
HOST_ID = os.environ.get("DASHBOARD_HOST_ID", "") or socket.gethostname()
# `manage.py worker`: how many tasks one worker process runs at once (they are async and
# mostly wait on the model or the sandbox).
WORKER_SLOTS = envint("WORKER_SLOTS", 32)
# A local sandbox with no run for this long is paused (its previews stop; its workspace is
# kept; Resume brings it back). 0: never. The sandbox page shows the time left and extends it.
SANDBOX_IDLE_MINUTES = envint("DASHBOARD_SANDBOX_IDLE_MINUTES", 30)
# A run waiting this long for a person's approval is ended (status "timed out") by the reaper.
RUN_APPROVAL_TIMEOUT_SECONDS = envint("RUN_APPROVAL_TIMEOUT_SECONDS", 3600)
# Largest tool output kept in one event (the full text still reaches the model).
EVENT_OUTPUT_LIMIT = envint("EVENT_OUTPUT_LIMIT", 20_000)
# A websocket catch-up goes out in messages of at most this many bytes (of JSON), however long
# the stored log: daphne refuses any message over 1 MB.
RUN_STREAM_BATCH_BYTES = envint("RUN_STREAM_BATCH_BYTES", 256_000)
# An output longer than HEAD + TAIL + COLLAPSE_MIN lines shows its first and last lines; the
# rest opens on a click.
RUN_LOG_OUTPUT_HEAD_LINES = envint("RUN_LOG_OUTPUT_HEAD_LINES", 12)
RUN_LOG_OUTPUT_TAIL_LINES = envint("RUN_LOG_OUTPUT_TAIL_LINES", 6)
RUN_LOG_OUTPUT_COLLAPSE_MIN_LINES = envint("RUN_LOG_OUTPUT_COLLAPSE_MIN_LINES", 8)
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
# A homepage lane waits this long for its preview, then hands its URL and screenshot to the
# coordinator (0: do not wait, report the preview as it is).
LANE_PREVIEW_WAIT_SECONDS = envint("LANE_PREVIEW_WAIT_SECONDS", 300)
PREVIEW_LOG_DIR = DATA_DIR / "preview-logs"
# A share link keeps a production build of each shared preview (comparisons.snapshots): at most
# this many bytes of built files per snapshot, built within this many seconds.
SHARE_SNAPSHOT_SIZE_LIMIT = envint("SHARE_SNAPSHOT_SIZE_LIMIT", 50_000_000)
SHARE_SNAPSHOT_BUILD_SECONDS = envint("SHARE_SNAPSHOT_BUILD_SECONDS", 300)
# ...and a screenshot of the running app beside it (sandboxes.screenshots, Debian's chromium).
SHARE_SNAPSHOT_SCREENSHOTS = envbool("SHARE_SNAPSHOT_SCREENSHOTS", True)

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
