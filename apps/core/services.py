"""Writes of the shared platform: audit entries, API keys, roles, object grants, housekeeping."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django_cryptography.fields import EncryptedMixin
from guardian.shortcuts import assign_perm, remove_perm

from . import caching, context
from .backends import with_permissions
from .choices import AuditAction, AuditOutcome
from .crypto import constant_time_equals, generate_api_key, sha256_hex, split_api_key
from .exceptions import ValidationFailed
from .models import ApiKey, AuditLog
from .roles import PERMISSIONS, ROLES, split_permission

logger = logging.getLogger(__name__)

MASK = "********"

# --- Audit ----------------------------------------------------------------------------------------------------------


def _is_sensitive(field_name: str) -> bool:
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
    if _is_sensitive(name) or (isinstance(value, str) and value.startswith(_SEALED)):
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


# --- API keys -------------------------------------------------------------------------------------------------------


def api_key_validate(
    *,
    owner: User,
    scopes: Any = (),
    expires_at: dt.datetime | None = None,
    limit_scopes: Iterable[str] = (),
) -> list[str]:
    """Check a new key's scopes and expiry; returns the scopes the key will carry. Raises ValidationFailed with
    field details (used by the API and the admin form alike).

    ``limit_scopes`` (the scopes of the key making the request, if any) caps the new key: a scoped key can only make
    keys with the same or fewer scopes, never an unscoped one."""
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple, set, frozenset)):
        raise ValidationFailed("Scopes must be a list of permissions.", details={"scopes": ["Must be a list."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("Expiry must be in the future.", details={"expires_at": ["Must be in the future."]})
    chosen, limit = sorted(set(scopes)), sorted(set(limit_scopes))
    if limit:
        chosen = chosen or limit
        beyond = sorted(set(chosen) - set(limit))
        if beyond:
            raise ValidationFailed(
                "A scoped API key cannot create a key with wider scopes.",
                code="invalid_scope",
                details={"scopes": beyond},
            )
    unknown = [s for s in chosen if s not in PERMISSIONS]
    if unknown:
        raise ValidationFailed("Unknown permissions in scopes.", code="invalid_scope", details={"scopes": unknown})
    missing = [s for s in chosen if not owner.has_perm(s)]
    if missing:
        raise ValidationFailed(
            "An API key can only carry permissions its owner holds.", code="invalid_scope", details={"scopes": missing}
        )
    return chosen


@transaction.atomic
def api_key_create(
    *,
    owner: User,
    name: str,
    scopes: Iterable[str] = (),
    expires_at: dt.datetime | None = None,
    created_by: Any = None,
    limit_scopes: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """Create a key for ``owner``; returns the record and the full secret, which is never stored or shown again."""
    if not name or not name.strip():
        raise ValidationFailed("An API key needs a name.", details={"name": ["This field is required."]})
    chosen = api_key_validate(owner=owner, scopes=scopes, expires_at=expires_at, limit_scopes=limit_scopes)
    full_key, prefix, key_hash = generate_api_key(settings.API_KEY_PREFIX)
    key = ApiKey(owner=owner, name=name.strip(), prefix=prefix, key_hash=key_hash, scopes=chosen, expires_at=expires_at)
    key.full_clean()
    key.save()
    audit_record(
        action=AuditAction.CREATE,
        actor=created_by or owner,
        target=key,
        changes={"name": [None, key.name], "owner": [None, owner.pk], "scopes": [None, key.scopes]},
        message="API key created",
    )
    return key, full_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The usable key matching ``raw_key``, or None. Failures (unknown, revoked, expired) are audited."""
    prefix = split_api_key(raw_key, prefix=settings.API_KEY_PREFIX)
    key = _api_key_by_prefix(prefix) if prefix is not None else None
    if key is None or not constant_time_equals(key.key_hash, sha256_hex(raw_key)):
        audit_record(
            action=AuditAction.AUTH_FAILED, outcome=AuditOutcome.FAILURE, message="Unknown API key", api_key=None
        )
        return None
    if not key.is_usable or not key.owner.is_active:
        reason = "revoked" if key.is_revoked else "expired" if key.is_expired else "owner inactive"
        audit_record(
            action=AuditAction.AUTH_FAILED,
            actor=key.owner,
            api_key=key,
            outcome=AuditOutcome.FAILURE,
            message=f"API key {reason}",
        )
        return None
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if key.last_used_at is None or now - key.last_used_at > resolution:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        caching.forget(_api_key_cache_key(key.prefix))
    return key


