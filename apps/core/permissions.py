"""DRF permission classes. Every API view declares what it needs; the default (DenyUndeclared) refuses everything.

- ``RequirePermission("erp.approve")`` / ``RequireRole("admin")`` for ``permission_classes``.
- ``ActionPermission`` reads ``view.required_permissions``: a mapping of action name (or "read"/"write") to a
  permission string or tuple, used by the base viewset.
- ``ObjectAccess`` for owned objects: owner, django-guardian object grants, or the system's manage permission.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .models import ApiKey
from .roles import PERMISSIONS

if TYPE_CHECKING:
    from rest_framework.views import APIView


def request_has_perm(request: Request, perm: str) -> bool:
    """The caller holds ``perm`` (and, for an API key limited to scopes, the key allows it)."""
    user = request.user
    if not user or not user.is_authenticated or not user.is_active:
        return False
    key = request.auth if isinstance(request.auth, ApiKey) else None
    if key is not None and key.scopes and perm not in key.scopes:
        return False
    return bool(user.has_perm(perm))


def _as_tuple(perms: str | Iterable[str]) -> tuple[str, ...]:
    return (perms,) if isinstance(perms, str) else tuple(perms)


class DenyUndeclared(BasePermission):
    """The default permission class: an endpoint that forgets to declare its permission is closed."""

    message = _("This endpoint declares no permission and is closed.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return False


class _RequirePermissionBase(BasePermission):
    required: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: APIView) -> bool:
        return all(request_has_perm(request, perm) for perm in self.required)


def RequirePermission(*perms: str) -> type[BasePermission]:
    """A permission class requiring every one of ``perms`` (e.g. ``RequirePermission("erp.approve")``)."""
    if not perms or any(p not in PERMISSIONS and "." not in p for p in perms):
        raise ValueError(f"RequirePermission needs known 'app.codename' permissions, got {perms!r}")
    name = "RequirePermission_" + "_".join(p.replace(".", "_") for p in perms)
    return type(name, (_RequirePermissionBase,), {"required": tuple(perms)})


class _RequireRoleBase(BasePermission):
    roles: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated or not user.is_active:
            return False
        return user.is_superuser or user.groups.filter(name__in=self.roles).exists()


def RequireRole(*roles: str) -> type[BasePermission]:
    """A permission class requiring membership of any of ``roles`` (superusers always pass)."""
    if not roles:
        raise ValueError("RequireRole needs at least one role")
    return type("RequireRole_" + "_".join(roles), (_RequireRoleBase,), {"roles": tuple(roles)})


class Authenticated(BasePermission):
    """Any signed-in, active user (for endpoints about the caller, such as /auth/me/)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class ActionPermission(BasePermission):
    """Permission per viewset action from ``view.required_permissions``.

    Keys are action names ("list", "create", "confirm", ...) or the fallbacks "read" (safe methods) and "write".
    A view whose action resolves to nothing is closed.
    """

    def required_for(self, request: Request, view: APIView) -> tuple[str, ...] | None:
        mapping: dict[str, Any] = getattr(view, "required_permissions", None) or {}
        action = getattr(view, "action", None)
        if action in mapping:
            return _as_tuple(mapping[action])
        key = "read" if request.method in SAFE_METHODS else "write"
        return _as_tuple(mapping[key]) if key in mapping else None

    def has_permission(self, request: Request, view: APIView) -> bool:
        if hasattr(view, "action_map") and getattr(view, "action", None) is None:
            return True  # no handler for this method: let the view answer 405 Method Not Allowed
        required = self.required_for(request, view)
        if not required:
            return False
        return all(request_has_perm(request, perm) for perm in required)


def _object_perm(model: type[Model], verb: str) -> str:
    return f"{model._meta.app_label}.{verb}_{model._meta.model_name}"


class ObjectAccess(BasePermission):
    """For owned objects: the owner, a guardian grant (view for reads, change for writes, delete for deletes),
    or ``view.manage_permission`` when set."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        manage = getattr(view, "manage_permission", None)
        if manage and request_has_perm(request, manage):
            return True
        owner_field = getattr(view, "owner_field", "owner")
        if getattr(obj, f"{owner_field}_id", None) == user.pk:
            return True
        if request.method in SAFE_METHODS:
            verb = "view"
        elif request.method == "DELETE":
            verb = "delete"
        else:
            verb = "change"
        return bool(user.has_perm(_object_perm(type(obj), verb), obj))


def objects_visible_to(
    user: Any, queryset: QuerySet[Any], *, manage_perm: str | None = None, owner_field: str = "owner"
) -> QuerySet[Any]:
    """Narrow ``queryset`` in SQL to what ``user`` may see: own objects, guardian grants (to the user or one of their
    groups), or everything with ``manage_perm``."""
    if not user or not user.is_authenticated:
        return queryset.none()
    if user.is_superuser or (manage_perm and user.has_perm(manage_perm)):
        return queryset
    granted = get_objects_for_user(
        user,
        _object_perm(queryset.model, "view"),
        klass=queryset.model.objects.all(),
        with_superuser=False,
        accept_global_perms=False,
    ).values("pk")
    condition = Q(pk__in=granted)
    if owner_field:
        condition |= Q(**{owner_field: user})
    return queryset.filter(condition)
