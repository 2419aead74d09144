"""Django settings, 12-factor style: every knob is an optional environment variable.

With nothing set, the project runs on an embedded PostgreSQL (``pgserver``) under ``.duragraph/``;
``manage.py dev`` adds an embedded NATS. See README.md "Configuration" for the full list.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

from duragraph_site import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _secret_key() -> str:
    """``SECRET_KEY`` from the environment, else one generated once and kept under .duragraph/."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    path = embedded.home() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "pgtrigger",
    "django_prometheus",
    "duragraph_site",
    "events",
    "assistants",
    "threads",
    "runs",
    "workers",
    "store",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "events.context.EventContextMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
#: The API's chain (duragraph_site.handlers.APIHandler serves every path but the browser ones):
#: no sessions, CSRF, auth or messages, and only async-native middleware, so no thread hops.
API_MIDDLEWARE = [
    "duragraph_site.handlers.PrometheusBeforeMiddleware",
    "duragraph_site.handlers.SecurityMiddleware",
    "events.context.EventContextMiddleware",
    "duragraph_site.handlers.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "duragraph_site.urls"
ASGI_APPLICATION = "duragraph_site.asgi.application"
WSGI_APPLICATION = "duragraph_site.wsgi.application"

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


def _database() -> dict:
    """``DATABASE_URL`` if set, else the embedded cluster (attached on first connection)."""
    pool = {"min_size": 1, "max_size": env.int("DATABASE_POOL_SIZE", default=20), "timeout": 10}
    if url := env.str("DATABASE_URL", default=""):
        config = env.db_url_config(url)
        options = config.setdefault("OPTIONS", {})
        # libpq's ?host=/socket/dir lands in OPTIONS; Django expects it in HOST.
        if "host" in options:
            config["HOST"] = options.pop("host")
        config["EMBEDDED"] = False
    else:
        config = {
            "NAME": embedded.PG_DATABASE,
            "USER": embedded.PG_USER,
            "HOST": "",
            "PORT": "",
            "OPTIONS": {},
        }
        config["EMBEDDED"] = True
    config["ENGINE"] = "duragraph_site.db"
    config["OPTIONS"].setdefault("pool", pool)
    config["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
    # A connection killed under us (server restart, pg_terminate_backend) is replaced at
    # checkout (the pool's check) instead of failing the next query.
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# `collectstatic` target for production; in development whitenoise serves straight from the
# apps' static folders (USE_FINDERS), so nothing needs collecting.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(embedded.home() / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# -- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "duragraph_site.api.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["duragraph_site.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["duragraph_site.api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DuraGraph",
    "DESCRIPTION": "LangGraph-Platform-compatible control plane for durable agent workflows. "
    "Every path is served at the root (LangGraph) and under /api/v1 (DuraGraph).",
    "VERSION": "0.1.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.domain.RunStatus",
        "ThreadStatusEnum": ["idle", "busy", "interrupted", "error"],
        "OnCompletionEnum": ["delete", "keep"],
    },
    # The /api/v1 copies of the LangGraph paths are documented once, at the root.
    "PREPROCESSING_HOOKS": ["duragraph_site.api.schema.root_paths_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "duragraph_site.api.schema.document_errors",
        "duragraph_site.api.schema.document_uuid_path_parameters",
        "duragraph_site.api.schema.nullable_any_is_any",
    ],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=10 * 1024 * 1024)

# -- Live updates and workers ----------------------------------------------------------------
NATS_URL = env.str("NATS_URL", default="")