def _api_key_cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key row with its owner and the owner's permissions, cached until any key, user or permission changes
    (revocation is immediate)."""
    return caching.cached(
        _api_key_cache_key(prefix),
        [caching.AUTH],
        lambda: _api_key_with_owner_permissions(prefix),
    )


def _api_key_with_owner_permissions(prefix: str) -> ApiKey | None:
    key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    if key is not None:
        with_permissions(key.owner)
    return key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Any) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action=AuditAction.ACTION,
            actor=actor,
            target=key,
            changes={"revoked_at": [None, key.revoked_at]},
            message="API key revoked",
        )
    return key


# --- Roles ----------------------------------------------------------------------------------------------------------


def _perm_label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _permission_objects() -> dict[str, Permission]:
    wanted = Q()
    for perm in PERMISSIONS:
        app_label, codename = split_permission(perm)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = Permission.objects.filter(wanted).select_related("content_type")
    return {_perm_label(p): p for p in found}


@transaction.atomic
def roles_sync() -> dict[str, dict[str, list[str]]]:
    """Make the four role groups hold exactly the permissions of apps.core.roles.ROLES. Idempotent.

    Returns, per role, the permissions added and removed."""
    available = _permission_objects()
    missing = sorted(set(PERMISSIONS) - set(available))
    if missing:
        raise ValidationFailed(
            "Role permissions are missing from the database; run migrate first.", details={"missing": missing}
        )
    report: dict[str, dict[str, list[str]]] = {}
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        current = {_perm_label(p): p for p in group.permissions.select_related("content_type")}
        to_add, to_remove = sorted(perms - set(current)), sorted(set(current) - perms)
        if to_add:
            group.permissions.add(*(available[p] for p in to_add))
        if to_remove:
            group.permissions.remove(*(current[p] for p in to_remove))
        report[role] = {"added": to_add, "removed": to_remove}
        if to_add or to_remove:
            audit_record(
                action=AuditAction.UPDATE,
                target=group,
                changes={"permissions": [to_remove, to_add]},
                message="Role synchronised with the permission matrix",
            )
    return report


def roles_sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate hook: after the last installed app has migrated (so every permission exists), sync the groups."""
    if getattr(sender, "label", None) != list(django_apps.get_app_configs())[-1].label:
        return
    try:
        roles_sync()
    except ValidationFailed as exc:  # a partial migrate (e.g. a single app) may not have every permission yet
        logger.info("Role sync skipped: %s", exc.details)


# --- Users ----------------------------------------------------------------------------------------------------------


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[str], actor: Any = None) -> None:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed("Unknown roles.", code="invalid_role", details={"roles": unknown})
    before = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    user.groups.remove(*Group.objects.filter(name__in=set(ROLES) - set(roles)))
    user.groups.add(*Group.objects.filter(name__in=roles))
    if before != roles:
        audit_record(action=AuditAction.UPDATE, actor=actor, target=user, changes={"roles": [before, roles]})


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    roles: Iterable[str] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    actor: Any = None,
) -> User:
    User = get_user_model()
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    audit_record(action=AuditAction.CREATE, actor=actor, target=user, changes=snapshot_diff({}, model_snapshot(user)))
    user_set_roles(user=user, roles=roles, actor=actor)
    return user


USER_EDITABLE_FIELDS = ("email", "first_name", "last_name", "is_active", "is_staff")


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: Any = None,
    roles: Iterable[str] | None = None,
    password: str | None = None,
    **fields: Any,
) -> User:
    """Change profile fields, roles and/or password; one audit entry for the profile, one for the roles."""
    unknown = sorted(set(fields) - set(USER_EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed here.", details={name: ["Not editable."] for name in unknown}
        )
    before = model_snapshot(user)
    for name, value in fields.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
    user.full_clean()
    user.save()
    changes = snapshot_diff(before, model_snapshot(user))
    if changes:
        audit_record(action=AuditAction.UPDATE, actor=actor, target=user, changes=changes)
    if roles is not None:
        user_set_roles(user=user, roles=roles, actor=actor)
    return user


# --- Object grants (django-guardian) --------------------------------------------------------------------------------

_LEVELS = {"view": ("view",), "change": ("view", "change"), "manage": ("view", "change", "delete")}


@transaction.atomic
def object_share(*, obj: models.Model, to: Any, level: str = "view", actor: Any = None) -> None:
    """Grant a user or group access to one owned object. The one place object permissions are written."""
    if level not in _LEVELS:
        raise ValidationFailed("Unknown access level.", details={"level": [f"Use one of {sorted(_LEVELS)}."]})
    for verb in _LEVELS["manage"]:
        remove_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    for verb in _LEVELS[level]:
        assign_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    audit_record(action=AuditAction.ACTION, actor=actor, target=obj, message=f"Shared ({level}) with {to}")


@transaction.atomic
def object_unshare(*, obj: models.Model, to: Any, actor: Any = None) -> None:
    for verb in _LEVELS["manage"]:
        remove_perm(f"{verb}_{obj._meta.model_name}", to, obj)
    audit_record(action=AuditAction.ACTION, actor=actor, target=obj, message=f"Access removed for {to}")


# --- Housekeeping ---------------------------------------------------------------------------------------------------


def tokens_flush_expired() -> int:
    """Delete expired refresh tokens (and their blacklist rows); returns how many were removed."""
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
