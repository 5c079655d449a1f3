"""Authentication backends: Django's model backend with the permission lookup cached (see ``caching``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from . import caching


def with_permissions(user: Any) -> Any:
    """``user`` with its permission set loaded (for authenticators that cache the user together with it)."""
    if user is not None:
        ModelBackend().get_all_permissions(user)  # sets user._perm_cache
    return user


class CachedPermissionsBackend(ModelBackend):
    """``ModelBackend`` whose role/permission lookup (two queries per request) is cached per user until anything
    about users, groups or permissions changes."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            perms = caching.cached(
                f"perms:{user_obj.pk}",
                [caching.AUTH],
                lambda: frozenset(super(CachedPermissionsBackend, self).get_all_permissions(user_obj)),
            )
            user_obj._perm_cache = set(perms)
        return user_obj._perm_cache  # type: ignore[no-any-return]