#: Empty means kombu's SQLAlchemy transport on this PostgreSQL (see duragraph_site/celery.py).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
#: The queue executors consume and the scheduler sends to (several deployments, or test runs, can
#: share one broker with their own queues).
CELERY_TASK_DEFAULT_QUEUE = env.str("DURAGRAPH_CELERY_QUEUE", default="duragraph")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# -- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# -- Runs ------------------------------------------------------------------------------------
#: Seconds a worker's lease on a run lasts without renewal.
DURAGRAPH_LEASE_SECONDS = env.float("DURAGRAPH_LEASE_SECONDS", default=30.0)
#: Attempts a run gets when its worker vanishes (lease expiry) before it ends as ``error``.
DURAGRAPH_RUN_MAX_ATTEMPTS = env.int("DURAGRAPH_RUN_MAX_ATTEMPTS", default=3)
#: Backoff between those attempts (runs.domain.RetryPolicy).
DURAGRAPH_RETRY_POLICY = {
    "base_seconds": env.float("DURAGRAPH_RETRY_BASE_SECONDS", default=1.0),
    "factor": env.float("DURAGRAPH_RETRY_FACTOR", default=2.0),
    "max_seconds": env.float("DURAGRAPH_RETRY_MAX_SECONDS", default=60.0),
}
#: A run running longer than this ends as ``timeout`` (0: no limit).
DURAGRAPH_RUN_TIMEOUT_SECONDS = env.float("DURAGRAPH_RUN_TIMEOUT_SECONDS", default=3600.0)
#: Graph ids this process's executor serves (empty: every registered graph).
DURAGRAPH_EXECUTOR_GRAPHS = env.list("DURAGRAPH_EXECUTOR_GRAPHS", default=[])

CELERY_BEAT_SCHEDULE = {
    "reap-expired-leases": {
        "task": "duragraph.reap_expired_leases",
        "schedule": env.float("DURAGRAPH_REAPER_SECONDS", default=2.0),
    },
    "sweep-queue": {
        "task": "duragraph.sweep_queue",
        "schedule": env.float("DURAGRAPH_SWEEPER_SECONDS", default=10.0),
    },
    "fire-crons": {
        "task": "duragraph.fire_crons",
        "schedule": env.float("DURAGRAPH_CRON_TICK_SECONDS", default=5.0),
    },
    "expire": {"task": "duragraph.expire", "schedule": 60.0},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
#: A worker silent for this many heartbeat intervals is lost; its runs go to other workers.
DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS = env.float(
    "DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS", default=3.0
)
#: Seconds between the built-in executors' heartbeats.
DURAGRAPH_EXECUTOR_HEARTBEAT_SECONDS = env.float(
    "DURAGRAPH_EXECUTOR_HEARTBEAT_SECONDS", default=1.0
)

# -- Outbox relay (events/relay.py, manage.py relay_outbox) -----------------------------------
#: Outbox rows per relay batch: one claim, one round of publishes, one commit.
DURAGRAPH_RELAY_BATCH_SIZE = env.int("DURAGRAPH_RELAY_BATCH_SIZE", default=500)
#: Delivered outbox rows are deleted after this many seconds (the events themselves never are).
DURAGRAPH_OUTBOX_RETENTION_SECONDS = env.float("DURAGRAPH_OUTBOX_RETENTION_SECONDS", default=3600.0)
#: A row that failed this many publications moves from the relay's main pass to its slow pass
#: (retried every 30 s), so that messages NATS keeps refusing cannot fill every batch.
DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER = env.int("DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER", default=5)
#: JetStream drops a message whose Nats-Msg-Id (the event id) it saw within this window.
DURAGRAPH_NATS_DUPLICATE_WINDOW_SECONDS = env.float(
    "DURAGRAPH_NATS_DUPLICATE_WINDOW_SECONDS", default=120.0
)
#: Messages older than this leave the DURAGRAPH stream (0: kept until deleted by hand); the
#: event log in PostgreSQL remains the record.
DURAGRAPH_NATS_STREAM_MAX_AGE_SECONDS = env.float(
    "DURAGRAPH_NATS_STREAM_MAX_AGE_SECONDS", default=86400.0
)
#: Port on which ``relay_outbox`` serves its own Prometheus metrics (0: not served).
DURAGRAPH_RELAY_METRICS_PORT = env.int("DURAGRAPH_RELAY_METRICS_PORT", default=0)
#: Remote workers' heartbeat interval until their own heartbeats show the real one.
DURAGRAPH_REMOTE_HEARTBEAT_SECONDS = env.float("DURAGRAPH_REMOTE_HEARTBEAT_SECONDS", default=30.0)
#: Lease of a run handed to a remote worker (it lives while its worker heartbeats).
DURAGRAPH_REMOTE_LEASE_SECONDS = env.float("DURAGRAPH_REMOTE_LEASE_SECONDS", default=86400.0)
#: API keys (comma-separated) remote workers must present; empty: anonymous, as the SDK calls.
DURAGRAPH_WORKER_API_KEYS = env.list("DURAGRAPH_WORKER_API_KEYS", default=[])
