"""Each role against each platform endpoint: who gets in, who gets 403 (and the denial is audited)."""

import pytest

from apps.core.models import AuditLog
from apps.core.roles import ADMIN
from apps.core.testing import ROLE_NAMES, assert_anonymous_rejected, assert_role_access

pytestmark = pytest.mark.django_db

ALL = set(ROLE_NAMES)
# (method, path, data, roles allowed); data may depend on the role so that creates never collide
ENDPOINTS = [
    ("get", "/api/v1/auth/me/", None, ALL),
    ("get", "/api/v1/core/roles/", None, ALL),
    ("get", "/api/v1/core/api-keys/", None, ALL),
    ("post", "/api/v1/core/api-keys/", {"name": "k"}, ALL),
    ("get", "/api/v1/core/audit/", None, {ADMIN}),
    ("get", "/api/v1/core/users/", None, {ADMIN}),
    ("post", "/api/v1/core/users/", lambda role: {"username": f"made-by-{role}"}, {ADMIN}),
]
IDS = [f"{method} {path}" for method, path, _, _ in ENDPOINTS]


@pytest.mark.parametrize(("method", "path", "data", "allowed"), ENDPOINTS, ids=IDS)
def test_roles_against_endpoint(role_client, method, path, data, allowed):
    assert_role_access(role_client, method, path, allowed, data)
    for role in ALL - allowed:
        assert AuditLog.objects.filter(action="permission_denied", path=path, actor_username=f"{role}-user").exists()


@pytest.mark.parametrize(("method", "path", "data", "allowed"), ENDPOINTS, ids=IDS)
def test_anonymous_gets_401(method, path, data, allowed):
    assert_anonymous_rejected(method, path, data("anonymous") if callable(data) else data)


def test_api_root_lists_the_systems(api_client):
    body = api_client.get("/api/v1/").json()
    assert body["systems"]["core.audit"].endswith("/api/v1/core/audit/")
