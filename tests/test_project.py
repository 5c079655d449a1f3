"""Project-wide checks: every API endpoint declares its permission, the OpenAPI schema is clean, migrations are
complete, and every ModelAdmin renders."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import models
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.validation import validate_schema
from guardian.admin import GuardedModelAdminMixin
from rest_framework import viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from apps.core.models import ApiKey, AuditLog
from apps.core.permissions import (
    ActionPermission,
    Authenticated,
    DenyUndeclared,
    ObjectAccess,
    RequirePermission,
    RequireRole,
    _RequirePermissionBase,
    _RequireRoleBase,
)
from apps.core.roles import PERMISSIONS, ROLES
from apps.core.services import api_key_create, audit_record
from tests.core.factories import UserFactory

# --- Every API endpoint declares its permission ---------------------------------------------------------------------
#
# The walk visits every URL pattern of the project (every include, every router) and, for each route and each HTTP
# method it serves, builds the view the way Django would and asks it for its permission classes (so per-route
# initkwargs, per-action ``permission_classes`` and ``get_permissions`` overrides are all honoured). Every method of
# every DRF route must be gated by one of: a role permission (``RequirePermission``, or ``ActionPermission`` whose
# ``required_permissions`` resolves that action to known permissions), a role (``RequireRole``), or membership of the
# short, explicit lists below. Plain Django views outside the admin must be listed too.

# Reachable without signing in: the API index, signing in and out, the OpenAPI schema and its UI.
PUBLIC_VIEWS = {
    "ApiRootView",
    "TokenObtainView",
    "TokenRefreshRotateView",
    "LogoutView",
    "SpectacularAPIView",
    "SpectacularSwaggerView",
}
# Open to any signed-in user: the caller's own profile and language, the role list, the caller's own API keys.
SIGNED_IN_VIEWS = {
    "MeView",
    "LanguagePreferenceView",
    "RoleListView",
    "ApiKeyViewSet",
    # resources: the meter catalogue, and one's own quota, usage, counters and notices (everyone's for managers)
    "MeterView",
    "MyQuotaView",
    "UsageViewSet",
    "QuotaCounterViewSet",
    "QuotaNoticeViewSet",
}
# Resources: every signed-in user reads the pools and their own reservations; approvals are asked for and decided by the
# rules of each action (apps.resources.services.approvals answers 403), and writes of pools and reservations still need
# resources.manage (ActionPermission).
SIGNED_IN_VIEWS |= {"PoolViewSet", "ReservationViewSet", "ApprovalRequestViewSet"}
# Plain Django views outside the admin: probes (public by design) and /metrics (IP allow-list or bearer token).
PLAIN_VIEWS = {"healthz", "readyz", "metrics", "api_not_found"}

_drf_request_factory = APIRequestFactory()
_ROUTE_PARAM = re.compile(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>")


def iter_url_patterns(patterns: Iterable[Any], prefix: str = "") -> Iterable[tuple[str, URLPattern]]:
    """(route, pattern) for every URLPattern below ``patterns``, descending through includes."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from iter_url_patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def drf_view_class(callback: Callable[..., Any]) -> type[APIView] | None:
    """The APIView (or viewset) class behind a URL callback, or None for a plain Django view."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if isinstance(cls, type) and issubclass(cls, APIView):
        return cls
    return None


def route_methods(callback: Callable[..., Any]) -> dict[str, str | None]:
    """HTTP method -> viewset action (None for a plain APIView) that the route serves. OPTIONS and HEAD follow
    the other methods and are not listed."""
    actions = getattr(callback, "actions", None)
    if actions:
        return {m: a for m, a in actions.items() if m not in ("options", "head")}
    cls = drf_view_class(callback)
    assert cls is not None
    return {m: None for m in cls.http_method_names if m not in ("options", "head") and hasattr(cls, m)}


def view_permissions(callback: Callable[..., Any], method: str, action: str | None) -> tuple[Any, list[Any], Any]:
    """(view, permission instances, request) as DRF sees them when ``method`` reaches the route."""
    cls = drf_view_class(callback)
    assert cls is not None
    initkwargs = getattr(callback, "initkwargs", None) or {}
    view = cls(**initkwargs)
    request = Request(_drf_request_factory.generic(method.upper(), "/"))
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), {}, None
    actions = getattr(callback, "actions", None)
    if actions:
        view.action_map, view.action = actions, action
    return view, list(view.get_permissions()), request


def is_format_suffix_route(route: str) -> bool:
    return "(?P<format>" in route or "<drf_format_suffix:format>" in route


def _gate_problem(route: str, cls: type[APIView], method: str, action: str | None, callback: Any) -> str | None:
    """Why this method of this route is not properly gated, or None when it is."""
    view, permissions, request = view_permissions(callback, method, action)
    where = f"{method.upper()} {route} ({cls.__name__}{'.' + action if action else ''})"
    if not permissions:
        return f"{where}: no permission classes"
    if any(isinstance(p, DenyUndeclared) for p in permissions):
        return f"{where}: falls back to DenyUndeclared"
    if any(isinstance(p, (AllowAny, Authenticated, IsAuthenticated)) for p in permissions):
        allowed = PUBLIC_VIEWS if any(isinstance(p, AllowAny) for p in permissions) else SIGNED_IN_VIEWS
        if cls.__name__ not in allowed:
            kind = "public" if allowed is PUBLIC_VIEWS else "open to every signed-in user"
            return f"{where}: {kind} but not on the list of such endpoints"
        return None
    gated = False
    for permission in permissions:
        if isinstance(permission, ActionPermission):
            required = permission.required_for(request, view)
            if not required:
                return f"{where}: ActionPermission resolves this action to no permission"
            unknown = [p for p in required if p not in PERMISSIONS]
            if unknown:
                return f"{where}: requires unknown permissions {unknown}"
            gated = True
        elif isinstance(permission, _RequirePermissionBase):
            unknown = [p for p in permission.required if p not in PERMISSIONS]
            if unknown:
                return f"{where}: requires unknown permissions {unknown}"
            gated = True
        elif isinstance(permission, _RequireRoleBase):
            unknown = [r for r in permission.roles if r not in ROLES]
            if unknown:
                return f"{where}: requires unknown roles {unknown}"
            gated = True
    if not gated:
        names = [type(p).__name__ for p in permissions]
        return f"{where}: no role permission or role among {names} (object-level checks alone do not gate a route)"
    return None


def undeclared_permission_offenders(patterns: Iterable[Any]) -> list[str]:
    """Every route and method that is not gated by a declared permission, plus plain Django views outside the admin
    that are not on PLAIN_VIEWS."""
    offenders = []
    for route, pattern in iter_url_patterns(patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None:
            name = getattr(pattern.callback, "__name__", repr(pattern.callback))
            if not route.startswith("admin/") and name not in PLAIN_VIEWS:
                offenders.append(f"{route} ({name}): plain Django view outside the admin, not on PLAIN_VIEWS")
            continue
        methods = route_methods(pattern.callback)
        if not methods:
            offenders.append(f"{route} ({cls.__name__}): serves no HTTP method")
        for method, action in methods.items():
            problem = _gate_problem(route, cls, method, action, pattern.callback)
            if problem:
                offenders.append(problem)
    return offenders


def project_endpoints() -> list[tuple[str, str, str, Any]]:
    """(route, method, view class name, callback) for every DRF endpoint of the project, format suffixes aside."""
    endpoints = []
    for route, pattern in iter_url_patterns(get_resolver("aistack.urls").url_patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None or is_format_suffix_route(route):
            continue
        for method in route_methods(pattern.callback):
            endpoints.append((route, method, cls.__name__, pattern.callback))
    return endpoints


def concrete_path(route: str) -> str:
    """A requestable path for ``route``: every parameter becomes 1."""
    return "/" + _ROUTE_PARAM.sub("1", route).replace("^", "").replace("$", "")


def _json_body(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def test_every_api_view_declares_its_permission() -> None:
    assert undeclared_permission_offenders(get_resolver("aistack.urls").url_patterns) == []


def test_permission_walk_reaches_every_endpoint_of_every_app() -> None:
    """The walk sees every route of every app's URL modules, and every endpoint drf-spectacular enumerates."""
    endpoints = project_endpoints()
    walked = {id(callback) for _, _, _, callback in endpoints}
    walked_routes = {(route, method.upper()) for route, method, _, _ in endpoints}
    url_modules = sorted(
        ".".join(path.relative_to(settings.BASE_DIR).with_suffix("").parts)
        for path in (settings.BASE_DIR / "apps").glob("*/**/*urls.py")
    )
    assert "apps.core.api.urls" in url_modules
    assert "apps.chat.openai_urls" in url_modules
    apps_with_api = {name for name in settings.SYSTEM_APPS if (settings.BASE_DIR / "apps" / name / "api").is_dir()}
    assert {module.split(".")[1] for module in url_modules} >= apps_with_api | {"core"}
    for module_name in url_modules:
        module = importlib.import_module(module_name)
        missed = [
            route
            for route, pattern in iter_url_patterns(module.urlpatterns)
            if drf_view_class(pattern.callback) and not is_format_suffix_route(route)
            if id(pattern.callback) not in walked
        ]
        assert missed == [], f"{module_name}: routes the walk does not reach: {missed}"
        assert any(drf_view_class(p.callback) for _, p in iter_url_patterns(module.urlpatterns)), module_name
    enumerated = {(route, method) for _, route, method, _ in EndpointEnumerator().get_api_endpoints()}
    assert enumerated - walked_routes == set()
    assert len(walked_routes) >= 200


