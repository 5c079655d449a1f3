"""What each API operation requires, read from the views themselves.

The URL conf is walked with the permission walk of tests/test_project.py: for every route and method, the view is
built the way Django builds it and asked for its permission classes. The result is keyed by the operation as the
OpenAPI schema names it (``"POST /api/v1/erp/customers/{}/"``: the method and the path with its parameters blanked),
so that a schemathesis operation finds the gate of the view that serves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.urls import get_resolver
from rest_framework.permissions import AllowAny

from apps.core.permissions import ActionPermission, _RequirePermissionBase, _RequireRoleBase
from apps.core.roles import PERMISSIONS, ROLES
from tests.test_project import (
    drf_view_class,
    is_format_suffix_route,
    iter_url_patterns,
    route_methods,
    view_permissions,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ROUTE_PARAM = re.compile(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>")
_SCHEMA_PARAM = re.compile(r"\{[^}]+\}")


def route_key(method: str, route: str) -> str:
    """``"GET /api/v1/erp/customers/{}/"`` for a URL conf route (``api/v1/^erp/customers/(?P<pk>[^/.]+)/$``)."""
    path = "/" + _ROUTE_PARAM.sub("{}", route).replace("^", "").replace("$", "")
    return f"{method.upper()} {path}"


def schema_key(method: str, path: str) -> str:
    """``"GET /api/v1/erp/customers/{}/"`` for an OpenAPI path (``/api/v1/erp/customers/{id}/``)."""
    return f"{method.upper()} {_SCHEMA_PARAM.sub('{}', path)}"


@dataclass(frozen=True)
class Gate:
    """What a caller needs to be let through to the view (before any object-level check)."""

    view: str
    action: str | None
    public: bool = False  # AllowAny: no identity needed
    permissions: frozenset[str] = field(default_factory=frozenset)  # every one of them
    roles: frozenset[str] | None = None  # membership of any one (RequireRole), when the view asks for a role

    def admits(self, identity: Identity) -> bool:
        if self.public:
            return True
        if not self.permissions <= identity.permissions:
            return False
        return self.roles is None or identity.superuser or bool(self.roles & identity.roles)


@dataclass(frozen=True)
class Identity:
    """A caller: its role permissions, narrowed by the scopes of the API key it uses, if any."""

    name: str
    roles: frozenset[str]
    superuser: bool = False
    scopes: frozenset[str] | None = None  # an API key limited to these scopes; None for a JWT or an unlimited key

    @property
    def permissions(self) -> frozenset[str]:
        held = frozenset(PERMISSIONS) if self.superuser else frozenset().union(*(ROLES[r] for r in self.roles))
        return held if not self.scopes else held & self.scopes


def _gate(view: str, action: str | None, permissions: Iterable[Any], request: Any, instance: Any) -> Gate:
    required: set[str] = set()
    roles: set[str] | None = None
    public = False
    for permission in permissions:
        if isinstance(permission, AllowAny):
            public = True
        elif isinstance(permission, ActionPermission):
            required.update(permission.required_for(request, instance) or ())
        elif isinstance(permission, _RequirePermissionBase):
            required.update(permission.required)
        elif isinstance(permission, _RequireRoleBase):
            roles = (roles or set()) | set(permission.roles)
    return Gate(
        view=view,
        action=action,
        public=public and not required and roles is None,
        permissions=frozenset(required),
        roles=frozenset(roles) if roles is not None else None,
    )


def operation_gates(urlconf: str = "aistack.urls") -> dict[str, Gate]:
    """Every API route and method (``route_key``) -> the gate its view declares."""
    gates: dict[str, Gate] = {}
    for route, pattern in iter_url_patterns(get_resolver(urlconf).url_patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None or is_format_suffix_route(route):
            continue
        for method, action in route_methods(pattern.callback).items():
            instance, permissions, request = view_permissions(pattern.callback, method, action)
            gates[route_key(method, route)] = _gate(cls.__name__, action, permissions, request, instance)
    return gates


def view_models(urlconf: str = "aistack.urls") -> dict[str, Any]:
    """Every API route and method (``route_key``) -> the model of the view's queryset or serializer, if any."""
    found: dict[str, Any] = {}
    for route, pattern in iter_url_patterns(get_resolver(urlconf).url_patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None or is_format_suffix_route(route):
            continue
        queryset = getattr(cls, "queryset", None)
        model = queryset.model if queryset is not None else None
        if model is None:
            model = getattr(getattr(getattr(cls, "serializer_class", None), "Meta", None), "model", None)
        for method in route_methods(pattern.callback):
            found[route_key(method, route)] = model
    return found
