"""Settings shared by every environment. Every secret comes from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-secret-key-change-me-0123456789-abcdefghijklmnopqrstuvwxyz")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

SYSTEM_APPS = ["erp", "rag", "chat", "stock", "trend", "content", "agents", "resources", "learning"]

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.guardian",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "guardian",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "axes",
    "import_export",
    "django_celery_beat",
    "django_celery_results",
    "apps.core",
    *[f"apps.{name}" for name in SYSTEM_APPS],
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # cookie, else Accept-Language, else LANGUAGE_CODE
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",  # ETag / If-None-Match -> 304 on GET
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.i18n.UserLanguageMiddleware",  # a session user's saved language wins (apps/core/i18n.py)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "aistack.urls"
WSGI_APPLICATION = "aistack.wsgi.application"
ASGI_APPLICATION = "aistack.asgi.application"

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

# --- Database -------------------------------------------------------------------------------------------------------
# PostgreSQL with pgvector is the only supported database. Without DATABASE_URL an embedded PostgreSQL 16 (pgserver)
# is started on the first connection, with its data in var/pgdata/.
EMBEDDED_PGDATA = Path(env.str("EMBEDDED_PGDATA", default=str(BASE_DIR / "var" / "pgdata")))
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    USING_EMBEDDED_DB = False
else:
    _embedded_name = env.str("EMBEDDED_DB_NAME", default="aistack")
    DATABASES = {
        "default": {
            "ENGINE": "apps.core.db.embedded",
            "NAME": _embedded_name,
            "USER": "postgres",
            "EMBEDDED_PGDATA": str(EMBEDDED_PGDATA),
            "EMBEDDED_AUTOCREATE": _embedded_name,
        }
    }
    USING_EMBEDDED_DB = True
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
            "KEY_PREFIX": "aistack",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache", "LOCATION": "aistack"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = "django-db" if REDIS_URL else None
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Task events feed the Celery exporter (monitoring/): task counts, runtimes and failures per task name.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ["default", "ingest", "backtest", "agents"]
CELERY_TASK_ROUTES = {
    "rag.*": {"queue": "ingest"},
    "stock.*": {"queue": "backtest"},
    "agents.*": {"queue": "agents"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The one beat table. Times are crontab fields and can be overridden from the environment; django-celery-beat loads
# these entries into the database at beat start-up, where they can be edited in the admin.
CELERY_BEAT_SCHEDULE = {
    "core.flush_expired_tokens": {
        "task": "core.flush_expired_tokens",
        "schedule": env.float("SCHEDULE_FLUSH_TOKENS_SECONDS", default=24 * 3600.0),
    },
    "core.refresh_business_metrics": {
        "task": "core.refresh_business_metrics",
        "schedule": env.float("SCHEDULE_BUSINESS_METRICS_SECONDS", default=60.0),
    },
    "core.purge_audit_log": {
        "task": "core.purge_audit_log",
        "schedule": env.float("SCHEDULE_PURGE_AUDIT_SECONDS", default=24 * 3600.0),
    },
    "core.purge_idempotency_keys": {
        "task": "core.purge_idempotency_keys",
        "schedule": crontab(
            minute="50", hour=env.str("SCHEDULE_PURGE_IDEMPOTENCY_HOUR", default=env.str("SCHEDULE_ERP_KPI_HOUR", "2"))
        ),
    },
    "core.sweep_stuck_jobs": {
        "task": "core.sweep_stuck_jobs",
        "schedule": env.float("SCHEDULE_SWEEP_JOBS_SECONDS", default=300.0),
    },
    "erp.draft_reorder_purchase_orders": {
        "task": "erp.draft_reorder_purchase_orders",
        "schedule": crontab(minute="15", hour=env.str("SCHEDULE_ERP_REORDER_HOUR", default="2")),
    },
    "erp.flag_overdue_invoices": {
        "task": "erp.flag_overdue_invoices",
        "schedule": crontab(minute="30", hour=env.str("SCHEDULE_ERP_OVERDUE_HOUR", default="2")),
    },
    "erp.snapshot_kpis": {
        "task": "erp.snapshot_kpis",
        "schedule": crontab(minute="45", hour=env.str("SCHEDULE_ERP_KPI_HOUR", default="2")),
    },
    "rag.check_consistency": {
        "task": "rag.check_consistency",
        "schedule": env.float("SCHEDULE_RAG_CONSISTENCY_SECONDS", default=24 * 3600.0),
    },
    # --- resources: host and service monitoring (every minute; downsampling hourly)
    "resources.sample_host": {
        "task": "resources.sample_host",
        "schedule": env.float("SCHEDULE_RESOURCES_SAMPLE_SECONDS", default=60.0),
    },
    "resources.downsample_samples": {
        "task": "resources.downsample_samples",
        "schedule": crontab(minute=env.str("SCHEDULE_RESOURCES_DOWNSAMPLE_MINUTE", default="7")),
    },
    # --- end of resources: host and service monitoring
    "stock.match_orders": {
        "task": "stock.match_orders",
        "schedule": env.float("SCHEDULE_STOCK_MATCH_SECONDS", default=300.0),
    },
    "stock.run_autotraders": {
        "task": "stock.run_autotraders",
        "schedule": env.float("SCHEDULE_STOCK_AUTOTRADE_SECONDS", default=300.0),
    },
    # resources: metering and quotas
    "resources.flush_api_calls": {
        "task": "resources.flush_api_calls",
        "schedule": env.float("SCHEDULE_RESOURCES_FLUSH_SECONDS", default=30.0),
    },
    "resources.expire_holds": {
        "task": "resources.expire_holds",
        "schedule": env.float("SCHEDULE_RESOURCES_HOLDS_SECONDS", default=300.0),
    },
    # --- resources: pools and reservations ---
    "resources.complete_reservations": {
        "task": "resources.complete_reservations",
        "schedule": env.float("SCHEDULE_RESOURCES_COMPLETE_RESERVATIONS_SECONDS", default=300.0),
    },
}

# --- Systems ------------------------------------------------------------------------------------------------------
# Each system reads its own settings with defaults in apps/<system>/conf.py; these are the ones worth an env var.
# Resources: the API-call meter counts in Redis (RESOURCES_COUNTER_URL, default REDIS_URL; empty: in the process) and
# can be switched off; quota holds of work that never settled are released after RESOURCES_HOLD_SECONDS; a process
# keeps a user's limits for RESOURCES_LIMITS_LOCAL_SECONDS (changes made in another process wait at most that long).
RESOURCES_METER_API_CALLS = env.bool("RESOURCES_METER_API_CALLS", default=True)
RESOURCES_COUNTER_URL = env.str("RESOURCES_COUNTER_URL", default=REDIS_URL)
RESOURCES_HOLD_SECONDS = env.int("RESOURCES_HOLD_SECONDS", default=3600)
RESOURCES_LIMITS_LOCAL_SECONDS = env.float("RESOURCES_LIMITS_LOCAL_SECONDS", default=5.0)
ERP_REORDER_AUTO_DRAFT = env.bool("ERP_REORDER_AUTO_DRAFT", default=True)
RAG_EMBEDDING_BACKEND = env.str("RAG_EMBEDDING_BACKEND", default="hashing")  # hashing | openai | sentence-transformers
RAG_EMBEDDING_MODEL = env.str("RAG_EMBEDDING_MODEL", default="hashing-v1")
RAG_EMBEDDING_DIMENSION = env.int("RAG_EMBEDDING_DIMENSION", default=384)
RAG_OPENAI_BASE_URL = env.str("RAG_OPENAI_BASE_URL", default=None)  # an OpenAI-compatible /v1 for embeddings
RAG_OPENAI_API_KEY = env.str("RAG_OPENAI_API_KEY", default=None)
RAG_LLM_BASE_URL = env.str("RAG_LLM_BASE_URL", default=None)  # answers are extractive until an LLM is configured
RAG_LLM_MODEL = env.str("RAG_LLM_MODEL", default=None)
RAG_LLM_API_KEY = env.str("RAG_LLM_API_KEY", default=None)
RAG_LLM_CHAT_MODEL = env.str("RAG_LLM_CHAT_MODEL", default=None)  # a chat-centre model slug: answers go through it
RAG_OPENAI_PROVIDER = env.str("RAG_OPENAI_PROVIDER", default=None)  # a chat-centre provider name serving /v1/embeddings
RAG_MAX_UPLOAD_BYTES = env.int("RAG_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Documents from URLs: public addresses only unless allowed (an intranet wiki, say), time and redirects bounded.
RAG_URL_ALLOW_PRIVATE = env.bool("RAG_URL_ALLOW_PRIVATE", default=False)
RAG_URL_TIMEOUT = env.float("RAG_URL_TIMEOUT", default=20.0)
RAG_URL_MAX_REDIRECTS = env.int("RAG_URL_MAX_REDIRECTS", default=5)
# Bulk loads of at least this many chunks and this fraction of the base rebuild its HNSW index instead of inserting.
RAG_HNSW_REBUILD_MIN_CHUNKS = env.int("RAG_HNSW_REBUILD_MIN_CHUNKS", default=1000)
RAG_HNSW_REBUILD_FRACTION = env.float("RAG_HNSW_REBUILD_FRACTION", default=0.25)
RAG_HNSW_BUILD_MEMORY = env.str("RAG_HNSW_BUILD_MEMORY", default="512MB")
STOCK_RISK_FREE_RATE = env.float("STOCK_RISK_FREE_RATE", default=0.0)
STOCK_MARKET_HOURS_UTC = env.str("STOCK_MARKET_HOURS_UTC", default="13:30-20:00")
STOCK_MARKET_SESSIONS = env.json("STOCK_MARKET_SESSIONS", default={})
# Outbound HTTP (apps.core.http: LLM providers, embedding endpoints): attempts per request on connection errors, 429
# and 5xx, the base and cap of the jittered exponential backoff and the total time one request may take. The former
# CHAT_RETRY_ATTEMPTS, CHAT_RETRY_BACKOFF and CHAT_REQUEST_BUDGET_SECONDS are read when the new names are unset.
HTTP_RETRY_ATTEMPTS = env.int("HTTP_RETRY_ATTEMPTS", default=env.int("CHAT_RETRY_ATTEMPTS", default=3))
HTTP_RETRY_BACKOFF = env.float("HTTP_RETRY_BACKOFF", default=env.float("CHAT_RETRY_BACKOFF", default=0.5))
HTTP_RETRY_MAX_DELAY = env.float("HTTP_RETRY_MAX_DELAY", default=30.0)
HTTP_RETRY_BUDGET_SECONDS = env.float(
    "HTTP_RETRY_BUDGET_SECONDS", default=env.float("CHAT_REQUEST_BUDGET_SECONDS", default=120.0)
)
# AI providers (chat models, embeddings, RAG_LLM_BASE_URL) at loopback, private or link-local addresses are refused
# unless this is on or an administrator allowed it on the provider (its allow_private_network flag).
AI_ALLOW_PRIVATE_UPSTREAMS = env.bool("AI_ALLOW_PRIVATE_UPSTREAMS", default=False)
# Chat centre: tool-call rounds, logging of /v1 calls as conversations, knowledge passages per turn, an optional daily
# token quota per user (0 = none) and the room kept for the answer when history is fitted to a model's context window.
CHAT_MAX_TOOL_ROUNDS = env.int("CHAT_MAX_TOOL_ROUNDS", default=4)
CHAT_LOG_API_CONVERSATIONS = env.bool("CHAT_LOG_API_CONVERSATIONS", default=True)
CHAT_KNOWLEDGE_TOP_K = env.int("CHAT_KNOWLEDGE_TOP_K", default=5)
CHAT_USER_DAILY_TOKEN_QUOTA = env.int("CHAT_USER_DAILY_TOKEN_QUOTA", default=0)
CHAT_HISTORY_RESERVE_TOKENS = env.int("CHAT_HISTORY_RESERVE_TOKENS", default=1024)

# --- Resources: host and service monitoring (apps/resources/services/monitoring.py) ---------------------------------
# Thresholds (warning, critical) that open, escalate and resolve monitor issues: percentages of CPU, memory, the data
# directory's disk and of PostgreSQL's max_connections; tasks waiting in one queue.
RESOURCES_MONITOR_THRESHOLDS = {
    "cpu": (env.float("RESOURCES_CPU_WARNING", default=70.0), env.float("RESOURCES_CPU_CRITICAL", default=90.0)),
    "memory": (
        env.float("RESOURCES_MEMORY_WARNING", default=75.0),
        env.float("RESOURCES_MEMORY_CRITICAL", default=90.0),
    ),
    "disk": (env.float("RESOURCES_DISK_WARNING", default=80.0), env.float("RESOURCES_DISK_CRITICAL", default=95.0)),
    "pg_connections": (
        env.float("RESOURCES_PG_CONNECTIONS_WARNING", default=80.0),
        env.float("RESOURCES_PG_CONNECTIONS_CRITICAL", default=95.0),
    ),
    "queue_backlog": (
        env.float("RESOURCES_QUEUE_BACKLOG_WARNING", default=100.0),
        env.float("RESOURCES_QUEUE_BACKLOG_CRITICAL", default=1000.0),
    ),
}
# The filesystem whose usage is sampled (empty: the data directory MEDIA_ROOT); the host name samples are filed under
# (empty: the machine's host name).
RESOURCES_MONITOR_DISK_PATH = env.str("RESOURCES_MONITOR_DISK_PATH", default="")
RESOURCES_MONITOR_HOST = env.str("RESOURCES_MONITOR_HOST", default="")
# Raw samples are averaged into hourly rows after this many hours; every sample is deleted after the days.
RESOURCES_SAMPLE_RAW_HOURS = env.int("RESOURCES_SAMPLE_RAW_HOURS", default=24)
RESOURCES_SAMPLE_RETENTION_DAYS = env.int("RESOURCES_SAMPLE_RETENTION_DAYS", default=30)
# --- end of resources: host and service monitoring

# --- Auth and security ----------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "apps.core.backends.CachedPermissionsBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
LOGOUT_REDIRECT_URL = "admin:login"

# Login lock-out (django-axes): per username + IP, failures counted in the database (shared by every process and
# visible in the admin, where a locked account can be released). Successful logins are in our audit log instead.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_CALLABLE = "apps.core.auth.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Behind a reverse proxy that sets X-Forwarded-For, client addresses (audit, lock-out, metrics) are read from it.
USE_X_FORWARDED_FOR = env.bool("USE_X_FORWARDED_FOR", default=False)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if USE_X_FORWARDED_FOR else ["REMOTE_ADDR"]
AXES_VERBOSE = False

# The one encryption key: secrets in the database are django-cryptography fields (encrypt(...)). Unset: SECRET_KEY;
# production sets FIELD_ENCRYPTION_KEY so that SECRET_KEY can be rotated without losing encrypted data.
CRYPTOGRAPHY_KEY = env.str("FIELD_ENCRYPTION_KEY", default=None)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # last_login is set by the user_logged_in signal the token view sends
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

API_KEY_PREFIX = "ask"
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# Cached reads (permissions, API keys, hot API responses, searches; apps/core/caching.py) need a cache shared by all
# processes, so they are on by default only with Redis. READ_CACHE_SECONDS bounds an entry's life; writes end it sooner.
READ_CACHE_ENABLED = env.bool("READ_CACHE_ENABLED", default=bool(REDIS_URL))
READ_CACHE_SECONDS = env.int("READ_CACHE_SECONDS", default=300)
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Idempotency-Keys of every app are kept this long. ERP_IDEMPOTENCY_KEY_HOURS, the earlier name, wins when it is set
# (in the environment or, at run time, in the settings: apps.core.idempotency.key_hours).
IDEMPOTENCY_KEY_HOURS = env.int("ERP_IDEMPOTENCY_KEY_HOURS", default=env.int("IDEMPOTENCY_KEY_HOURS", default=48))
# Long jobs (apps.core.jobs): a running job without a heartbeat for this long, or a pending one never picked up, is
# failed by the core.sweep_stuck_jobs beat task (a model may keep its own, longer limits).
JOB_STUCK_MINUTES = env.int("JOB_STUCK_MINUTES", default=30)
JOB_PENDING_MINUTES = env.int("JOB_PENDING_MINUTES", default=60)
AUDIT_MASKED_FIELDS = ["password", "secret", "token", "key_hash", "api_key", "access", "refresh", "private_key"]

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = False
CORS_URLS_REGEX = r"^/(api|v1)/.*$"

# Request bodies larger than this are refused with 413 before any view runs (room for a 50 MB document upload);
# the non-file part of a request is limited to DATA_UPLOAD_MAX_MEMORY_SIZE.
AISTACK_MAX_BODY_BYTES = env.int("MAX_BODY_BYTES", default=52 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_FORM_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = min(AISTACK_MAX_BODY_BYTES, 2_621_440)

# /metrics is served only to these client IPs or to a request carrying METRICS_TOKEN as a bearer token.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Celery workers: serve the metrics their tasks move on this port (off when empty), merged across pool processes
# through a PROMETHEUS_MULTIPROC_DIR of their own (apps/core/worker_metrics.py).
CELERY_METRICS_PORT = env.str("CELERY_METRICS_PORT", default="")
# All interfaces of the worker container; the endpoint is guarded like /metrics (METRICS_ALLOWED_IPS, METRICS_TOKEN).
CELERY_METRICS_ADDR = env.str("CELERY_METRICS_ADDR", default="0.0.0.0")  # nosec B104
# Business gauges are recomputed by beat every SCHEDULE_BUSINESS_METRICS_SECONDS; a snapshot older than this expires.
BUSINESS_METRICS_MAX_AGE_SECONDS = env.int("BUSINESS_METRICS_MAX_AGE_SECONDS", default=300)

# --- REST framework -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.auth.ApiKeyAuthentication",
        "apps.core.auth.CachedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.DenyUndeclared"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.SafeJSONParser",
        "apps.core.parsers.SafeFormParser",
        "apps.core.parsers.SafeMultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.AnonRateThrottle",
        "apps.core.throttling.UserRateThrottle",
        "apps.resources.throttling.ApiCallMeter",  # counts (and limits) every authenticated API request
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/min"),
        "user": env.str("THROTTLE_USER", default="1200/min"),
    },
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",  # documents the error responses too
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Stack API",
    "DESCRIPTION": "ERP, knowledge base, chat, trading and the rest of the AI Stack suite.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SECURITY": [{"jwtAuth": []}, {"apiKeyAuth": []}],
}

# --- i18n, static, media --------------------------------------------------------------------------------------------
# English by default, Simplified Chinese on request: a user's saved preference, else the admin's language switcher
# (cookie), else Accept-Language (apps/core/i18n.py). The catalogue is locale/zh_Hans/LC_MESSAGES/django.po, compiled
# by `manage.py compile_catalogues` (pure Python: `make install`, the image build and the test run do it).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Admin (Unfold) -------------------------------------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "AI Stack",
    "SITE_HEADER": "AI Stack",
    "SITE_SUBHEADER": _("Business suite back office"),
    "SITE_SYMBOL": "hub",
    "SHOW_HISTORY": True,
    "SHOW_LANGUAGES": True,  # the switcher posts to `set_language` (apps.core.i18n.language_switch)
    "STYLES": [lambda request: static("aistack/admin.css")],
    "ENVIRONMENT": "apps.core.admin_site.environment_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "apps.core.admin_site.sidebar_navigation",
    },
}

# --- Logging --------------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "readable": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_JSON else "readable",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}