@pytest.mark.django_db
def test_every_gated_endpoint_refuses_anonymous_callers() -> None:
    """Behaviour, not declarations: every method of every route that is not public answers an anonymous caller with
    401 and the error body, before any work is done (no 2xx, no 404 leaking existence, no 500)."""
    client = APIClient()
    failures = []
    checked = 0
    for route, method, view_name, _ in project_endpoints():
        if view_name in PUBLIC_VIEWS:
            continue
        path = concrete_path(route)
        response = getattr(client, method)(path, {}, format="json")
        checked += 1
        body = _json_body(response)
        if response.status_code != 401 or not body or body.get("error", {}).get("code") != "not_authenticated":
            failures.append(f"{method.upper()} {path}: {response.status_code} {str(body)[:120]}")
    assert failures == []
    assert checked >= 190


@pytest.mark.django_db
def test_every_permission_gated_endpoint_refuses_a_user_without_roles(client_for) -> None:
    """A signed-in user holding no role gets 403 with the error body from every endpoint that needs a permission
    (everything except the public and signed-in-only views), and each refusal is in the audit log."""
    user = UserFactory(username="no-role-user")
    client = client_for(user)
    failures = []
    checked = 0
    for route, method, view_name, _ in project_endpoints():
        if view_name in PUBLIC_VIEWS | SIGNED_IN_VIEWS:
            continue
        path = concrete_path(route)
        response = getattr(client, method)(path, {}, format="json")
        checked += 1
        body = _json_body(response)
        if response.status_code != 403 or not body or body.get("error", {}).get("code") != "permission_denied":
            failures.append(f"{method.upper()} {path}: {response.status_code} {str(body)[:120]}")
        elif not AuditLog.objects.filter(action="permission_denied", actor=user, path=path, method=method.upper()):
            failures.append(f"{method.upper()} {path}: refusal not audited")
    assert failures == []
    assert checked >= 180


