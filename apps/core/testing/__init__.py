"""Helpers for the API tests of every app (imported by tests, never by application code)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework.test import APIClient

from apps.core.roles import ROLES

ROLE_NAMES: tuple[str, ...] = tuple(ROLES)
OK_STATUSES = (200, 201, 202, 204)


def assert_error_body(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response has ``status`` and the suite's error body (optionally with ``code``); returns the error."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def assert_role_access(
    role_client: Callable[[str], APIClient],
    method: str,
    path: str,
    allowed: Iterable[str],
    data: Any = None,
    ok: Iterable[int] = OK_STATUSES,
) -> None:
    """Every role in ``allowed`` gets a success status; every other role gets 403 with the error body.

    ``data`` may be a callable taking the role name, for payloads that must be unique per call."""
    allowed = set(allowed)
    unknown = allowed - set(ROLE_NAMES)
    assert not unknown, f"unknown roles {unknown}"
    for role in ROLE_NAMES:
        payload = data(role) if callable(data) else data
        response = getattr(role_client(role), method.lower())(path, payload, format="json")
        if role in allowed:
            assert response.status_code in set(ok), (role, method, path, response.status_code, response.content[:500])
        else:
            assert_error_body(response, 403, "permission_denied")


def assert_anonymous_rejected(method: str, path: str, data: Any = None) -> None:
    response = getattr(APIClient(), method.lower())(path, data, format="json")
    assert_error_body(response, 401, "not_authenticated")
