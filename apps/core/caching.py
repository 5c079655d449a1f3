"""Read caching with version-based invalidation.

Every cached model has a *version token* in the cache (``cachever:<app_label.Model>``). A cached read stores the
tokens it saw next to the value; a reader accepts the value only while every token is unchanged. A write to the model
replaces its token, so every cached read that depended on the model misses from then on: there is no list of keys to
delete and no way to forget one.

Writes change tokens through every path Django has:
- ``save()``/``delete()`` (post_save/post_delete signals) of models whose manager is a ``VersionedManager``;
- ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()`` and ``delete()`` through ``VersionedQuerySet``;
- raw SQL writers call ``bump_models(Model)`` themselves.

Tokens change immediately (so the writing transaction never reads its own stale cache) and again when the transaction
commits (a reader that filled the cache from the old rows between the first change and the commit is invalidated).

Read caching needs a cache shared by every process (Redis): with a per-process cache, a write in one process could
not invalidate what another cached. ``READ_CACHE_ENABLED`` is therefore on by default only when ``REDIS_URL`` is set.

The ``AUTH`` token covers who may do what: users, groups, permissions, API keys and object permissions. The
permission backend and the authenticators cache their lookups under it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from functools import cache as cache_once
from typing import Any, TypeVar

from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

AUTH = "core.auth"
_PREFIX = "cachever:"
_VERSIONED: set[str] = set()

T = TypeVar("T")


def model_namespace(model: type[models.Model]) -> str:
    return model._meta.label


def _token() -> str:
    return secrets.token_hex(8)


def _version_key(namespace: str) -> str:
    return f"{_PREFIX}{namespace}"


def bump(*namespaces: str) -> None:
    """Invalidate every cached read that depends on ``namespaces``, now and again when the transaction commits."""
    if not namespaces or not settings.READ_CACHE_ENABLED:
        return

    def _replace() -> None:
        cache.set_many({_version_key(ns): _token() for ns in namespaces}, timeout=None)

    _replace()
    transaction.on_commit(_replace)


def bump_models(*model_classes: type[models.Model]) -> None:
    bump(*(model_namespace(m) for m in model_classes))


def bump_all_after_migrate(sender: Any = None, **kwargs: Any) -> None:
    """post_migrate: migrations may rewrite data with SQL or bulk updates that send no signals; every cached read of
    every model (and of permissions) is dropped, so no one is served a value from before the migration."""
    from django.apps import apps

    if kwargs.get("app_config") is not None and kwargs["app_config"].label != "core":
        return  # once per migrate run (core's post_migrate), not once per app
    bump(AUTH, *(model_namespace(m) for m in apps.get_models()))


def _read(keys: Iterable[str], value_key: str) -> tuple[dict[str, str], Any]:
    """The current version tokens of ``keys`` (created when missing) and the value stored at ``value_key``, in one
    cache round trip."""
    version_keys = [_version_key(ns) for ns in keys]
    found = cache.get_many([*version_keys, value_key])
    versions: dict[str, str] = {}
    for vk in version_keys:
        token = found.get(vk)
        if token is None:
            token = _token()
            if not cache.add(vk, token, timeout=None):  # another process created it first: use theirs
                token = cache.get(vk) or token
        versions[vk] = token
    return versions, found.get(value_key)


def cached(key: str, namespaces: Iterable[str], compute: Callable[[], T], *, timeout: int | None = None) -> T:
    """``compute()``'s result, cached at ``key`` for as long as none of ``namespaces`` changes (and at most
    ``timeout`` seconds, default ``READ_CACHE_SECONDS``)."""
    if not settings.READ_CACHE_ENABLED:
        return compute()
    versions, entry = _read(namespaces, key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == versions:
        return entry[1]  # type: ignore[no-any-return]
    value = compute()
    cache.set(key, (versions, value), timeout=settings.READ_CACHE_SECONDS if timeout is None else timeout)
    return value


def forget(key: str) -> None:
    cache.delete(key)


# --- models whose writes change their version -----------------------------------------------------------------------


class VersionedQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """Bulk writes (which send no per-row signals) change the model's version token."""

    def _bump(self) -> None:
        bump_models(self.model)

    def update(self, **kwargs: Any) -> int:
        count = super().update(**kwargs)
        if count:
            self._bump()
        return count

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._bump()
        return created

    def bulk_update(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> int:
        count = super().bulk_update(objs, *args, **kwargs)
        if count:
            self._bump()
        return count

    def delete(self) -> tuple[int, dict[str, int]]:
        result = super().delete()
        if result[0]:
            self._bump()
        return result


class VersionedManager(models.Manager.from_queryset(VersionedQuerySet)):  # type: ignore[misc]
    """``objects = VersionedManager()`` makes a model's reads cacheable with ``cached()``/``CachedReadMixin``."""

    def contribute_to_class(self, cls: type[models.Model], name: str) -> None:
        super().contribute_to_class(cls, name)
        if not cls._meta.abstract:
            # Receivers per model, not global ones: a global delete receiver would turn every cascade in the project
            # from one DELETE into a row-by-row delete with signals.
            _VERSIONED.add(model_namespace(cls))
            post_save.connect(_on_write, sender=cls, dispatch_uid=f"core.caching.save.{cls._meta.label}")
            post_delete.connect(_on_write, sender=cls, dispatch_uid=f"core.caching.delete.{cls._meta.label}")


@cache_once
def _auth_models() -> tuple[set[type[models.Model]], set[type[models.Model]]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from guardian.models import GroupObjectPermission, UserObjectPermission

    user = get_user_model()
    api_key = django_apps.get_model("core", "ApiKey")  # by name: core's models are built on this module
    saved: set[type[models.Model]] = {user, Group, Permission, api_key, UserObjectPermission, GroupObjectPermission}
    through: set[type[models.Model]] = {user.groups.through, user.user_permissions.through, Group.permissions.through}
    return saved, through


def _on_write(sender: type[models.Model], **kwargs: Any) -> None:
    if kwargs.get("raw"):  # fixtures loading
        return
    label = model_namespace(sender)
    if sender in _auth_models()[0]:
        if kwargs.get("update_fields") == frozenset({"last_login"}):  # a login changes no one's rights
            return
        bump(AUTH)
    elif label in _VERSIONED:
        bump(label)


def _on_m2m(sender: type[models.Model], action: str, **kwargs: Any) -> None:
    if action.startswith("post_") and sender in _auth_models()[1]:
        bump(AUTH)


def connect_signals() -> None:
    saved, through = _auth_models()
    for model in saved:
        post_save.connect(_on_write, sender=model, dispatch_uid=f"core.caching.save.{model._meta.label}")
        post_delete.connect(_on_write, sender=model, dispatch_uid=f"core.caching.delete.{model._meta.label}")
    for model in through:
        m2m_changed.connect(_on_m2m, sender=model, dispatch_uid=f"core.caching.m2m.{model._meta.label}")
