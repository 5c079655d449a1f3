"""Bad input gets the error body ``{"error": {"code", "message", "details"}}`` with a 4xx status, never a 500."""

from __future__ import annotations

import re
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.models import ApiKey
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

API_KEYS = "/api/v1/core/api-keys/"
ME = "/api/v1/auth/me/"
TOKEN = "/api/v1/auth/token/"


def error_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert ``response`` has ``status`` and our error body (with ``code`` when given); return the error."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


# --- Malformed and invalid input ------------------------------------------------------------------------------------


def test_malformed_json_is_a_parse_error(api_client) -> None:
    response = api_client.post(TOKEN, data='{"username": "a", "password":', content_type="application/json")
    error_of(response, 400, "parse_error")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        pytest.param(b"\xff\xfe\x00", "application/json", 400, "parse_error", id="not-utf8"),
        pytest.param(b"NaN", "application/json", 400, "parse_error", id="nan"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "parse_error", id="deep-array"),
        pytest.param(
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json", 400, "parse_error", id="deep-object"
        ),
        pytest.param(b"<a>b</a>", "application/xml", 415, "unsupported_media_type", id="xml"),
        pytest.param(b"--x\r\nbroken", "multipart/form-data", 400, "parse_error", id="multipart-no-boundary"),
    ],
)
def test_unparseable_bodies(body, content_type, status, code) -> None:
    """Well under the body-size limit, but unparseable: a 4xx with our body, not a 500."""
    client = APIClient(raise_request_exception=False)
    response = client.generic("POST", TOKEN, body, content_type=content_type)
    error_of(response, status, code)


@pytest.fixture
def user_client(role_client):
    return role_client(USER)


def test_unknown_field_is_rejected_by_name(user_client) -> None:
    response = user_client.post(API_KEYS, {"name": "x", "bogus": 1}, format="json")
    error = error_of(response, 400, "invalid")
    assert set(error["details"]) == {"bogus"}
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"name": "x", "scopes": "chat.use"}, "scopes", id="scopes-not-a-list"),
        pytest.param({"name": "x", "scopes": ["no.such"]}, "scopes", id="unknown-scope"),
        pytest.param({"name": ""}, "name", id="blank-name"),
        pytest.param({"name": "   "}, "name", id="whitespace-name"),
        pytest.param({"name": None}, "name", id="null-name"),
        pytest.param({}, "name", id="missing-name"),
        pytest.param({"name": ["x"]}, "name", id="name-not-a-string"),
        pytest.param({"name": "x" * 101}, "name", id="name-too-long"),
        pytest.param({"name": "x", "expires_at": "tomorrow"}, "expires_at", id="bad-datetime"),
        pytest.param({"name": "x", "expires_at": 12}, "expires_at", id="datetime-wrong-type"),
        pytest.param({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at", id="expiry-in-the-past"),
        pytest.param({"name": "x", "scopes": None}, "scopes", id="null-scopes"),
        pytest.param({"name": "a\x00b"}, "name", id="null-character"),
    ],
)
def test_invalid_api_key_payload(user_client, payload, field) -> None:
    response = user_client.post(API_KEYS, payload, format="json")
    error = error_of(response, 400, "invalid")
    assert field in error["details"], error
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize("raw", ["[1, 2]", '"just a string"', "null", "42"], ids=["list", "string", "null", "number"])
def test_json_that_is_not_an_object_is_rejected(user_client, raw) -> None:
    response = user_client.post(API_KEYS, data=raw, content_type="application/json")
    error_of(response, 400)
    assert ApiKey.objects.count() == 0


def test_scope_the_owner_does_not_hold_is_rejected(user_client) -> None:
    response = user_client.post(API_KEYS, {"name": "x", "scopes": ["core.audit"]}, format="json")
    error = error_of(response, 400, "invalid_scope")
    assert error["details"] == {"scopes": ["core.audit"]}
    assert ApiKey.objects.count() == 0


