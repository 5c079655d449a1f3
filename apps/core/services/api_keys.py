"""API keys: creation, authentication and revocation.

Keys are managed by people, not by keys: the API refuses key management made with an API key (InteractiveLogin),
and these services refuse it too when the current request was authenticated with a key, unless the new key is
explicitly derived from that key (``parent``), in which case it can neither outlive nor outrank its parent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from .. import caching, context
from ..backends import with_permissions
from ..choices import AuditAction, AuditOutcome
from ..crypto import constant_time_equals, generate_api_key, sha256_hex, split_api_key
from ..exceptions import InteractiveLoginRequired, ValidationFailed
from ..models import ApiKey
from ..roles import PERMISSIONS
from .audit import audit_record


def refuse_api_key_context(*, what: str) -> None:
    """Raise InteractiveLoginRequired (403) when the current request was authenticated with an API key: ``what``
    (managing keys, users, roles or grants) needs an interactive login."""
    if context.current_api_key_id() is not None:
        raise InteractiveLoginRequired(
            gettext("%(what)s needs an interactive login (JWT or session), not an API key.") % {"what": what}
        )


def _check_parent(*, owner: User, parent: ApiKey, expires_at: dt.datetime | None) -> None:
    if parent.owner_id != owner.pk:
        raise ValidationFailed(gettext("A derived key belongs to its parent's owner."), code="invalid_parent")
    if not parent.is_usable:
        raise ValidationFailed(gettext("The parent key is revoked or expired."), code="invalid_parent")
    if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
        raise ValidationFailed(
            gettext("A derived key cannot outlive the key it comes from."),
            code="invalid_expiry",
            details={
                "expires_at": [
                    gettext("Must be set, at or before %(expires_at)s.") % {"expires_at": parent.expires_at.isoformat()}
                ]
            },
        )


def api_key_validate(
    *,
    owner: User,
    scopes: Any = (),
    expires_at: dt.datetime | None = None,
    parent: ApiKey | None = None,
) -> list[str]:
    """Check a new key's scopes and expiry; returns the scopes the key will carry. Raises ValidationFailed with
    field details (used by the API and the admin form alike).

    A key derived from ``parent`` belongs to the same owner, expires no later than the parent and carries the
    parent's scopes or fewer (a scoped parent never yields an unscoped child)."""
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple, set, frozenset)):
        raise ValidationFailed(
            gettext("Scopes must be a list of permissions."), details={"scopes": [gettext("Must be a list.")]}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            gettext("Expiry must be in the future."), details={"expires_at": [gettext("Must be in the future.")]}
        )
    chosen = sorted(set(scopes))
    if parent is not None:
        _check_parent(owner=owner, parent=parent, expires_at=expires_at)
        limit = sorted(set(parent.scopes))
        if limit:
            chosen = chosen or limit
            beyond = sorted(set(chosen) - set(limit))
            if beyond:
                raise ValidationFailed(
                    gettext("A derived key cannot carry scopes its parent does not have."),
                    code="invalid_scope",
                    details={"scopes": beyond},
                )
    unknown = [s for s in chosen if s not in PERMISSIONS]
    if unknown:
        raise ValidationFailed(
            gettext("Unknown permissions in scopes."), code="invalid_scope", details={"scopes": unknown}
        )
    missing = [s for s in chosen if not owner.has_perm(s)]
    if missing:
        raise ValidationFailed(
            gettext("An API key can only carry permissions its owner holds."),
            code="invalid_scope",
            details={"scopes": missing},
        )
    return chosen


def _credential(credential: str) -> str:
    if credential:
        return credential
    key_id = context.current_api_key_id()
    return f"api_key:{key_id}" if key_id is not None else "system"


@transaction.atomic
def api_key_create(
    *,
    owner: User,
    name: str,
    scopes: Iterable[str] = (),
    expires_at: dt.datetime | None = None,
    created_by: Any = None,
    parent: ApiKey | None = None,
    credential: str = "",
) -> tuple[ApiKey, str]:
    """Create a key for ``owner``; returns the record and the full secret, which is never stored or shown again.

    ``credential`` says how ``created_by`` signed in (``jwt``, ``session``, ``api_key:<prefix>``); it is audited."""
    if parent is None or parent.pk != context.current_api_key_id():
        refuse_api_key_context(what=gettext("Creating an API key"))
    if not name or not name.strip():
        raise ValidationFailed(
            gettext("An API key needs a name."), details={"name": [gettext("This field is required.")]}
        )
    chosen = api_key_validate(owner=owner, scopes=scopes, expires_at=expires_at, parent=parent)
    full_key, prefix, key_hash = generate_api_key(settings.API_KEY_PREFIX)
    key = ApiKey(owner=owner, name=name.strip(), prefix=prefix, key_hash=key_hash, scopes=chosen, expires_at=expires_at)
    key.full_clean()
    key.save()
    changes: dict[str, Any] = {
        "name": [None, key.name],
        "owner": [None, owner.pk],
        "scopes": [None, key.scopes],
        "expires_at": [None, key.expires_at],
        "credential": _credential(credential),
    }
    if parent is not None:
        changes["parent"] = [None, parent.prefix]
    audit_record(
        action=AuditAction.CREATE, actor=created_by or owner, target=key, changes=changes, message="API key created"
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
def api_key_revoke(*, key: ApiKey, actor: Any, credential: str = "") -> ApiKey:
    """Revoke ``key`` (idempotent). ``credential`` says how ``actor`` signed in; it is audited."""
    refuse_api_key_context(what=gettext("Revoking an API key"))
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action=AuditAction.ACTION,
            actor=actor,
            target=key,
            changes={"revoked_at": [None, key.revoked_at], "credential": _credential(credential)},
            message="API key revoked",
        )
    return key
