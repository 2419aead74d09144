"""Django settings, 12-factor style: every knob is an optional environment variable.

With nothing set, the project runs on an embedded PostgreSQL (``pgserver``) under ``.duragraph/``;
``manage.py dev`` adds an embedded NATS. See README.md "Configuration" for the full list.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from duragraph_site import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


DEBUG = env.bool("DEBUG", default=False)


def _local_because() -> str | None:
    """Why this process is not a production deployment (None when it is one).

    Production is what is left once these are ruled out: ``DEBUG`` on; ``manage.py dev`` (the
    supervisor itself; it hands its children ``SECRET_KEY`` and ``ALLOWED_HOSTS`` explicitly);
    the test suite (pytest sets ``PYTEST_VERSION`` for the session, for code to tell); no
    ``DATABASE_URL``, i.e. the embedded PostgreSQL under ``.duragraph/``, which only serves a
    developer's machine (README "Running in production": nothing embedded), so that
    ``manage.py shell`` or ``createsuperuser`` next to ``make dev`` need no setup either.
    """
    if DEBUG:
        return "DEBUG"
    if sys.argv[1:2] == ["dev"]:  # manage.py dev, duragraph dev, python -m django dev
        return "manage.py dev"
    if os.environ.get("PYTEST_VERSION"):
        return "tests"
    if not env.str("DATABASE_URL", default=""):
        return "embedded PostgreSQL"
    return None


#: Production: ``SECRET_KEY`` and ``ALLOWED_HOSTS`` must be set (docs/production.md).
PRODUCTION = _local_because() is None


def _secret_key() -> str:
    """``SECRET_KEY`` from the environment; on a developer's machine (not :data:`PRODUCTION`),
    else one generated once and kept under .duragraph/ (shared by its processes, so sessions
    survive restarts). Production never gets a default: a missing key stops it at start."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. A production process (DEBUG off, DATABASE_URL set) needs "
            "its own: export SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), the same for every process of the deployment "
            "(docs/production.md). Only manage.py dev and the test suite generate one."
        )
    path = embedded.home() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
#: The names this machine answers to itself. Unset, ``ALLOWED_HOSTS`` is only these (never
#: ``*``) on a developer's machine: a page on a name an attacker rebinds to 127.0.0.1 (DNS
#: rebinding) sends its own name as ``Host`` and is refused. Production must set
#: ``ALLOWED_HOSTS`` to its public names (loopback only would answer 400 to every client, so a
#: missing value is reported at start instead); ``manage.py dev`` allows these plus whatever
#: ``ALLOWED_HOSTS`` adds.
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else LOOPBACK_HOSTS)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. A production process (DEBUG off, DATABASE_URL set) answers "
        "only to the names listed there: export ALLOWED_HOSTS=duragraph.example.com "
        "(comma-separated; docs/production.md)."
    )

# -- HTTPS (docs/production.md; `manage.py check --deploy` reads these) ------------------------
#: Behind a proxy that ends TLS: the header and value it sets for HTTPS requests, as
#: ``HTTP_X_FORWARDED_PROTO,https`` (only when the proxy always sets or overwrites it).
SECURE_PROXY_SSL_HEADER = (
    tuple(env.list("SECURE_PROXY_SSL_HEADER")) if env.str("SECURE_PROXY_SSL_HEADER", "") else None
)
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must read HEADER,value")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
#: Paths (regular expressions on the path without its leading slash) answered over plain HTTP
#: even with ``SECURE_SSL_REDIRECT``: load balancers' health probes, Prometheus' scrapes.
SECURE_REDIRECT_EXEMPT = env.list(
    "SECURE_REDIRECT_EXEMPT", default=[r"^ok$", r"^health$", r"^metrics$"]
)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

# -- Login throttle (accounts.login_throttle; docs/production.md) ------------------------------
#: After this many failed logins for one user name from one address within the window, that
#: pair is refused for the lockout, the right password included.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
AUTHENTICATION_BACKENDS = ["accounts.login_throttle.ThrottledModelBackend"]
#: Where the failures are counted: this process's memory unless ``CACHE_URL`` names a shared
#: cache (``redis://...``, as Celery's broker), which several server processes should use.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
#: Origins (``scheme://host[:port]``, ``https://*.example.com`` for subdomains) whose pages may
#: post forms to the admin and open the WebSockets (``duragraph_site.origins``).
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
    "corsheaders",  # its system checks validate the CORS_* settings
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "pgtrigger",
    "django_prometheus",
    "duragraph_site",
    "events",
    "accounts",
    "assistants",
    "threads",
    "runs",
    "workers",
    "workflows",
    "store",
    "prompts",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "duragraph_site.handlers.CorsMiddleware",  # before anything that may answer (corsheaders)
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
    "duragraph_site.handlers.CorsMiddleware",  # answers preflights before any view (no 405)
    "duragraph_site.handlers.SecurityMiddleware",
    "events.context.EventContextMiddleware",
    "accounts.ratelimit.RateLimitHeadersMiddleware",  # X-RateLimit-* from the throttle's decision
    "duragraph_site.api.duragraph_v1.JsonBodiesMiddleware",  # the DuraGraph SDK's /api/v1
    "duragraph_site.handlers.PrometheusAfterMiddleware",
]

