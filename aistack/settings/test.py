"""Test settings: the real embedded PostgreSQL (or DATABASE_URL), fast password hashing, no throttling surprises."""

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK, env

DEBUG = False
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
# TEST_DB_NAME lets two test runs share one server without clashing (pytest-xdist adds a _gwN suffix per worker).
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DB_NAME", default="test_aistack")}
# Commits need not wait for the disk while tests run.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "100000/min", "user": "100000/min"}
# Tests choose their Redis explicitly (tests marked `redis`); by default the cache is local and Celery is eager.
CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache", "LOCATION": "aistack-test"}}
# Each test runs in one process, so the local cache is shared by everything it does: read caching is tested on.
READ_CACHE_ENABLED = True
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_RESULT_BACKEND = None
TEST_REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15")
RESOURCES_COUNTER_URL = ""  # the API-call meter counts in the process unless a test gives it Redis
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
