"""One exception family for domain errors and one handler that gives every API error the same body:

{"error": {"code": "...", "message": "...", "details": ...}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)

_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a unique constraint violation


class ApplicationError(Exception):
    """A domain error raised by services; mapped to an HTTP status by the API exception handler."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details
        self.headers = headers or {}


class ValidationFailed(ApplicationError):
    default_code = "invalid"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"


class InteractiveLoginRequired(Forbidden):
    """Managing credentials or access (API keys, users, roles, object grants) was attempted with an API key."""

    default_code = "interactive_login_required"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class QuotaExceeded(ApplicationError):
    """Over a quota: 429, with ``Retry-After`` when it is known when the quota resets."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "quota_exceeded"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, retry_after: int | None = None
    ) -> None:
        super().__init__(
            message, code=code, details=details, headers={"Retry-After": str(retry_after)} if retry_after else None
        )


class Unavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


# Another body shape for the errors of a path prefix, for APIs that speak someone else's protocol (the OpenAI-
# compatible /v1/ registers its shape from the chat app). Used by responses made outside DRF (middleware, 404s);
# inside DRF such views reshape the body in their own exception handler.
ErrorShape = Callable[[int, str, str, Any], dict[str, Any]]
_error_shapes: dict[str, ErrorShape] = {}


def register_error_shape(prefix: str, shape: ErrorShape) -> None:
    """``shape(status, code, message, details)`` gives the body of errors answered outside DRF under ``prefix``."""
    _error_shapes[prefix] = shape


def error_response(status_code: int, code: str, message: str, details: Any = None, *, path: str = "") -> JsonResponse:
    """A plain Django JSON response with the error body, for code outside DRF (middleware, handlers); ``path``
    selects a registered body shape for its prefix."""
    for prefix, shape in _error_shapes.items():
        if path.startswith(prefix):
            return JsonResponse(shape(status_code, code, message, details), status=status_code)
    return JsonResponse(error_body(code, message, details), status=status_code)


def too_large_details(*, limit: int, size: int | None = None) -> dict[str, Any]:
    return {"limit": limit, "size": size}


def payload_too_large_message(limit: int) -> str:
    return gettext("The request body exceeds the limit of %(limit)s bytes.") % {"limit": limit}


def _first_code(codes: Any, fallback: str) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        for value in codes.values():
            return _first_code(value, fallback)
    if isinstance(codes, list) and codes:
        return _first_code(codes[0], fallback)
    return fallback


# Who records a refused request. The audit service sits above this module (services raise these exceptions), so it
# registers itself here from CoreConfig.ready() instead of being imported: a lower layer owns the hook, the higher
# one fills it.
DenialRecorder = Callable[..., Any]
_denial_recorders: list[DenialRecorder] = []


def register_denial_recorder(recorder: DenialRecorder) -> None:
    """Call ``recorder(request=..., reason=...)`` for every 403 the API exception handler answers."""
    if recorder not in _denial_recorders:
        _denial_recorders.append(recorder)


def _audit_denial(exc: Exception, context: dict[str, Any]) -> None:
    request = context.get("request")
    if request is None:
        return
    for recorder in _denial_recorders:
        recorder(request=request, reason=str(getattr(exc, "detail", exc)))


# Renderers that can show the error body; an endpoint that answers in another format (an SVG chart, a CSV export)
# still gives its errors as JSON.
_ERROR_RENDERER_FORMATS = ("json", "api")


def _render_errors_as_json(context: dict[str, Any]) -> None:
    request = context.get("request")
    if request is None:
        return
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None or getattr(renderer, "format", None) not in _ERROR_RENDERER_FORMATS:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF EXCEPTION_HANDLER: maps every exception to the error body (as JSON whatever format the endpoint answers
    in otherwise); denials are audited."""
    # rest_framework.views reads DEFAULT_AUTHENTICATION_CLASSES when imported, and apps.core.auth imports this module
    from rest_framework.views import exception_handler as drf_exception_handler

    _render_errors_as_json(context)

    if isinstance(exc, ApplicationError):
        if isinstance(exc, Forbidden):
            _audit_denial(exc, context)
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, ProtectedError | RestrictedError):
        # Deleting a record that others still point at: a conflict to resolve, not a server error.
        objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        blockers = sorted({f"{obj._meta.label_lower}:{obj.pk}" for obj in list(objects)[:50]})
        return Response(
            error_body(
                "in_use",
                gettext("The record is still referenced and cannot be deleted."),
                {"referenced_by": blockers},
            ),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError) and getattr(exc.__cause__, "sqlstate", None) == _UNIQUE_VIOLATION:
        # two requests saving the same unique value at once: both pass the serializer's check, one loses here
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        return Response(
            error_body("conflict", gettext("A record with these values already exists."), {"constraint": constraint}),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RequestDataTooBig):
        # a form or multipart text field over DATA_UPLOAD_MAX_MEMORY_SIZE, found while parsing
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body("payload_too_large", payload_too_large_message(limit), too_large_details(limit=limit)),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        # a form body with more parts than DATA_UPLOAD_MAX_NUMBER_FILES / DATA_UPLOAD_MAX_NUMBER_FIELDS allow
        return Response(
            error_body("too_many_parts", gettext("The request has too many files or form fields.")),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in API view", exc_info=exc)
        return Response(
            error_body("server_error", gettext("An unexpected error occurred; it has been logged.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    assert isinstance(exc, drf_exceptions.APIException)
    if isinstance(exc, drf_exceptions.PermissionDenied):
        _audit_denial(exc, context)
    if isinstance(exc, drf_exceptions.ValidationError):
        code = "invalid"
        message = gettext("Invalid input.")
        details: Any = exc.detail
    else:
        code = _first_code(exc.get_codes(), exc.default_code)
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else str(exc.default_detail)
        details = detail if isinstance(detail, (dict, list)) else None
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf_exceptions.Throttled) and wait is not None:
            details = {"retry_after_seconds": int(wait)}
    response.data = error_body(code, message, details)
    return response
