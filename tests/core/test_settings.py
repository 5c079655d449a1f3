"""Settings per environment: production passes ``check --deploy`` and refuses to start without its secrets."""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, BCryptSHA256PasswordHasher, PBKDF2PasswordHasher
from django.utils.module_loading import import_string

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

# Variables of the calling environment that would change what the subprocess sees.
_STRIPPED = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ENV",
    "REDIS_URL",
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "JWT_SIGNING_KEY",
}


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    env.update(
        DJANGO_SETTINGS_MODULE="aistack.settings",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(45),  # 60 characters
        DATABASE_URL="postgres://u:p@127.0.0.1:5432/db",
        ALLOWED_HOSTS="aistack.example.com",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_check() -> None:
    env = production_env()
    assert len(env["SECRET_KEY"]) == 60
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output


def test_deploy_check_fails_on_a_weak_secret_key() -> None:
    """The control for the test above: the check really runs and does fail at WARNING level."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(SECRET_KEY="short"))
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_start_without(missing: str, how: str) -> None:
    env = production_env(**{missing: None if how == "unset" else ""})
    result = manage("check", env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{missing} must be set in production" in output


def test_unknown_django_env_fails() -> None:
    result = manage("check", env=production_env(DJANGO_ENV="staging"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Unknown DJANGO_ENV 'staging'" in output


def test_production_settings_values() -> None:
    """The hardened values themselves, read from the settings module a production process gets."""
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS"
        ", s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'], s.USING_EMBEDDED_DB)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "['aistack.example.com']",
        "django_prometheus.db.backends.postgresql",
        "False",
    ]


def test_production_http_behaviour() -> None:
    """HTTPS redirect with probes exempted, HSTS and frame denial on HTTPS, JSON 400 for a foreign Host on the API."""
    code = """
import json, warnings
warnings.simplefilter("ignore")
import django
django.setup()
from django.test import Client
ours, evil = Client(HTTP_HOST="aistack.example.com"), Client(HTTP_HOST="evil.example.com")
out = {}
for path in ["/healthz", "/metrics", "/api/v1/", "/admin/"]:
    r = ours.get(path)
    out[path] = [r.status_code, r.get("Location")]
r = ours.get("/api/v1/", HTTP_X_FORWARDED_PROTO="https")
out["https"] = [r.status_code, r.get("Strict-Transport-Security"), r.get("X-Frame-Options")]
r = evil.get("/api/v1/")
out["evil"] = [r.status_code, r.json()["error"]["code"]]
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["/healthz"] == [200, None]
    assert out["/metrics"] == [200, None]  # exempt from the redirect; the test client is 127.0.0.1
    assert out["/api/v1/"] == [301, "https://aistack.example.com/api/v1/"]
    assert out["/admin/"] == [301, "https://aistack.example.com/admin/"]
    assert out["https"] == [200, "max-age=31536000; includeSubDomains; preload", "DENY"]
    assert out["evil"] == [400, "bad_request"]


def test_base_password_hashers() -> None:
    base = importlib.import_module("aistack.settings.base")
    hashers = [import_string(path) for path in base.PASSWORD_HASHERS]
    assert issubclass(hashers[0], Argon2PasswordHasher | PBKDF2PasswordHasher)
    assert BCryptSHA256PasswordHasher in hashers
    # the preferred hasher actually works in this environment (argon2-cffi installed when Argon2 comes first)
    preferred = hashers[0]()
    encoded = preferred.encode("correct horse", preferred.salt())
    assert preferred.verify("correct horse", encoded)
    assert not preferred.verify("wrong horse", encoded)


# --- .env.example documents the configuration ----------------------------------------------------------------------

_ENV_LINE = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
_ENV_READ = re.compile(
    r"""env(?:\.(?:str|int|bool|list|float|db|url|json))?\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|["']([A-Z][A-Z0-9_]*)["']\s+in\s+os\.environ"""
)
# Named in .env.example's text rather than as a KEY=value line: DJANGO_ENV is read from the process environment
# only, PROMETHEUS_MULTIPROC_DIR is set by the container's start command.
_MENTIONED_ONLY = {"DJANGO_ENV", "PROMETHEUS_MULTIPROC_DIR"}


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """(active KEY=value lines, commented-out example lines) of .env.example."""
    active: dict[str, str] = {}
    examples: dict[str, str] = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        match = _ENV_LINE.match(line)
        if match:
            (examples if match.group(1) else active)[match.group(2)] = match.group(3)
    return active, examples


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in ("aistack", "apps"):
        for source in (PROJECT_ROOT / folder).rglob("*.py"):
            for match in _ENV_READ.finditer(source.read_text()):
                names.add(next(group for group in match.groups() if group))
    return names


def test_env_example_lists_every_variable_the_code_reads() -> None:
    names = variables_read_by_the_code()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEY", "DJANGO_ENV"} <= names  # the scan works
    active, examples = env_example()
    listed = set(active) | set(examples)
    text = (PROJECT_ROOT / ".env.example").read_text()
    assert sorted(names - listed - _MENTIONED_ONLY) == []
    assert all(name in text for name in _MENTIONED_ONLY)
    assert {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"} <= listed


@pytest.mark.parametrize("which", ["active-lines", "every-example-value"])
def test_deploy_check_is_clean_with_the_documented_values(which: str) -> None:
    """``check --deploy`` with .env.example as an operator would use it: its active lines (plus the three required
    values), or with every commented-out example switched on as well."""
    active, examples = env_example()
    values = dict(active)
    if which == "every-example-value":
        values = {**examples, **active}
    values.update(
        SECRET_KEY=secrets.token_urlsafe(50),  # as .env.example says to generate it
        DATABASE_URL=values.get("DATABASE_URL") or "postgres://aistack:change-me@db.example.internal:5432/aistack",
    )
    env = production_env(**{name: value for name, value in values.items() if name not in _STRIPPED_FROM_EXAMPLE})
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output


# The test database name would only rename what the check never opens; DJANGO_ENV stays production.
_STRIPPED_FROM_EXAMPLE = {"TEST_DB_NAME", "DJANGO_ENV"}
