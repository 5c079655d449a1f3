"""Authentication: API keys for machines (alongside simplejwt's JWT and Django sessions), and the lock-out reply."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token

from . import caching, context
from .backends import with_permissions
from .exceptions import error_response
from .models import ApiKey
from .services import api_key_authenticate


def _raw_key(request: Request) -> str | None:
    header: str | None = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    parts = get_authorization_header(request).split()
    if len(parts) == 2 and parts[0].lower() == b"bearer":
        token: str = parts[1].decode("latin-1")
        if token.startswith(f"{settings.API_KEY_PREFIX}_"):
            return token
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (keys start with ``ask_``; other bearer tokens are
    left to the JWT authenticator)."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        raw = _raw_key(request)
        if raw is None:
            return None
        key = api_key_authenticate(raw_key=raw)
        if key is None:
            raise exceptions.AuthenticationFailed(
                gettext("Invalid, expired or revoked API key."), code="invalid_api_key"
            )
        context.set_api_key_id(key.pk)
        return key.owner, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class CachedJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication with the user row and its permissions cached until any user or permission
    changes (a deactivated user is refused on the next request)."""

    def get_user(self, validated_token: Token) -> Any:
        try:
            user_id = validated_token[jwt_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        field = jwt_settings.USER_ID_FIELD
        user = caching.cached(
            f"jwtuser:{user_id}",
            [caching.AUTH],
            lambda: with_permissions(self.user_model.objects.filter(**{field: user_id}).first()),
        )
        if user is None:
            raise exceptions.AuthenticationFailed(gettext("User not found"), code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed(gettext("User is inactive"), code="user_inactive")
        if jwt_settings.CHECK_REVOKE_TOKEN:  # pragma: no cover - not enabled in our settings
            return super().get_user(validated_token)
        return user


class CachedJWTAuthenticationScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    target_class = "apps.core.auth.CachedJWTAuthentication"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "apps.core.auth.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes lock-out reply: our JSON error body with 429 (the admin login page shows the same message)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return error_response(
        429,
        "locked_out",
        gettext("Too many failed logins for this account from this address; try again in %(minutes)s minutes.")
        % {"minutes": minutes},
        {"retry_after_seconds": minutes * 60},
    )
