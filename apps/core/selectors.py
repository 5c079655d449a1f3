"""Reads of the shared platform."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import ApiKey, AuditLog
from .roles import PERMISSIONS, ROLES


def user_roles(*, user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    return sorted(name for name in user.groups.values_list("name", flat=True) if name in ROLES)


def user_effective_permissions(*, user: Any, api_key: ApiKey | None = None) -> list[str]:
    """The suite permissions the user holds (narrowed to the key's scopes when calling with a scoped API key)."""
    if not user.is_authenticated or not user.is_active:
        return []
    held = user.get_all_permissions()
    perms = [p for p in PERMISSIONS if user.is_superuser or p in held]
    if api_key is not None and api_key.scopes:
        perms = [p for p in perms if p in api_key.scopes]
    return perms


def api_key_list(*, user: Any, all_keys: bool = False) -> QuerySet[ApiKey]:
    """Keys the user may see: their own, or every key for holders of core.audit."""
    qs = ApiKey.objects.select_related("owner").order_by("-created_at", "-id")
    return qs if all_keys else qs.filter(owner=user)


def audit_log_list() -> QuerySet[AuditLog]:
    return AuditLog.objects.select_related("actor", "api_key").order_by("-timestamp", "-id")
