"""Writes of the shared platform, one module per concern; the public names are re-exported here so callers can keep
writing ``from apps.core import services`` or ``from apps.core.services import audit_record``."""

from .api_keys import api_key_authenticate, api_key_create, api_key_revoke, api_key_validate
from .audit import (
    MASK,
    audit_model_change,
    audit_permission_denied,
    audit_purge,
    audit_record,
    is_sensitive_field,
    model_snapshot,
    request_actor,
    request_credential,
    snapshot_diff,
)
from .grants import object_share, object_unshare
from .tokens import tokens_flush_expired
from .users import USER_EDITABLE_FIELDS, roles_sync, roles_sync_after_migrate, user_create, user_set_roles, user_update

__all__ = [
    "MASK",
    "USER_EDITABLE_FIELDS",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "api_key_validate",
    "audit_model_change",
    "audit_permission_denied",
    "audit_purge",
    "audit_record",
    "is_sensitive_field",
    "model_snapshot",
    "object_share",
    "object_unshare",
    "request_actor",
    "request_credential",
    "roles_sync",
    "roles_sync_after_migrate",
    "snapshot_diff",
    "tokens_flush_expired",
    "user_create",
    "user_set_roles",
    "user_update",
]
