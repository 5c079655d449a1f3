import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.crypto import sha256_hex
from apps.core.exceptions import ValidationFailed
from apps.core.models import ApiKey, AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.services import api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def key_client(secret: str, header: str = "bearer") -> APIClient:
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.credentials(HTTP_X_API_KEY=secret)
    return client


def test_create_returns_secret_once_and_stores_only_its_hash(role_client, role_users):
    response = role_client(USER).post("/api/v1/core/api-keys/", {"name": "open webui"}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    assert secret.startswith(body["prefix"] + "_") and body["owner"] == "user-user"

    key = ApiKey.objects.get(pk=body["id"])
    assert key.key_hash == sha256_hex(secret)
    with connection.cursor() as cursor:  # the secret appears nowhere in the table, in any column
        cursor.execute("SELECT * FROM core_apikey")
        assert not any(secret in str(value) for row in cursor.fetchall() for value in row)

    detail = role_client(USER).get(f"/api/v1/core/api-keys/{key.pk}/").json()
    assert "key" not in detail and "key_hash" not in detail


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_key_authenticates_as_its_owner(make_user, make_api_key, header):
    owner = make_user(role=MANAGER)
    key, secret = make_api_key(owner)
    response = key_client(secret, header).get("/api/v1/auth/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == owner.username and body["auth"] == "api_key"
    assert body["api_key"]["prefix"] == key.prefix
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_wrong_secret_with_valid_prefix_is_rejected_and_audited(make_user, make_api_key):
    _key, secret = make_api_key(make_user(role=USER))
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    response = key_client(forged).get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert AuditLog.objects.filter(action="auth_failed", outcome="failure").exists()


def test_expired_key_is_rejected(make_user, make_api_key):
    key, secret = make_api_key(make_user(role=USER), expires_at=timezone.now() + dt.timedelta(hours=1))
    assert key_client(secret).get("/api/v1/auth/me/").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = key_client(secret).get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert AuditLog.objects.filter(action="auth_failed", api_key=key, message="API key expired").exists()


def test_expiry_in_the_past_is_refused_at_creation(make_user):
    with pytest.raises(ValidationFailed):
        api_key_create(owner=make_user(), name="x", expires_at=timezone.now() - dt.timedelta(minutes=1))


def test_revoke_via_api_then_key_no_longer_works(make_user, make_api_key, client_for):
    owner = make_user(role=USER)
    key, secret = make_api_key(owner)
    response = client_for(owner).post(f"/api/v1/core/api-keys/{key.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None and response.json()["is_active"] is False
    assert key_client(secret).get("/api/v1/auth/me/").status_code == 401
    assert AuditLog.objects.filter(action="action", target_type="core.apikey", target_id=str(key.pk)).exists()


def test_inactive_owner_key_is_rejected(make_user, make_api_key):
    owner = make_user(role=USER)
    _, secret = make_api_key(owner)
    owner.is_active = False
    owner.save()
    assert key_client(secret).get("/api/v1/auth/me/").status_code == 401


def test_users_see_only_their_own_keys_and_auditors_see_all(role_users, make_api_key, role_client):
    _mine, _ = make_api_key(role_users[USER], name="mine")
    theirs, _ = make_api_key(role_users[MANAGER], name="theirs")

    listed = {k["name"] for k in role_client(USER).get("/api/v1/core/api-keys/").json()["results"]}
    assert listed == {"mine"}
    assert role_client(USER).get(f"/api/v1/core/api-keys/{theirs.pk}/").status_code == 404
    assert role_client(USER).post(f"/api/v1/core/api-keys/{theirs.pk}/revoke/").status_code == 404

    listed_by_admin = {k["name"] for k in role_client(ADMIN).get("/api/v1/core/api-keys/").json()["results"]}
    assert {"mine", "theirs"} <= listed_by_admin
    assert role_client(ADMIN).post(f"/api/v1/core/api-keys/{theirs.pk}/revoke/").status_code == 200


@pytest.mark.parametrize("role", [ADMIN, MANAGER, USER, GUEST])
def test_every_role_can_manage_own_keys(role_client, role):
    client = role_client(role)
    created = client.post("/api/v1/core/api-keys/", {"name": f"{role} script"}, format="json")
    assert created.status_code == 201
    assert client.get("/api/v1/core/api-keys/").json()["count"] == 1
    assert client.post(f"/api/v1/core/api-keys/{created.json()['id']}/revoke/").status_code == 200


def test_anonymous_cannot_list_keys(api_client):
    assert api_client.get("/api/v1/core/api-keys/").status_code == 401


def test_keys_cannot_be_edited_or_deleted_through_the_api(role_users, make_api_key, role_client):
    key, _ = make_api_key(role_users[USER])
    client = role_client(USER)
    assert client.patch(f"/api/v1/core/api-keys/{key.pk}/", {"name": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/core/api-keys/{key.pk}/").status_code == 405


def test_scopes_limit_the_key(make_user, make_api_key):
    owner = make_user(role=MANAGER)
    _, secret = make_api_key(owner, scopes=["chat.use"])
    me = key_client(secret).get("/api/v1/auth/me/").json()
    assert me["permissions"] == ["chat.use"]
    # the audit log needs core.audit, which the manager lacks anyway; roles list needs only authentication
    assert key_client(secret).get("/api/v1/core/roles/").status_code == 200


def test_scopes_must_be_held_by_the_owner(make_user):
    with pytest.raises(ValidationFailed) as exc:
        api_key_create(owner=make_user(role=GUEST), name="x", scopes=["chat.use"])
    assert exc.value.details == {"scopes": ["chat.use"]}


def test_unknown_scope_is_a_400(role_client):
    response = role_client(USER).post("/api/v1/core/api-keys/", {"name": "x", "scopes": ["erp.fly"]}, format="json")
    assert response.status_code == 400
    assert "scopes" in response.json()["error"]["details"]
    assert not ApiKey.objects.exists()


def test_scoped_key_is_denied_outside_its_scopes(make_user, make_api_key):
    owner = make_user(role=ADMIN)
    _, secret = make_api_key(owner, scopes=["chat.use"])
    response = key_client(secret).get("/api/v1/core/audit/")
    assert response.status_code == 403
    _, full = make_api_key(owner, name="full")
    assert key_client(full).get("/api/v1/core/audit/").status_code == 200


def test_service_authenticate_updates_last_used_at_most_once_a_minute(make_user, make_api_key):
    _key, secret = make_api_key(make_user())
    first = api_key_authenticate(raw_key=secret)
    stamp = first.last_used_at
    second = api_key_authenticate(raw_key=secret)
    assert second.last_used_at == stamp
    assert api_key_authenticate(raw_key="ask_nope_nope") is None
    assert api_key_authenticate(raw_key="not a key") is None


def test_revoke_is_idempotent(make_user, make_api_key):
    owner = make_user()
    key, _ = make_api_key(owner)
    api_key_revoke(key=key, actor=owner)
    first = key.revoked_at
    api_key_revoke(key=key, actor=owner)
    assert key.revoked_at == first
    assert AuditLog.objects.filter(message="API key revoked", target_id=str(key.pk)).count() == 1