class _ForgetfulView(APIView):
    """Declares nothing, so it gets the project default (DenyUndeclared)."""

    def get(self, request: Any) -> Response:
        return Response({})


class _WideOpenView(APIView):
    permission_classes: list[Any] = []

    def get(self, request: Any) -> Response:
        return Response({})


class _ForgetfulViewSet(viewsets.ViewSet):
    def list(self, request: Any) -> Response:
        return Response([])


class _UnmappedViewSet(viewsets.ViewSet):
    permission_classes = [ActionPermission]

    def list(self, request: Any) -> Response:
        return Response([])


class _PartlyMappedViewSet(viewsets.ViewSet):
    """Maps "list" but has a "create" that no key (and no "write" fallback) covers."""

    permission_classes = [ActionPermission]
    required_permissions = {"list": "erp.read"}

    def list(self, request: Any) -> Response:
        return Response([])

    def create(self, request: Any) -> Response:
        return Response({})


class _TypoViewSet(viewsets.ViewSet):
    permission_classes = [ActionPermission]
    required_permissions = {"read": "erp.raed"}

    def list(self, request: Any) -> Response:
        return Response([])


class _ObjectOnlyViewSet(viewsets.ViewSet):
    permission_classes = [ObjectAccess]

    def list(self, request: Any) -> Response:
        return Response([])


class _OverridingViewSet(viewsets.ViewSet):
    """Declares a permission on the class but drops it for one action in ``get_permissions``."""

    permission_classes = [RequirePermission("erp.read")]

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.action == "create" else super().get_permissions()

    def list(self, request: Any) -> Response:
        return Response([])

    def create(self, request: Any) -> Response:
        return Response({})