# -- CORS (django-cors-headers; docs/cors.md) ----------------------------------------------------
#: Browser pages on these origins may call the API (LangGraph Studio: https://smith.langchain.com).
#: Exact ``scheme://host[:port]``; nothing by default.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
#: Regular expressions matched against the whole origin (``^https://\w+\.example\.com$``).
CORS_ALLOWED_ORIGIN_REGEXES = env.list("CORS_ALLOWED_ORIGIN_REGEXES", default=[])
#: Off: the API authenticates by header (``x-api-key``, ``Authorization``), not by cookie.
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
#: corsheaders' defaults plus what langgraph-sdk (Python and JS) and EventSource send.
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
    "x-api-key",
    "x-auth-scheme",
    "x-request-id",
    "last-event-id",
    "cache-control",
]
#: What a page may read: where a created run or stream lives, the request id, pagination,
#: rate limits and when to retry.
CORS_EXPOSE_HEADERS = [
    "Location",
    "Content-Location",
    "X-Request-ID",
    "X-Pagination-Total",
    "X-Pagination-Next",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
]
CORS_PREFLIGHT_MAX_AGE = 600

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
                "duragraph_site.pages.navigation",
            ],
        },
    },
]


def _database() -> dict:
    """``DATABASE_URL`` if set, else the embedded cluster (attached on first connection)."""
    pool = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=20),
        # Waiting for a busy pool; while the database is unreachable a request gives up after
        # about a second instead (503), see duragraph_site/db/pool.py.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
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
    # A host that does not answer at all must not hang a connection attempt (libpq's minimum: 2).
    config["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3))
    # Every transaction of ours is short. One left open by a frozen or vanished process (a
    # SIGSTOPped executor mid-write) would hold its row locks, and with them the reaper's
    # take-over of its runs, until the server ends it; keep this below DURAGRAPH_LEASE_SECONDS.
    if idle := env.float("DATABASE_IDLE_IN_TRANSACTION_SECONDS", default=10.0):
        setting = f"-c idle_in_transaction_session_timeout={round(idle * 1000)}"
        config["OPTIONS"]["options"] = f"{config['OPTIONS'].get('options', '')} {setting}".strip()
    # The hottest statements are prepared on the server (duragraph_site/db/prepared.py asks for
    # it; Django's own cursors bind on the client and never prepare). None: nothing is.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        config["OPTIONS"].setdefault("prepare_threshold", 2**31 - 1)
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

# -- Authentication (accounts; docs/auth.md) -------------------------------------------------
#: Every API, stream, WebSocket and worker route asks who is calling. On unless set false;
#: ``manage.py dev`` on loopback turns it off (and says so) unless set true here.
AUTH_ENABLED = env.bool("AUTH_ENABLED", default=True)
#: A validated API key is remembered this long per process: revoking one takes effect within it.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=10.0)
#: JWT bearer tokens (PyJWT): a shared HS256 secret, or public keys from a JWKS URL.
JWT_SECRET = env.str("JWT_SECRET", default="")
JWT_JWKS_URL = env.str("JWT_JWKS_URL", default="")
JWT_ALGORITHMS = env.list(
    "JWT_ALGORITHMS", default=["RS256", "ES256"] if JWT_JWKS_URL else ["HS256"]
)
#: The JWKS is kept this long (a key removed from it stops verifying within it); a token with a
#: key id not in it makes it fetched again, at most once per cooldown.
JWT_JWKS_CACHE_SECONDS = env.float("JWT_JWKS_CACHE_SECONDS", default=300.0)
JWT_JWKS_COOLDOWN_SECONDS = env.float("JWT_JWKS_COOLDOWN_SECONDS", default=10.0)
JWT_ISSUER = env.str("JWT_ISSUER", default="")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="")
JWT_LEEWAY_SECONDS = env.float("JWT_LEEWAY_SECONDS", default=30.0)
#: The claims that name the caller and its tenant (a token without the tenant claim gets the
#: default tenant), and the one listing its scopes (space-separated, OAuth style).
JWT_IDENTITY_CLAIM = env.str("JWT_IDENTITY_CLAIM", default="sub")
JWT_TENANT_CLAIM = env.str("JWT_TENANT_CLAIM", default="tenant")
JWT_SCOPE_CLAIM = env.str("JWT_SCOPE_CLAIM", default="scope")

