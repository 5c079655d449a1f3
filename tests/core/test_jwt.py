import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER

PASSWORD = "pass-word-123"
pytestmark = pytest.mark.django_db


def obtain(client: APIClient, username: str, password: str = PASSWORD, **extra):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json", **extra)


def test_obtain_returns_access_and_refresh_and_audits_login(api_client, make_user):
    user = make_user(role=USER)
    response = obtain(api_client, user.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert AccessToken(body["access"])["user_id"] == str(user.pk)
    entry = AuditLog.objects.filter(action="login", actor=user).get()
    assert entry.outcome == "success" and entry.ip_address == "127.0.0.1" and entry.source == "api"
    user.refresh_from_db()
    assert user.last_login is not None


def test_access_token_lifetime_is_fifteen_minutes(api_client, make_user):
    user = make_user()
    access = AccessToken(obtain(api_client, user.username).json()["access"])
    assert access["exp"] - access["iat"] == 15 * 60


def test_wrong_password_is_401_with_error_body_and_audited(api_client, make_user):
    user = make_user()
    response = obtain(api_client, user.username, "wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"
    entry = AuditLog.objects.get(action="login_failed")
    assert entry.actor_username == user.username and entry.outcome == "failure"


def test_me_reports_roles_and_effective_permissions(role_client):
    body = role_client(MANAGER).get("/api/v1/auth/me/").json()
    assert body["username"] == "manager-user"
    assert body["roles"] == [MANAGER]
    assert "erp.approve" in body["permissions"] and "core.audit" not in body["permissions"]
    assert body["auth"] == "jwt"


def test_me_requires_authentication(api_client):
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_refresh_rotates_and_blacklists_the_old_token(api_client, make_user):
    user = make_user()
    first = obtain(api_client, user.username).json()["refresh"]
    response = api_client.post("/api/v1/auth/refresh/", {"refresh": first}, format="json")
    assert response.status_code == 200
    second = response.json()["refresh"]
    assert second != first and "access" in response.json()
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(second, verify=False)["jti"]).count() == 0

    reuse = api_client.post("/api/v1/auth/refresh/", {"refresh": first}, format="json")
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "token_not_valid"
    assert api_client.post("/api/v1/auth/refresh/", {"refresh": second}, format="json").status_code == 200


def test_logout_blacklists_refresh_token(api_client, make_user):
    user = make_user()
    refresh = obtain(api_client, user.username).json()["refresh"]
    response = api_client.post("/api/v1/auth/logout/", {"refresh": refresh}, format="json")
    assert response.status_code == 204
    assert api_client.post("/api/v1/auth/refresh/", {"refresh": refresh}, format="json").status_code == 401
    assert AuditLog.objects.filter(action="logout", actor=user).exists()
    again = api_client.post("/api/v1/auth/logout/", {"refresh": refresh}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "token_not_valid"


def test_expired_access_token_is_rejected(api_client, make_user):
    user = make_user(role=ADMIN)
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-dt.timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_expired_refresh_token_is_rejected(api_client, make_user):
    token = RefreshToken.for_user(make_user())
    token.set_exp(lifetime=-dt.timedelta(seconds=1))
    response = api_client.post("/api/v1/auth/refresh/", {"refresh": str(token)}, format="json")
    assert response.status_code == 401


def test_inactive_user_cannot_log_in(api_client, make_user):
    user = make_user(is_active=False)
    assert obtain(api_client, user.username).status_code == 401


def test_repeated_failures_lock_out_username_and_address(api_client, make_user, settings):
    user = make_user()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert obtain(api_client, user.username, "wrong").status_code == 401
    assert obtain(api_client, user.username, "wrong").status_code == 429  # the failure that reaches the limit
    locked = obtain(api_client, user.username)  # even the right password is refused now
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    # another address is not locked out for the same user
    assert obtain(api_client, user.username, REMOTE_ADDR="10.9.8.7").status_code == 200
    assert AuditLog.objects.filter(action="login_failed", outcome="denied").exists()


def test_successful_login_resets_failure_count(api_client, make_user, settings):
    user = make_user()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        obtain(api_client, user.username, "wrong")
    assert obtain(api_client, user.username).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        obtain(api_client, user.username, "wrong")
    assert obtain(api_client, user.username).status_code == 200


def test_admin_login_failure_and_success_are_audited(client, make_user):
    user = make_user(is_staff=True)
    client.post("/admin/login/", {"username": user.username, "password": "nope"})
    assert AuditLog.objects.filter(action="login_failed", actor_username=user.username, source="admin").exists()
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="login", actor=user, source="admin").exists()


def test_session_auth_works_for_the_browsable_api(client, make_user):
    user = make_user(role=GUEST)
    client.force_login(user)
    response = client.get("/api/v1/auth/me/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["auth"] == "session"
    assert get_user_model().objects.get(pk=user.pk).username == response.json()["username"]
