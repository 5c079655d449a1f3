"""Audit entries: the one writer of AuditLog, and the snapshots/diffs callers pass to it.

Depends on no other service module and not on apps.core.exceptions, so anything (the API exception handler
included) can record an entry."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.utils import timezone
from django_cryptography.fields import EncryptedMixin

from .. import context
from ..choices import AuditAction, AuditOutcome
from ..crypto import sha256_hex
from ..models import ApiKey, AuditLog

MASK = "********"


def is_sensitive_field(field_name: str) -> bool:
    name = field_name.lower()
    return any(marker in name for marker in settings.AUDIT_MASKED_FIELDS)


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


# Values of encrypted model fields never enter a snapshot: a digest stands in for them, so a change is still noticed
# (and shown masked) whatever the field is called.
_SEALED = "\x00sealed:"


def _field_value(instance: models.Model, field: models.Field[Any, Any]) -> Any:
    value = getattr(instance, field.attname)
    if isinstance(field, EncryptedMixin) and value not in (None, ""):
        return _SEALED + sha256_hex(repr(value))
    return _json_safe(value)


def model_snapshot(instance: models.Model | None) -> dict[str, Any]:
    """The concrete field values of ``instance`` (foreign keys as ids), JSON-safe. Kept in memory only: secrets are
    masked when the snapshot is turned into audit changes, and encrypted fields are held only as a digest."""
    if instance is None:
        return {}
    return {field.name: _field_value(instance, field) for field in instance._meta.concrete_fields}


def _masked(name: str, value: Any) -> Any:
    if value in (None, ""):
        return value
    if is_sensitive_field(name) or (isinstance(value, str) and value.startswith(_SEALED)):
        return MASK
    return value


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """field -> [old, new] for every field whose value differs; secret fields show only that they changed."""
    return {
        name: [_masked(name, before.get(name)), _masked(name, after.get(name))]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or isinstance(actor, AnonymousUser) or not getattr(actor, "is_authenticated", False):
        return {"actor": None}
    return {"actor": actor, "actor_username": actor.get_username()}


def audit_record(
    *,
    action: str,
    actor: Any = None,
    api_key: ApiKey | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    changes: dict[str, Any] | None = None,
    message: str = "",
    username: str = "",
) -> AuditLog:
    """Write one audit entry; the request context (ip, user agent, request id, path) is taken from the current
    request when there is one."""
    ctx = context.current()
    fields = _actor_fields(actor)
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk) if target.pk is not None else target_id
    entry = AuditLog(
        **fields,
        api_key_id=api_key.pk if api_key is not None else context.current_api_key_id(),
        action=action,
        outcome=outcome,
        source=ctx.source,
        target_type=target_type,
        target_id=target_id,
        target_repr=str(target)[:200] if target is not None else "",
        changes=_json_safe(changes or {}),
        message=message[:2000],
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        method=ctx.method,
        path=ctx.path,
    )
    if not entry.actor_username and username:
        entry.actor_username = username[:150]
    entry.save()
    return entry


def request_credential(request: Any) -> str:
    """How the caller of a DRF or Django request proved who they are: ``api_key:<prefix>``, ``jwt``, ``session`` or
    ``""`` (anonymous). Recorded on audit entries of credential and access management."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return f"api_key:{auth.prefix}"
    return "jwt" if auth is not None else "session"


def request_actor(request: Any) -> tuple[Any, ApiKey | None]:
    """(user, api key) of a DRF or Django request."""
    user = getattr(request, "user", None)
    auth = getattr(request, "auth", None)
    return user, auth if isinstance(auth, ApiKey) else None


def audit_model_change(
    *, request: Any, action: str, instance: models.Model, before: dict[str, Any] | None = None, message: str = ""
) -> AuditLog:
    """Audit a create/update/delete of ``instance`` made through the API or the admin."""
    user, key = request_actor(request)
    after = {} if action == AuditAction.DELETE else model_snapshot(instance)
    if action == AuditAction.CREATE:
        changes = snapshot_diff({}, after)
    elif action == AuditAction.DELETE:
        changes = snapshot_diff(before or {}, {name: None for name in before or {}})
    else:
        changes = snapshot_diff(before or {}, after)
    return audit_record(action=action, actor=user, api_key=key, target=instance, changes=changes, message=message)


def audit_permission_denied(*, request: Any, reason: str = "") -> AuditLog:
    user, key = request_actor(request)
    return audit_record(
        action=AuditAction.PERMISSION_DENIED, actor=user, api_key=key, outcome=AuditOutcome.DENIED, message=reason
    )


def audit_purge(*, older_than_days: int | None = None) -> int:
    """Delete audit entries older than the retention period; returns how many were removed."""
    days = older_than_days if older_than_days is not None else settings.AUDIT_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = AuditLog.objects.filter(timestamp__lt=cutoff).delete()
    return deleted
