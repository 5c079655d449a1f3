"""Per-request context (request id, client address, source) for logs and audit entries."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from .choices import AuditSource

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    method: str = ""
    path: str = ""
    source: str = AuditSource.SYSTEM


_current: ContextVar[RequestContext | None] = ContextVar("aistack_request_context", default=None)
# The API key that authenticated the current request, so every audit entry written while serving it names the key.
_api_key_id: ContextVar[int | None] = ContextVar("aistack_api_key_id", default=None)


def current() -> RequestContext:
    return _current.get() or RequestContext()


def client_ip(request: HttpRequest) -> str | None:
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def source_for_path(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditSource.ADMIN
    if path.startswith(("/api/", "/v1/")):
        return AuditSource.API
    return AuditSource.SYSTEM


def begin(request: HttpRequest) -> RequestContext:
    """Build the context for ``request`` and make it current."""
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
    ctx = RequestContext(
        request_id=request_id,
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        method=request.method or "",
        path=request.path[:500],
        source=source_for_path(request.path),
    )
    _current.set(ctx)
    _api_key_id.set(None)
    return ctx


def clear() -> None:
    _current.set(None)
    _api_key_id.set(None)


def set_api_key_id(key_id: int | None) -> None:
    _api_key_id.set(key_id)


def current_api_key_id() -> int | None:
    return _api_key_id.get()


def is_api_path(path: str) -> bool:
    return source_for_path(path) == AuditSource.API


# --- Celery: a task runs under the request id of the request that enqueued it ---------------------------------------

TASK_REQUEST_ID_HEADER = "aistack_request_id"


def _task_headers_add_request_id(headers: dict[str, object] | None = None, **kwargs: object) -> None:
    """before_task_publish: carry the current request id in the task message."""
    request_id = current().request_id
    if headers is not None and request_id:
        headers.setdefault(TASK_REQUEST_ID_HEADER, request_id)


def _task_context_begin(task: object = None, **kwargs: object) -> None:
    """task_prerun: log lines and audit entries of the task carry the enqueuing request's id (or the task id).
    A task run eagerly inside a request keeps that request's context untouched."""
    if _current.get() is not None or task is None:
        return
    task_request = getattr(task, "request", None)
    request_id = str(getattr(task_request, TASK_REQUEST_ID_HEADER, None) or getattr(task_request, "id", "") or "")
    _current.set(RequestContext(request_id=request_id[:64], source=AuditSource.SYSTEM))
    task_request.aistack_context_owner = True  # type: ignore[union-attr]


def _task_context_end(task: object = None, **kwargs: object) -> None:
    """task_postrun: forget the context that task_prerun set (never a request's)."""
    task_request = getattr(task, "request", None)
    if getattr(task_request, "aistack_context_owner", False):
        task_request.aistack_context_owner = False  # type: ignore[union-attr]
        clear()


def connect_task_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_task_headers_add_request_id, dispatch_uid="core.task_request_id")
    task_prerun.connect(_task_context_begin, dispatch_uid="core.task_context_begin")
    task_postrun.connect(_task_context_end, dispatch_uid="core.task_context_end")