class _DeclaredView(APIView):
    permission_classes = [RequirePermission("erp.read")]

    def get(self, request: Any) -> Response:
        return Response({})


class _DeclaredViewSet(viewsets.ViewSet):
    permission_classes = [ActionPermission, ObjectAccess]
    required_permissions = {"read": "erp.read", "write": "erp.write", "approve": "erp.approve"}

    def list(self, request: Any) -> Response:
        return Response([])

    def create(self, request: Any) -> Response:
        return Response({})


class SignedInOnlyPublicView(APIView):
    """Public by declaration, but not on PUBLIC_VIEWS."""

    permission_classes = [AllowAny]

    def get(self, request: Any) -> Response:
        return Response({})


def _plain_view(request: Any) -> Any:
    return None


def test_permission_walk_reports_offenders() -> None:
    assert _ForgetfulView.permission_classes == [DenyUndeclared]  # the project default is the closed door
    patterns = [
        path("ok/", _DeclaredView.as_view()),
        path("ok-set/", _DeclaredViewSet.as_view({"get": "list", "post": "create"})),
        path("ok-open/", _ForgetfulViewSet.as_view({"get": "list"}, permission_classes=[RequireRole("admin")])),
        path("nested/", include([path("forgetful/", _ForgetfulView.as_view())])),
        path("open/", _WideOpenView.as_view()),
        path("set/", _ForgetfulViewSet.as_view({"get": "list"})),
        path("unmapped/", _UnmappedViewSet.as_view({"get": "list"})),
        path("partly/", _PartlyMappedViewSet.as_view({"get": "list", "post": "create"})),
        path("typo/", _TypoViewSet.as_view({"get": "list"})),
        path("object-only/", _ObjectOnlyViewSet.as_view({"get": "list"})),
        path("override/", _OverridingViewSet.as_view({"get": "list", "post": "create"})),
        path("unlisted-public/", SignedInOnlyPublicView.as_view()),
        path("plain/", _plain_view),
        path("admin/plain/", _plain_view),
    ]
    offenders = undeclared_permission_offenders(patterns)
    expected = [
        "GET nested/forgetful/ (_ForgetfulView): falls back to DenyUndeclared",
        "GET open/ (_WideOpenView): no permission classes",
        "GET set/ (_ForgetfulViewSet.list): falls back to DenyUndeclared",
        "GET unmapped/ (_UnmappedViewSet.list): ActionPermission resolves this action to no permission",
        "POST partly/ (_PartlyMappedViewSet.create): ActionPermission resolves this action to no permission",
        "GET typo/ (_TypoViewSet.list): requires unknown permissions ['erp.raed']",
        "GET object-only/ (_ObjectOnlyViewSet.list): no role permission or role among ['ObjectAccess']",
        "POST override/ (_OverridingViewSet.create): public but not on the list of such endpoints",
        "GET unlisted-public/ (SignedInOnlyPublicView): public but not on the list of such endpoints",
        "plain/ (_plain_view): plain Django view outside the admin, not on PLAIN_VIEWS",
    ]
    assert len(offenders) == len(expected), offenders
    for offender, start in zip(offenders, expected, strict=True):
        assert offender.startswith(start), (offender, start)


def test_concrete_path_fills_every_parameter() -> None:
    assert concrete_path("api/v1/^erp/customers/(?P<pk>[^/.]+)/$") == "/api/v1/erp/customers/1/"
    assert concrete_path("api/v1/chat/tools/<str:name>/run/") == "/api/v1/chat/tools/1/run/"
    assert concrete_path("v1/models/<path:model_id>") == "/v1/models/1"


# --- OpenAPI schema -------------------------------------------------------------------------------------------------


def test_schema_extensions_are_resolved_at_start_up() -> None:
    """Resolved lazily, two first schema requests at once could fail (a race inside drf-spectacular); the core app
    resolves every extension's target class when it starts."""
    from drf_spectacular.plumbing import OpenApiGeneratorExtension

    extensions = [e for base in OpenApiGeneratorExtension.__subclasses__() for e in base._registry]
    assert "ApiKeyAuthenticationScheme" in {e.__name__ for e in extensions}
    assert [e.__name__ for e in extensions if isinstance(e.target_class, str)] == []


def test_openapi_schema_generates_without_warnings_and_validates(tmp_path: Path, capsys) -> None:
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    except CommandError as exc:
        pytest.fail(f"drf-spectacular: {exc}\n{capsys.readouterr().err}")
    assert target.read_text().startswith("openapi: 3")
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache


