"""DRF permission classes. Every API view declares what it needs; the default (DenyUndeclared) refuses everything.

- ``RequirePermission("erp.approve")`` / ``RequireRole(roles.ADMIN)`` for ``permission_classes``. Both refuse names
  that do not exist (a typo would otherwise close, or silently open, an endpoint): ``RequirePermission`` takes the
  role permissions of apps.core.roles and the model permissions of installed models, ``RequireRole`` the four roles.
- ``ActionPermission`` reads ``view.required_permissions``: a mapping of action name (or "read"/"write") to a
  permission string or tuple, used by the base viewset.
- ``ObjectAccess`` for owned objects: owner, django-guardian object grants, or the system's manage permission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .exceptions import InteractiveLoginRequired
from .models import ApiKey
from .roles import PERMISSIONS, ROLES

if TYPE_CHECKING:
    from rest_framework.views import APIView


def user_has_perm(user: Any, perm: str, *, api_key: ApiKey | None = None) -> bool:
    """``user`` holds ``perm`` and, when acting through ``api_key`` limited to scopes, the key allows it: the rule of
    the REST API, for callers that hold a user and a key rather than a request (tools, agents, tasks)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if api_key is not None and api_key.scopes and perm not in api_key.scopes:
        return False
    return bool(user.has_perm(perm))


def request_api_key(request: Request) -> ApiKey | None:
    """The API key a request authenticated with (None for a JWT, a session or an anonymous request)."""
    return request.auth if isinstance(request.auth, ApiKey) else None


def request_has_perm(request: Request, perm: str) -> bool:
    """The caller holds ``perm`` (and, for an API key limited to scopes, the key allows it)."""
    return user_has_perm(request.user, perm, api_key=request_api_key(request))


def _as_tuple(perms: str | Iterable[str]) -> tuple[str, ...]:
    return (perms,) if isinstance(perms, str) else tuple(perms)


class DenyUndeclared(BasePermission):
    """The default permission class: an endpoint that forgets to declare its permission is closed."""

    message = _("This endpoint declares no permission and is closed.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return False


_PERMISSION_FORMAT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_]+")


class _RequirePermissionBase(BasePermission):
    required: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: APIView) -> bool:
        return all(request_has_perm(request, perm) for perm in self.required)


def model_permission_exists(perm: str) -> bool:
    """``perm`` ("app_label.codename") is a permission of an installed model: one of its default permissions
    (``view_<model>`` ...) or of its ``Meta.permissions``. Needs the models loaded."""
    app_label, _, codename = perm.partition(".")
    try:
        config = apps.get_app_config(app_label)
    except LookupError:
        return False
    for model in config.get_models():
        opts = model._meta
        if codename in {f"{verb}_{opts.model_name}" for verb in opts.default_permissions}:
            return True
        if codename in {code for code, _ in opts.permissions}:
            return True
    return False


def _unknown_permissions(perms: Iterable[str]) -> list[str]:
    return [p for p in perms if p not in PERMISSIONS and not model_permission_exists(p)]


# Names given to RequirePermission while the models were still loading (a module imported by a models.py): checked
# once they are, from CoreConfig.ready(), so an unknown one still stops django.setup().
_DEFERRED: list[tuple[str, ...]] = []


def permissions_check_deferred() -> None:
    """Raise ImproperlyConfigured for a RequirePermission name, given before the models were loaded, that names no
    permission (called from CoreConfig.ready())."""
    unknown = sorted({p for perms in _DEFERRED for p in _unknown_permissions(perms)})
    _DEFERRED.clear()
    if unknown:
        raise ImproperlyConfigured(f"RequirePermission names unknown permissions: {', '.join(unknown)}")


def RequirePermission(*perms: str) -> type[BasePermission]:
    """A permission class requiring every one of ``perms`` (e.g. ``RequirePermission("erp.approve")``). Each must
    be a role permission (apps.core.roles.PERMISSIONS) or a model permission of an installed model
    ("stock.view_backtestrun"); anything else raises ValueError where the class is made (at import), or, for a name
    given while the models are still loading, ImproperlyConfigured at django.setup()."""
    malformed = [p for p in perms if not isinstance(p, str) or not _PERMISSION_FORMAT.fullmatch(p)]
    if not perms or malformed:
        raise ValueError(f"RequirePermission needs 'app_label.codename' permissions, got {perms!r}")
    if apps.models_ready:
        unknown = _unknown_permissions(perms)
        if unknown:
            raise ValueError(f"RequirePermission names unknown permissions: {', '.join(unknown)}")
    elif any(p not in PERMISSIONS for p in perms):
        _DEFERRED.append(tuple(perms))
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
    """A permission class requiring membership of any of ``roles`` (apps.core.roles: ADMIN, MANAGER, USER, GUEST;
    superusers always pass). An unknown role raises ValueError."""
    if not roles:
        raise ValueError("RequireRole needs at least one role")
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"RequireRole names unknown roles: {unknown!r}; the roles are {sorted(ROLES)}")
    return type("RequireRole_" + "_".join(roles), (_RequireRoleBase,), {"roles": tuple(roles)})


class Authenticated(BasePermission):
    """Any signed-in, active user (for endpoints about the caller, such as /auth/me/)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class InteractiveLogin(BasePermission):
    """Refuses requests authenticated with an API key: managing credentials and access (API keys, users, roles,
    object grants) needs a person signed in with a JWT or a session. A key can never mint, list or revoke keys."""

    message = _("This needs an interactive login (JWT or session); an API key cannot manage credentials or access.")
    code = InteractiveLoginRequired.default_code

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not isinstance(request.auth, ApiKey)


class InteractiveLoginToWrite(InteractiveLogin):
    """InteractiveLogin for writes only: a key may read (e.g. the LLM providers), but changing stored credentials or
    where they are sent needs a person signed in."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)


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
