"""Credentials and access are managed by people: an API key can never create, list, read or revoke keys, manage users
or roles, or share objects. A key derived from another (service level only) can neither outlive nor outrank it. Every
key operation is audited with the credential that made it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.chat.models import Provider
from apps.core import context
from apps.core.exceptions import InteractiveLoginRequired, ValidationFailed
from apps.core.models import ApiKey, AuditLog
from apps.core.services import (
    api_key_create,
    api_key_revoke,
    object_share,
    object_unshare,
    user_create,
    user_set_roles,
    user_update,
)
from apps.stock.models import Portfolio

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/core/api-keys/"
USERS = "/api/v1/core/users/"
INTERACTIVE = "interactive_login_required"


def key_client(secret: str, header: str) -> APIClient:
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.credentials(HTTP_X_API_KEY=secret)
    return client


def refused(response: Any) -> None:
    assert response.status_code == 403, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] == INTERACTIVE and set(error) == {"code", "message", "details"}


@pytest.fixture(params=["x-api-key", "bearer"])
def header(request: Any) -> str:
    return str(request.param)


@pytest.fixture(params=[["chat.use"], []], ids=["scoped", "unscoped"])
def scopes(request: Any) -> list[str]:
    return list(request.param)


# --- The probe's finding, through the API ---------------------------------------------------------------------------


def test_a_key_cannot_create_a_key(make_user, make_api_key, header, scopes):
    owner = make_user(role="admin")
    _parent, secret = make_api_key(owner, scopes=scopes)
    response = key_client(secret, header).post(KEYS, {"name": "child", "scopes": ["chat.use"]}, format="json")
    refused(response)
    assert ApiKey.objects.filter(owner=owner).count() == 1


def test_a_key_cannot_list_read_or_revoke_keys(make_user, make_api_key, header, scopes):
    owner = make_user(role="admin")
    _key, secret = make_api_key(owner, scopes=scopes)
    other, other_secret = make_api_key(owner, name="other")
    client = key_client(secret, header)
    refused(client.get(KEYS))
    refused(client.get(f"{KEYS}{other.pk}/"))
    refused(client.post(f"{KEYS}{other.pk}/revoke/"))
    other.refresh_from_db()
    assert other.revoked_at is None
    assert key_client(other_secret, header).get("/api/v1/auth/me/").status_code == 200


def test_refusals_are_audited_with_the_key(make_user, make_api_key):
    owner = make_user(role="user")
    key, secret = make_api_key(owner, scopes=["chat.use"])
    refused(key_client(secret, "x-api-key").post(KEYS, {"name": "child"}, format="json"))
    denial = AuditLog.objects.get(action="permission_denied")
    assert (denial.api_key_id, denial.actor_id, denial.outcome) == (key.pk, owner.pk, "denied")


def test_a_person_with_a_jwt_still_manages_keys_and_the_credential_is_audited(make_user, client_for):
    owner = make_user(role="user")
    client = client_for(owner)
    created = client.post(KEYS, {"name": "mine"}, format="json")
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert client.get(KEYS).json()["count"] == 1
    assert client.post(f"{KEYS}{key_id}/revoke/").status_code == 200
    entries = AuditLog.objects.filter(target_type="core.apikey", target_id=str(key_id)).order_by("id")
    assert [(e.action, e.actor_id, e.api_key_id, e.changes["credential"]) for e in entries] == [
        ("create", owner.pk, None, "jwt"),
        ("action", owner.pk, None, "jwt"),
    ]


def test_a_session_login_manages_keys_and_is_audited_as_session(make_user):
    owner = make_user(role="user")
    browser = Client()
    browser.force_login(owner)
    created = browser.post(KEYS, {"name": "from the browser"}, content_type="application/json")
    assert created.status_code == 201
    entry = AuditLog.objects.get(target_type="core.apikey", action="create")
    assert entry.changes["credential"] == "session"


# --- Users, roles, grants, tokens -----------------------------------------------------------------------------------


def test_a_key_cannot_manage_users_even_with_core_audit(make_user, make_api_key, header):
    admin = make_user(role="admin")
    victim = make_user(role="user")
    _key, secret = make_api_key(admin, scopes=["core.audit"])
    client = key_client(secret, header)
    refused(client.get(USERS))
    refused(client.post(USERS, {"username": "sock-puppet", "roles": ["admin"]}, format="json"))
    refused(client.patch(f"{USERS}{victim.pk}/", {"roles": ["admin"]}, format="json"))
    refused(client.delete(f"{USERS}{victim.pk}/"))
    victim.refresh_from_db()
    assert victim.is_active and not victim.groups.filter(name="admin").exists()


def test_the_same_admin_with_a_jwt_manages_users(make_user, client_for):
    admin = make_user(role="admin")
    assert client_for(admin).get(USERS).status_code == 200


def test_a_key_may_read_roles_and_the_audit_log(make_user, make_api_key):
    """Decided: reading the role matrix and the audit log (a SIEM export) is not managing access."""
    _key, secret = make_api_key(make_user(role="admin"))
    client = key_client(secret, "x-api-key")
    assert client.get("/api/v1/core/roles/").status_code == 200
    assert client.get("/api/v1/core/audit/").status_code == 200


def test_a_key_cannot_share_a_portfolio(make_user, make_api_key, client_for):
    owner, friend = make_user(role="user"), make_user(role="user")
    portfolio = client_for(owner).post("/api/v1/stock/portfolios/", {"name": "p", "cash": "100.00"}, format="json")
    assert portfolio.status_code == 201, portfolio.content
    _key, secret = make_api_key(owner)
    url = f"/api/v1/stock/portfolios/{portfolio.json()['id']}/share/"
    refused(key_client(secret, "x-api-key").post(url, {"user_id": friend.pk}, format="json"))
    assert client_for(friend).get(f"/api/v1/stock/portfolios/{portfolio.json()['id']}/").status_code == 404
    assert client_for(owner).post(url, {"user_id": friend.pk}, format="json").status_code == 204


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/auth/refresh/"])
def test_a_key_is_not_a_credential_for_the_token_endpoints(make_user, make_api_key, path):
    """The token endpoints authenticate by password or refresh token only; an API key gets nothing there."""
    _key, secret = make_api_key(make_user(role="admin"))
    response = key_client(secret, "x-api-key").post(path, {}, format="json")
    assert response.status_code == 400
    assert "access" not in response.json()


# --- Service level --------------------------------------------------------------------------------------------------


@pytest.fixture
def in_key_request():
    """Run the body as if inside a request authenticated with ``key``."""

    def _enter(key: ApiKey) -> None:
        context.set_api_key_id(key.pk)

    yield _enter
    context.set_api_key_id(None)


def test_services_refuse_credential_management_inside_a_key_request(make_user, make_api_key, in_key_request):
    owner, other = make_user(role="admin"), make_user(role="user")
    key, _ = make_api_key(owner)
    victim, _ = make_api_key(owner, name="victim")
    portfolio = Portfolio.objects.create(owner=owner, name="p")
    in_key_request(key)
    attempts = [
        lambda: api_key_create(owner=owner, name="child"),
        lambda: api_key_revoke(key=victim, actor=owner),
        lambda: user_create(username="new", password=None, actor=owner),
        lambda: user_update(user=other, actor=owner, is_active=False),
        lambda: user_set_roles(user=other, roles=["admin"], actor=owner),
        lambda: object_share(obj=portfolio, to=other, actor=owner),
        lambda: object_unshare(obj=portfolio, to=other, actor=owner),
    ]
    for attempt in attempts:
        with pytest.raises(InteractiveLoginRequired):
            attempt()
    assert ApiKey.objects.filter(owner=owner).count() == 2
    victim.refresh_from_db()
    assert victim.revoked_at is None


def _in(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def test_a_derived_key_cannot_outlive_its_parent(make_user, make_api_key, in_key_request):
    owner = make_user(role="admin")
    parent, _ = make_api_key(owner, scopes=["chat.use"], expires_at=_in(1))
    in_key_request(parent)
    for expires_at in (None, _in(2)):
        with pytest.raises(ValidationFailed) as caught:
            api_key_create(owner=owner, name="child", parent=parent, expires_at=expires_at)
        assert caught.value.code == "invalid_expiry"
    child, _ = api_key_create(owner=owner, name="child", parent=parent, expires_at=_in(0.5))
    assert child.expires_at <= parent.expires_at
    assert child.scopes == ["chat.use"]  # inherited, never widened to the owner's full set


def test_a_derived_key_cannot_outrank_its_parent(make_user, make_api_key, in_key_request):
    owner = make_user(role="admin")
    parent, _ = make_api_key(owner, scopes=["chat.use"])
    in_key_request(parent)
    with pytest.raises(ValidationFailed) as caught:
        api_key_create(owner=owner, name="child", parent=parent, scopes=["chat.use", "core.audit"])
    assert caught.value.code == "invalid_scope" and caught.value.details == {"scopes": ["core.audit"]}


def test_a_derived_key_needs_a_usable_parent_of_the_same_owner(make_user, make_api_key):
    owner, stranger = make_user(role="admin"), make_user(role="admin")
    parent, _ = make_api_key(owner)
    with pytest.raises(ValidationFailed) as caught:
        api_key_create(owner=stranger, name="child", parent=parent)
    assert caught.value.code == "invalid_parent"
    api_key_revoke(key=parent, actor=owner)
    with pytest.raises(ValidationFailed) as caught:
        api_key_create(owner=owner, name="child", parent=parent)
    assert caught.value.code == "invalid_parent"


def test_derivation_is_audited_with_the_parent(make_user, make_api_key, in_key_request):
    owner = make_user(role="user")
    parent, _ = make_api_key(owner, scopes=["chat.use"])
    in_key_request(parent)
    child, _ = api_key_create(owner=owner, name="child", parent=parent)
    entry = AuditLog.objects.get(target_type="core.apikey", target_id=str(child.pk), action="create")
    assert entry.api_key_id == parent.pk
    assert entry.changes["parent"] == [None, parent.prefix]
    assert entry.changes["credential"] == f"api_key:{parent.pk}"


def test_a_key_reads_llm_providers_but_cannot_change_their_credentials(make_user, make_api_key):
    """Decided: an upstream's URL and API key are credentials; a key with resources.manage may list providers (no
    secret is ever shown) but changing one needs a person signed in."""
    manager = make_user(role="manager")
    _key, secret = make_api_key(manager)
    client = key_client(secret, "x-api-key")
    assert client.get("/api/v1/chat/providers/").status_code == 200
    body = {"name": "evil", "kind": "openai-compatible", "base_url": "https://attacker.example/v1", "api_key": "x"}
    refused(client.post("/api/v1/chat/providers/", body, format="json"))
    provider = Provider.objects.create(name="ours", kind="openai-compatible", base_url="http://127.0.0.1:9/v1").pk
    refused(client.patch(f"/api/v1/chat/providers/{provider}/", {"base_url": "https://x.example/v1"}, format="json"))
    refused(client.delete(f"/api/v1/chat/providers/{provider}/"))
    assert Provider.objects.get(pk=provider).base_url == "http://127.0.0.1:9/v1"
    assert not Provider.objects.filter(name="evil").exists()