def test_openapi_schema_content() -> None:
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    assert {"/api/v1/auth/token/", "/api/v1/core/api-keys/", "/api/v1/core/audit/"} <= set(schema["paths"])
    assert {"jwtAuth", "apiKeyAuth"} <= set(schema["components"]["securitySchemes"])
    # the docs and schema endpoints are not part of the documented API
    assert not any(p.startswith("/api/schema") for p in schema["paths"])


@pytest.mark.django_db
def test_schema_and_docs_are_served_anonymously(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "AI Stack API"

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # the Swagger UI is served from drf-spectacular-sidecar's static files, not from a CDN
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    assert reverse("api-schema") in html


# --- Migrations -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_missing_migrations(capsys) -> None:
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit as exc:
        pytest.fail(
            f"makemigrations --check found model changes without a migration (exit {exc.code}):\n"
            f"{capsys.readouterr().out}"
        )


# --- Admin ----------------------------------------------------------------------------------------------------------

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_admin_registry_covers_the_platform() -> None:
    labels = {model._meta.label for model, _ in REGISTERED}
    assert {"auth.User", "auth.Group", "core.ApiKey", "core.AuditLog", "django_celery_beat.PeriodicTask"} <= labels


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_admin_changelist_and_add_pages_render(admin_client, admin_user, model, model_admin) -> None:
    response = admin_client.get(_admin_url(model, "changelist"))
    assert response.status_code == 200, response.content[:500]

    request = RequestFactory().get("/admin/")
    request.user = admin_user
    add = admin_client.get(_admin_url(model, "add"))
    if model_admin.has_add_permission(request):
        assert add.status_code == 200, add.content[:500]
    else:
        assert add.status_code == 403


def _make_user(owner: Any) -> models.Model:
    return UserFactory(username="change-page-user")


def _make_group(owner: Any) -> models.Model:
    return Group.objects.get(name="guest")


def _make_api_key(owner: Any) -> models.Model:
    return api_key_create(owner=owner, name="change page key")[0]


def _make_audit_entry(owner: Any) -> models.Model:
    return audit_record(action="update", actor=owner, message="change page entry")


def _make_interval(owner: Any) -> models.Model:
    return IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)


def _make_crontab(owner: Any) -> models.Model:
    return CrontabSchedule.objects.create(minute="5", hour="3")


def _make_periodic_task(owner: Any) -> models.Model:
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(name="change page task", task="core.purge_audit_log", interval=interval)


CHANGE_PAGE_OBJECTS: dict[type[models.Model], Callable[[Any], models.Model]] = {
    get_user_model(): _make_user,
    Group: _make_group,
    ApiKey: _make_api_key,
    AuditLog: _make_audit_entry,
    IntervalSchedule: _make_interval,
    CrontabSchedule: _make_crontab,
    PeriodicTask: _make_periodic_task,
}


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(CHANGE_PAGE_OBJECTS), ids=[m._meta.label for m in CHANGE_PAGE_OBJECTS])
def test_admin_change_page_renders(admin_client, admin_user, model) -> None:
    obj = CHANGE_PAGE_OBJECTS[model](admin_user)
    response = admin_client.get(_admin_url(model, "change", obj.pk))
    assert response.status_code == 200, response.content[:500]
    assert str(obj) in response.content.decode() or model is AuditLog  # AuditLog's str holds a formatted timestamp


GUARDED = [model for model, model_admin in REGISTERED if isinstance(model_admin, GuardedModelAdminMixin)]


def test_guarded_admins_are_covered() -> None:
    assert ApiKey in GUARDED


@pytest.mark.django_db
@pytest.mark.parametrize("model", [m for m in GUARDED if m in CHANGE_PAGE_OBJECTS], ids=lambda m: m._meta.label)
def test_admin_object_permission_pages_render(admin_client, admin_user, model) -> None:
    """django-guardian's object-permissions pages (linked from the change form) render under Unfold."""
    obj = CHANGE_PAGE_OBJECTS[model](admin_user)
    grantee = UserFactory(username="grantee", role="user")
    change = admin_client.get(_admin_url(model, "change", obj.pk))
    assert _admin_url(model, "permissions", obj.pk) in change.content.decode()
    admin_client.raise_request_exception = False
    assert admin_client.get(_admin_url(model, "permissions", obj.pk)).status_code == 200
    assert admin_client.get(_admin_url(model, "permissions_manage_user", obj.pk, grantee.pk)).status_code == 200


