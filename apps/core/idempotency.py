"""Idempotency keys for any POST: the first response is stored with the key, in the same transaction as the write;
a repeat with the same key and the same body replays it and writes nothing; the same key with another body is a 409.

Use it from a view or an ``@action``::

    return idempotent_call(request=request, scope=request.path, handler=lambda: self._create(request))

or mix :class:`IdempotentCreateMixin` into a viewset (its ``create`` becomes idempotent) and wrap actions with
``self.run_idempotently(request, handler)``. Concurrent duplicates are serialised by the unique index on
(user, scope, key): the second insert waits for the first transaction and then replays its response.
Keys are kept ``IDEMPOTENCY_KEY_HOURS`` (alias: ``ERP_IDEMPOTENCY_KEY_HOURS``) and purged by the
``core.purge_idempotency_keys`` beat task.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from .exceptions import Conflict, ValidationFailed
from .models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Repeat a POST safely: a repeated key with the same body returns the first response and writes nothing "
    "new; the same key with another body is refused with 409.",
)


def key_hours() -> int:
    """How long a stored key (and the response it replays) is kept. ``ERP_IDEMPOTENCY_KEY_HOURS``, the setting's
    earlier name, still works: when it is set it wins."""
    alias = getattr(settings, "ERP_IDEMPOTENCY_KEY_HOURS", None)
    if alias is not None:
        return int(alias)
    return int(getattr(settings, "IDEMPOTENCY_KEY_HOURS", 48))


def request_fingerprint(data: Any) -> str:
    """SHA-256 of the request body (parsed data, keys sorted), so the same JSON written differently still matches."""
    if hasattr(data, "lists"):  # a QueryDict (form or multipart): every value of every field
        data = {key: values for key, values in data.lists()}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _replay(record: IdempotencyKey, digest: str) -> Response:
    if record.request_hash != digest:
        raise Conflict(
            gettext("This Idempotency-Key was used with a different request body."), code="idempotency_key_reused"
        )
    if record.response_status is None:
        raise Conflict(
            gettext("A request with this Idempotency-Key is still in progress."), code="idempotency_in_progress"
        )
    response = Response(record.response_body, status=record.response_status)
    response[REPLAY_HEADER] = "true"
    return response


class _Failed(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def idempotent_call(*, request: Any, scope: str, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` once per (user, ``scope``, Idempotency-Key). Without the header (or for an anonymous caller)
    it just runs. Error responses (4xx/5xx) are not remembered: the client may fix the request and retry with the key.
    A ``Location`` header of the first response is replayed too."""
    key = request.META.get(HEADER, "").strip()
    user = getattr(request, "user", None)
    if not key or user is None or not user.is_authenticated:
        return handler()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            gettext("Idempotency-Key is at most %(length)s characters.") % {"length": MAX_KEY_LENGTH},
            code="invalid_idempotency_key",
        )
    digest = request_fingerprint(request.data)
    existing = IdempotencyKey.objects.filter(user=user, scope=scope, key=key).first()
    if existing is not None:
        return _with_location(_replay(existing, digest), existing)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user=user, scope=scope, key=key, request_hash=digest)
            response = handler()
            if response.status_code >= 400:
                raise _Failed(response)
            record.response_status = response.status_code
            body = json.loads(json.dumps(response.data, default=str))
            if response.has_header("Location"):
                body = {"__location__": response["Location"], "__body__": body}
            record.response_body = body
            record.save(update_fields=["response_status", "response_body"])
            return response
    except _Failed as failed:
        return failed.response
    except IntegrityError:
        # a concurrent request with the same key committed first (this insert waited on its unique index entry)
        record = IdempotencyKey.objects.get(user=user, scope=scope, key=key)
        return _with_location(_replay(record, digest), record)


def _with_location(response: Response, record: IdempotencyKey) -> Response:
    body = record.response_body
    if isinstance(body, dict) and set(body) == {"__location__", "__body__"}:
        response.data = body["__body__"]
        response["Location"] = body["__location__"]
    return response


def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Delete stored keys older than ``key_hours()`` (a retry after that is a new request, as with the payment APIs
    that popularised the header); returns how many were removed."""
    hours = key_hours() if older_than_hours is None else older_than_hours
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted


class IdempotentCreateMixin:
    """For a viewset: ``create`` honours an Idempotency-Key (scope: the request path); ``run_idempotently`` does the
    same for an ``@action``. Set ``idempotent_create = False`` to opt a viewset out."""

    idempotent_create: bool = True

    def idempotency_scope(self, request: Any) -> str:
        return str(request.path)

    def run_idempotently(self, request: Any, handler: Callable[[], Response]) -> Response:
        return idempotent_call(request=request, scope=self.idempotency_scope(request), handler=handler)

    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        def handler() -> Response:
            return super(IdempotentCreateMixin, self).create(request, *args, **kwargs)  # type: ignore[misc,no-any-return]

        if not self.idempotent_create:
            return handler()
        return self.run_idempotently(request, handler)