def test_valid_payload_is_accepted(user_client) -> None:
    """The control for the cases above: the same endpoint does create a key from good input."""
    response = user_client.post(API_KEYS, {"name": "x", "scopes": ["chat.use"]}, format="json")
    assert response.status_code == 201, response.content
    assert ApiKey.objects.get().scopes == ["chat.use"]


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        pytest.param("/api/v1/auth/token/", {"username": ["a"], "password": {}}, 400, "invalid", id="token-types"),
        pytest.param("/api/v1/auth/token/", {"username": "x"}, 400, "invalid", id="token-no-password"),
        pytest.param("/api/v1/auth/refresh/", {"refresh": "garbage"}, 401, "token_not_valid", id="refresh-garbage"),
        pytest.param("/api/v1/auth/refresh/", {}, 400, "invalid", id="refresh-missing"),
        pytest.param("/api/v1/auth/logout/", {"refresh": "garbage"}, 400, "token_not_valid", id="logout-garbage"),
        pytest.param("/api/v1/auth/logout/", {"refresh": "x", "extra": 1}, 400, "invalid", id="logout-unknown-field"),
    ],
)
def test_bad_auth_payloads(api_client, path, payload, status, code) -> None:
    error_of(api_client.post(path, payload, format="json"), status, code)


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("since=garbage", 400, "since"),
        ("since=2024-13-45T99:00:00", 400, "since"),
        ("actor_id=abc", 400, "actor_id"),
        ("action=bogus", 400, "action"),
        ("q=%00", 400, "q"),
        ("page=abc", 404, None),
        ("page=999", 404, None),
    ],
)
def test_bad_list_parameters(role_client, query, status, field) -> None:
    response = role_client(ADMIN).get(f"/api/v1/core/audit/?{query}")
    error = error_of(response, status)
    if field is not None:
        assert field in error["details"]


# --- Body size ------------------------------------------------------------------------------------------------------


def test_oversized_body_is_refused(user_client, settings) -> None:
    settings.AISTACK_MAX_BODY_BYTES = 64
    response = user_client.post(API_KEYS, {"name": "x" * 100}, format="json")
    error = error_of(response, 413, "payload_too_large")
    assert error["details"]["limit"] == 64
    assert error["details"]["size"] > 64
    assert ApiKey.objects.count() == 0


def test_body_under_the_limit_passes(user_client, settings) -> None:
    settings.AISTACK_MAX_BODY_BYTES = 64
    response = user_client.post(API_KEYS, {"name": "small"}, format="json")
    assert response.status_code == 201


def test_non_numeric_content_length_is_a_bad_request(user_client) -> None:
    response = user_client.post(API_KEYS, {"name": "x"}, format="json", CONTENT_LENGTH="lots")
    error_of(response, 400, "bad_request")


# --- Authentication -------------------------------------------------------------------------------------------------


def _jwt_with_key(user: Any, key: str) -> str:
    payload = dict(RefreshToken.for_user(user).access_token.payload)
    return jwt.encode(payload, key, algorithm=django_settings.SIMPLE_JWT["ALGORITHM"])


def test_jwt_signed_with_our_key_is_accepted(api_client, make_user) -> None:
    """The control for the forgeries below: the same claims, correctly signed, authenticate."""
    user = make_user(GUEST)
    token = _jwt_with_key(user, django_settings.SIMPLE_JWT["SIGNING_KEY"])
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


@pytest.mark.parametrize("forgery", ["random", "other-key", "tampered"])
def test_forged_jwt_is_refused(api_client, make_user, forgery) -> None:
    user = make_user(GUEST)
    if forgery == "random":
        token = "not-a-jwt-at-all.abc.def"
    elif forgery == "other-key":
        token = _jwt_with_key(user, "a-completely-different-signing-key-0123456789")
    else:
        header, payload, signature = str(RefreshToken.for_user(user).access_token).split(".")
        token = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
    error_of(response, 401)
    assert response.has_header("WWW-Authenticate")


def test_unknown_api_key_is_refused(api_client) -> None:
    response = api_client.get(ME, HTTP_X_API_KEY="ask_abcdefgh_" + "x" * 43)
    error_of(response, 401, "invalid_api_key")