# -- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "duragraph_site.api.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.CallerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasApiScope"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.RateLimitThrottle"],
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
    # /openapi.json and /docs are public (docs/auth.md): a stale or wrong credential a browser
    # kept must not lock anyone out of the documentation. The "Authorize" button of /docs takes
    # a key (x-api-key or bearer) or a JWT for "Try it out", kept across reloads.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True},
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
        "duragraph_site.api.schema.served_under_mount_prefix",
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
    # request_id: the X-Request-ID of the request being served ("-" outside one).
    "filters": {"request_id": {"()": "duragraph_site.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
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
#: Hosts (exact names or IPs, comma-separated) a run's webhook may call even though they are
#: loopback, private, link-local or metadata addresses (docs/webhooks.md); empty: none.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])

# The scheduler's periodic jobs (manage.py scheduler; duragraph_site/scheduler.py), in seconds.
#: The lease reaper: lost workers' and expired leases' runs are handed back this often.
DURAGRAPH_REAPER_SECONDS = env.float("DURAGRAPH_REAPER_SECONDS", default=2.0)
#: Workflow definitions (DAG jobs) loaded when the scheduler starts: every .yml/.yaml/.json
#: file, its stem the workflow's id (docs/workflows.md). Relative to the project.
WORKFLOWS_DIR = Path(env.str("WORKFLOWS_DIR", default=str(BASE_DIR / "examples" / "workflows")))
#: DAG jobs' lease reaper: jobs whose lease expired or whose time ran out are retried or failed.
DURAGRAPH_JOBS_REAPER_SECONDS = env.float("DURAGRAPH_JOBS_REAPER_SECONDS", default=1.0)
#: The queue sweeper: a wake-up for claimable runs whose own was lost.
DURAGRAPH_SWEEPER_SECONDS = env.float("DURAGRAPH_SWEEPER_SECONDS", default=10.0)
#: Cron ticks.
DURAGRAPH_CRON_TICK_SECONDS = env.float("DURAGRAPH_CRON_TICK_SECONDS", default=5.0)
#: TTL expiry of threads and store items.
DURAGRAPH_EXPIRE_SECONDS = env.float("DURAGRAPH_EXPIRE_SECONDS", default=60.0)
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
#: Keys (comma-separated) that serve the worker routes only, for every tenant; with
#: AUTH_ENABLED off, setting them still makes the worker routes require one (docs/auth.md).
DURAGRAPH_WORKER_API_KEYS = env.list("DURAGRAPH_WORKER_API_KEYS", default=[])

# -- Rate limits (accounts.ratelimit; docs/rate-limits.md) ------------------------------------
#: A token bucket per caller (its identity; its address when anonymous) and class of route.
#: Unset, it follows AUTH_ENABLED: on wherever callers are identified, off where every caller is
#: anonymous (``manage.py dev`` on loopback), unless set true or false here.
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=None)
#: ``"<requests>/<period> [burst]"`` (period s, m, h, d; burst defaults to requests), per caller:
#: creating, updating, deleting (and the worker protocol); reading (GET, and the POST searches
#: and counts); opening streams and waits (``stream``, ``wait``, ``join``).
RATE_LIMIT_WRITES = env.str("RATE_LIMIT_WRITES", default="50/s 200")
RATE_LIMIT_READS = env.str("RATE_LIMIT_READS", default="100/s 400")
RATE_LIMIT_STREAMS = env.str("RATE_LIMIT_STREAMS", default="10/s 50")
#: The buckets' store, shared by every server process: this Redis; unset, the Celery broker's
#: when it is a Redis; empty (or no Redis at all), PostgreSQL (an UNLOGGED table).
RATE_LIMIT_REDIS_URL = env.str(
    "RATE_LIMIT_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
#: A round trip to the store takes what the rate refills in this many seconds (at most a tenth
#: of the burst), spent by the process without asking again within them. 0: one trip a request.
RATE_LIMIT_LEASE_SECONDS = env.float("RATE_LIMIT_LEASE_SECONDS", default=0.05)
#: Prefix of the buckets' Redis keys (deployments sharing one Redis keep apart).
RATE_LIMIT_KEY_PREFIX = env.str("RATE_LIMIT_KEY_PREFIX", default="duragraph:ratelimit:")
#: Reverse proxies in front of daphne that append the client's address to X-Forwarded-For; an
#: anonymous caller is limited by the address the outermost one saw. 0: REMOTE_ADDR, and the
#: header is ignored (a client could write anything in it).
RATE_LIMIT_PROXY_COUNT = env.int("RATE_LIMIT_PROXY_COUNT", default=0)