@pytest.mark.django_db
def test_admin_api_key_add_form_creates_a_key(admin_client) -> None:
    """The control for the invalid cases below: a good form creates exactly one key through the service."""
    owner = UserFactory(username="key-owner", role="user")
    response = admin_client.post("/admin/core/apikey/add/", {"name": "ci", "owner": owner.pk, "scopes": '["chat.use"]'})
    assert response.status_code == 302
    key = ApiKey.objects.get()
    assert (key.owner, key.scopes) == (owner, ["chat.use"])
    assert key.prefix.startswith("ask_")
    assert AuditLog.objects.filter(target_type="core.apikey", target_id=str(key.pk), action="create").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"scopes": '["core.audit"]'}, id="scope-the-owner-lacks"),
        pytest.param({"scopes": '["no.such"]'}, id="unknown-scope"),
        pytest.param({"scopes": '"chat.use"'}, id="scopes-not-a-list"),
        pytest.param({"scopes": "[]", "expires_at_0": "2000-01-01", "expires_at_1": "00:00:00"}, id="expired"),
    ],
)
def test_admin_api_key_add_form_rejects_bad_input(admin_client, data) -> None:
    """Bad input in the admin is a form error on the page (200), never a 500, and no key is written."""
    admin_client.raise_request_exception = False
    owner = UserFactory(username="key-owner", role="guest")
    response = admin_client.post("/admin/core/apikey/add/", {"name": "ci", "owner": owner.pk, **data})
    assert response.status_code == 200, response.status_code
    assert response.context["adminform"].form.errors
    assert ApiKey.objects.count() == 0


@pytest.mark.django_db
def test_admin_index_shows_title_and_sidebar_groups(admin_client) -> None:
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "AI Stack" in html
    assert "Security" in html
    assert "Scheduling" in html
    groups = {group["title"]: group for group in response.context["sidebar_navigation"]}
    assert {"Security", "Scheduling"} <= set(groups)
    security_links = {item["link"] for item in groups["Security"]["items"]}
    assert {"/admin/core/auditlog/", "/admin/core/apikey/", "/admin/auth/user/", "/admin/auth/group/"} <= security_links
    assert "/admin/django_celery_beat/periodictask/" in {item["link"] for item in groups["Scheduling"]["items"]}
    for link in security_links:
        assert f'href="{link}"' in html


@pytest.mark.django_db
def test_admin_sidebar_hides_what_a_role_cannot_see(client) -> None:
    client.force_login(UserFactory(role="guest", is_staff=True))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    titles = {group["title"] for group in response.context["sidebar_navigation"]}
    assert "Security" not in titles
    assert 'href="/admin/core/auditlog/"' not in response.content.decode()


# --- Role users in the admin ----------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, db) -> Callable[..., Any]:
    def _login(role: str | None, **kwargs: Any) -> Any:
        user = UserFactory(role=role, is_staff=True, **kwargs)
        client.force_login(user)
        return client

    return _login


@pytest.mark.django_db
def test_guest_staff_user_sees_admin_index_but_not_audit_log(staff_client) -> None:
    client = staff_client("guest")
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get("/admin/core/auditlog/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/core/apikey/").status_code == 403


@pytest.mark.django_db
def test_admin_role_staff_user_sees_audit_log(staff_client) -> None:
    client = staff_client("admin", username="admin-role-staff")
    response = client.get("/admin/core/auditlog/")
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_superuser


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "admin-role"])
def test_nobody_adds_changes_or_deletes_audit_entries(staff_client, who) -> None:
    if who == "superuser":
        client = staff_client(None, username="root-user", is_superuser=True)
    else:
        client = staff_client("admin", username="admin-role-staff")
    entry = audit_record(action="update", message="must survive")
    assert client.get("/admin/core/auditlog/add/").status_code == 403
    assert client.post("/admin/core/auditlog/add/", {"action": "update"}).status_code == 403
    assert client.get(f"/admin/core/auditlog/{entry.pk}/delete/").status_code == 403
    assert client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = client.post(
        "/admin/core/auditlog/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)  # the action does not exist: the changelist just says "no action"
    change = client.post(f"/admin/core/auditlog/{entry.pk}/change/", {"message": "rewritten"})
    assert change.status_code == 403
    entry.refresh_from_db()
    assert entry.message == "must survive"
    assert AuditLog.objects.filter(pk=entry.pk).exists()
