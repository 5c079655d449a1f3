"""Idempotency-Key handling for create endpoints: the first response is stored with the key (in the same transaction
as the write); a repeat with the same key replays it and writes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from apps.core.exceptions import Conflict, ValidationFailed

from .. import conf
from ..models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"


def _request_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _replay(record: IdempotencyKey, digest: str) -> Response:
    if record.request_hash != digest:
        raise Conflict("This Idempotency-Key was used with a different request body.", code="idempotency_key_reused")
    if record.response_status is None:
        raise Conflict("A request with this Idempotency-Key is still in progress.", code="idempotency_in_progress")
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent_call(*, request: Any, endpoint: str, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` once per (user, endpoint, Idempotency-Key). Without the header it just runs."""
    key = request.META.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > 128:
        raise ValidationFailed("Idempotency-Key is at most 128 characters.", code="invalid_idempotency_key")
    digest = _request_hash(request.data)
    user = request.user
    existing = IdempotencyKey.objects.filter(user=user, endpoint=endpoint, key=key).first()
    if existing is not None:
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user=user, endpoint=endpoint, key=key, request_hash=digest)
            response = handler()
            if response.status_code >= 400:
                raise _Failed(response)
            record.response_status = response.status_code
            record.response_body = json.loads(json.dumps(response.data, default=str))
            record.save(update_fields=["response_status", "response_body"])
            return response
    except _Failed as failed:  # errors are not remembered: the client may fix the request and retry with the key
        return failed.response
    except IntegrityError:
        # a concurrent request with the same key committed first (we waited on its unique index entry)
        return _replay(IdempotencyKey.objects.get(user=user, endpoint=endpoint, key=key), digest)


class _Failed(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Delete stored Idempotency-Keys older than ``ERP_IDEMPOTENCY_KEY_HOURS`` (a retry after that is a new request,
    as with the payment APIs that popularised the header); returns how many were removed."""
    hours = conf.idempotency_key_hours() if older_than_hours is None else older_than_hours
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted
