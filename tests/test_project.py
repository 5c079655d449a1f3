"""Project-wide checks: every API endpoint declares its permission, the OpenAPI schema is clean, migrations are
complete, and every ModelAdmin renders."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import models
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from guardian.admin import GuardedModelAdminMixin
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.models import ApiKey, AuditLog
from apps.core.permissions import ActionPermission, DenyUndeclared
from apps.core.services import api_key_create, audit_record
from tests.core.factories import UserFactory

# --- Every API endpoint declares its permission ---------------------------------------------------------------------


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


def declared_permission_classes(callback: Callable[..., Any]) -> list[Any]:
    """The permission classes the view will actually use: per-route initkwargs (e.g. an @action's
    ``permission_classes``) win over the class attribute."""
    cls = drf_view_class(callback)
    assert cls is not None
    initkwargs = getattr(callback, "initkwargs", None) or {}
    return list(initkwargs.get("permission_classes", cls.permission_classes))


def undeclared_permission_offenders(patterns: Iterable[Any]) -> list[str]:
    """Routes of DRF views that declare no permission (empty list), fall back to DenyUndeclared, or use
    ActionPermission without a ``required_permissions`` mapping (which closes every action)."""
    offenders = []
    for route, pattern in iter_url_patterns(patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None:
            continue
        perms = declared_permission_classes(pattern.callback)
        if not perms:
            offenders.append(f"{route} ({cls.__name__}): no permission classes")
        elif DenyUndeclared in perms:
            offenders.append(f"{route} ({cls.__name__}): falls back to DenyUndeclared")
        elif ActionPermission in perms and not getattr(cls, "required_permissions", None):
            offenders.append(f"{route} ({cls.__name__}): ActionPermission without required_permissions")
    return offenders


def test_every_api_view_declares_its_permission() -> None:
    patterns = get_resolver("aistack.urls").url_patterns
    drf_routes = [route for route, pattern in iter_url_patterns(patterns) if drf_view_class(pattern.callback)]
    # The walk really reaches the API (function views, nested includes and router viewsets alike).
    assert any("auth/token/" in route for route in drf_routes)
    assert any("core/api-keys" in route for route in drf_routes)
    assert any("core/audit" in route for route in drf_routes)
    assert any(route.startswith("api/schema/") for route in drf_routes)
    assert undeclared_permission_offenders(patterns) == []


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


class _DeclaredView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Any) -> Response:
        return Response({})


def test_permission_walk_reports_offenders() -> None:
    assert _ForgetfulView.permission_classes == [DenyUndeclared]  # the project default is the closed door
    patterns = [
        path("ok/", _DeclaredView.as_view()),
        path("nested/", include([path("forgetful/", _ForgetfulView.as_view())])),
        path("open/", _WideOpenView.as_view()),
        path("set/", _ForgetfulViewSet.as_view({"get": "list"})),
        path("set-fixed/", _ForgetfulViewSet.as_view({"get": "list"}, permission_classes=[AllowAny])),
        path("unmapped/", _UnmappedViewSet.as_view({"get": "list"})),
    ]
    offenders = undeclared_permission_offenders(patterns)
    assert len(offenders) == 4, offenders
    assert offenders[0].startswith("nested/forgetful/ (_ForgetfulView)")
    assert "DenyUndeclared" in offenders[0]
    assert offenders[1].startswith("open/ (_WideOpenView)")
    assert "no permission classes" in offenders[1]
    assert offenders[2].startswith("set/ (_ForgetfulViewSet)")
    assert offenders[3].startswith("unmapped/ (_UnmappedViewSet)")


# --- OpenAPI schema -------------------------------------------------------------------------------------------------


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