def test_anonymous_request_to_protected_endpoint(api_client) -> None:
    response = api_client.get(API_KEYS)
    error_of(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- Routing --------------------------------------------------------------------------------------------------------


def test_unknown_api_path_is_a_json_404(api_client, settings) -> None:
    settings.DEBUG = False
    response = api_client.get("/api/v1/no-such-system/things/")
    error = error_of(response, 404, "not_found")
    assert "/api/v1/no-such-system/things/" in error["message"]


def test_missing_object_is_a_json_404(user_client) -> None:
    response = user_client.get(f"{API_KEYS}999999/")
    error_of(response, 404, "not_found")


def test_method_not_allowed(api_client, user_client) -> None:
    error_of(api_client.delete(TOKEN), 405, "method_not_allowed")
    response = user_client.put(ME, {}, format="json")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


# --- Throttling -----------------------------------------------------------------------------------------------------


def test_throttled_client_gets_429_with_retry_after(user_client, monkeypatch) -> None:
    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/min"})
    try:
        assert user_client.get(ME).status_code == 200
        assert user_client.get(ME).status_code == 200
        response = user_client.get(ME)
        error = error_of(response, 429, "throttled")
        retry = error["details"]["retry_after_seconds"]
        assert isinstance(retry, int)
        assert 0 < retry <= 60
        assert int(response["Retry-After"]) == retry
    finally:
        cache.clear()


# --- Request id -----------------------------------------------------------------------------------------------------


def test_every_response_carries_a_request_id(api_client) -> None:
    ids = set()
    for path in ["/healthz", ME, "/api/v1/nowhere/"]:
        response = api_client.get(path)
        assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"]), response["X-Request-ID"]
        ids.add(response["X-Request-ID"])
    assert len(ids) == 3  # one fresh id per request


@pytest.mark.parametrize("incoming", ["abc-123", "x" * 64, "trace:1.2_3"])
def test_sane_incoming_request_id_is_echoed(api_client, incoming) -> None:
    response = api_client.get(ME, HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["x" * 200, "x" * 65, "has spaces in it", "semi;colon", "<script>", "", "abc-123\n"],
    ids=["long", "65-chars", "spaces", "semi", "html", "empty", "trailing-newline"],
)
def test_insane_incoming_request_id_is_replaced(api_client, incoming) -> None:
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    echoed = response["X-Request-ID"]
    assert echoed != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


# --- Errors of endpoints that answer in other formats ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "accept", "status", "code"),
    [
        ("/api/v1/erp/reports/trial-balance/?format=csv", "text/csv", 403, "permission_denied"),
        ("/api/v1/erp/reports/sales/?format=csv&date_from=not-a-date", "text/csv", 400, "invalid"),
        ("/api/v1/stock/backtests/1/chart/", "image/svg+xml", 404, "not_found"),
    ],
    ids=["csv-denied", "csv-invalid-query", "svg-missing"],
)
def test_errors_of_csv_and_svg_endpoints_are_json(role_client, path, accept, status, code) -> None:
    """A CSV export or an SVG chart still reports a refusal, bad input or a missing object with the JSON error
    body."""
    error_of(role_client(GUEST).get(path, HTTP_ACCEPT=accept), status, code)


def test_csv_export_still_answers_in_csv(role_client) -> None:
    """The control for the test above: a successful export keeps its own format."""
    response = role_client(MANAGER).get("/api/v1/erp/reports/trial-balance/?format=csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_unique_violation_that_slips_past_validation_is_a_409(db) -> None:
    """Two requests saving the same unique value at once both pass the serializer; the loser gets a conflict."""
    from django.contrib.auth.models import Group
    from django.db import IntegrityError, transaction

    from apps.core.exceptions import api_exception_handler

    Group.objects.create(name="taken")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Group.objects.create(name="taken")
    response = api_exception_handler(caught.value, {})
    assert response.status_code == 409
    assert response.data["error"]["code"] == "conflict"
    assert response.data["error"]["details"] == {"constraint": "auth_group_name_key"}
    assert Group.objects.filter(name="taken").count() == 1
