"""Each role against each platform endpoint: who gets in, who gets 403."""

import pytest

from apps.core.models import AuditLog

pytestmark = pytest.mark.django_db

ALL = {"admin", "manager", "user", "guest"}
# (method, path, data, roles allowed)
ENDPOINTS = [
    ("get", "/api/v1/auth/me/", None, ALL),
    ("get", "/api/v1/core/roles/", None, ALL),
    ("get", "/api/v1/core/api-keys/", None, ALL),
    ("post", "/api/v1/core/api-keys/", {"name": "k"}, ALL),
    ("get", "/api/v1/core/audit/", None, {"admin"}),
    ("get", "/api/v1/core/users/", None, {"admin"}),
    ("post", "/api/v1/core/users/", {"username": "made-by-test"}, {"admin"}),
]


@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize(("method", "path", "data", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_role_against_endpoint(role_client, role, method, path, data, allowed):
    response = getattr(role_client(role), method)(path, data, format="json")
    if role in allowed:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert AuditLog.objects.filter(action="permission_denied", path=path, actor_username=f"{role}-user").exists()


@pytest.mark.parametrize(("method", "path", "data", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_anonymous_gets_401(api_client, method, path, data, allowed):
    response = getattr(api_client, method)(path, data, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_root_lists_the_systems(api_client):
    body = api_client.get("/api/v1/").json()
    assert body["systems"]["core.audit"].endswith("/api/v1/core/audit/")
