import pytest
from django.contrib.auth.models import Group
from django.urls import include, path
from rest_framework import serializers
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.core.models import AuditLog
from apps.core.permissions import (
    ActionPermission,
    DenyUndeclared,
    RequirePermission,
    RequireRole,
    objects_visible_to,
)
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.services import object_share, object_unshare
from apps.core.viewsets import BaseModelViewSet

pytestmark = pytest.mark.django_db
factory = APIRequestFactory()


def check(permission_class, user, method="get", view=None):
    request = factory.generic(method.upper(), "/x/")
    force_authenticate(request, user=user)
    view = view or APIView()
    drf_request = view.initialize_request(request)
    return permission_class().has_permission(drf_request, view)


@pytest.mark.parametrize(("role", "expected"), [(ADMIN, True), (MANAGER, True), (USER, False), (GUEST, False)])
def test_require_permission(make_user, role, expected):
    assert check(RequirePermission("erp.approve"), make_user(role=role)) is expected


def test_require_permission_needs_every_listed_permission(make_user):
    user = make_user(role=USER)
    assert check(RequirePermission("erp.read", "erp.write"), user) is True
    assert check(RequirePermission("erp.read", "erp.approve"), user) is False


def test_require_permission_rejects_nonsense():
    with pytest.raises(ValueError):
        RequirePermission()
    with pytest.raises(ValueError):
        RequirePermission("approve")


@pytest.mark.parametrize("perm", ["erp.aprove", "erp.view_nosuchmodel", "nosuchapp.read", "stock.trade_everything"])
def test_require_permission_rejects_unknown_names_where_the_class_is_made(perm):
    with pytest.raises(ValueError, match="unknown permissions"):
        RequirePermission(perm)


@pytest.mark.parametrize("perm", ["erp.approve", "stock.view_backtestrun", "auth.change_user", "core.view_auditlog"])
def test_require_permission_takes_role_and_model_permissions(perm):
    assert RequirePermission(perm).required == (perm,)


def test_a_name_given_while_models_load_is_checked_at_setup(monkeypatch):
    """Made before the app registry has its models, the class is checked by CoreConfig.ready(): an unknown name
    stops django.setup() with ImproperlyConfigured, a model permission passes."""
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    from apps.core import permissions

    monkeypatch.setattr(apps, "models_ready", False)
    permissions.RequirePermission("stock.view_sweep")
    permissions.RequirePermission("stock.view_nothing")
    monkeypatch.setattr(apps, "models_ready", True)
    with pytest.raises(ImproperlyConfigured, match=r"stock\.view_nothing"):
        permissions.permissions_check_deferred()
    permissions.permissions_check_deferred()  # reported once, then cleared


def test_require_role_rejects_unknown_roles():
    with pytest.raises(ValueError, match="unknown roles"):
        RequireRole("admins")


@pytest.mark.parametrize(("role", "expected"), [(ADMIN, True), (MANAGER, False), (GUEST, False)])
def test_require_role(make_user, role, expected):
    assert check(RequireRole(ADMIN), make_user(role=role)) is expected


def test_require_role_accepts_any_of_several_and_superusers(make_user):
    assert check(RequireRole(ADMIN, MANAGER), make_user(role=MANAGER)) is True
    assert check(RequireRole(ADMIN), make_user(is_superuser=True)) is True


def test_inactive_users_and_anonymous_hold_nothing(make_user):
    from django.contrib.auth.models import AnonymousUser

    assert check(RequirePermission("erp.read"), make_user(role=ADMIN, is_active=False)) is False
    assert check(RequirePermission("erp.read"), AnonymousUser()) is False
    assert check(DenyUndeclared, make_user(is_superuser=True)) is False


def test_action_permission_falls_back_to_read_and_write(make_user):
    class View(APIView):
        required_permissions = {"read": "erp.read", "write": "erp.write", "approve": "erp.approve"}
        action = "update"

    guest = make_user(role=GUEST)
    assert check(ActionPermission, guest, "get", View()) is True
    assert check(ActionPermission, guest, "post", View()) is False
    view = View()
    view.action = "approve"
    assert check(ActionPermission, make_user(role=USER), "post", view) is False
    assert check(ActionPermission, make_user(role=MANAGER), "post", view) is True


def test_action_permission_with_nothing_declared_is_closed(make_user):
    class View(APIView):
        required_permissions = {"list": "erp.read"}
        action = "destroy"

    assert check(ActionPermission, make_user(is_superuser=True), "delete", View()) is False


def test_objects_visible_to_uses_guardian_grants_to_users_and_groups(make_user):
    alice, bob, carol = make_user(), make_user(), make_user()
    team = Group.objects.create(name="team")
    carol.groups.add(team)
    visible_to_alice = Group.objects.create(name="alice-only")
    visible_to_team = Group.objects.create(name="team-only")
    object_share(obj=visible_to_alice, to=alice, actor=bob)
    object_share(obj=visible_to_team, to=team, level="change", actor=bob)
    qs = Group.objects.filter(name__endswith="-only").order_by("name")

    assert list(objects_visible_to(alice, qs, owner_field="")) == [visible_to_alice]
    assert list(objects_visible_to(carol, qs, owner_field="")) == [visible_to_team]
    assert list(objects_visible_to(bob, qs, owner_field="")) == []
    assert carol.has_perm("auth.change_group", visible_to_team)
    assert not alice.has_perm("auth.change_group", visible_to_alice)

    object_unshare(obj=visible_to_alice, to=alice, actor=bob)
    assert list(objects_visible_to(alice, qs, owner_field="")) == []
    assert AuditLog.objects.filter(target_type="auth.group", message__startswith="Shared").count() == 2


def test_objects_visible_to_manage_permission_sees_all(make_user):
    Group.objects.create(name="x-only")
    manager = make_user(role=MANAGER)
    qs = Group.objects.filter(name__endswith="-only").order_by("name")
    assert objects_visible_to(manager, qs, manage_perm="erp.approve", owner_field="").count() == 1
    assert objects_visible_to(manager, qs, manage_perm="core.audit", owner_field="").count() == 0


def test_guardian_grant_lets_another_user_see_an_owned_api_key(make_user, make_api_key, client_for):
    owner, colleague = make_user(role=USER), make_user(role=USER)
    key, _ = make_api_key(owner, name="shared")
    assert client_for(colleague).get(f"/api/v1/core/api-keys/{key.pk}/").status_code == 404
    object_share(obj=key, to=colleague, level="view", actor=owner)
    assert client_for(colleague).get(f"/api/v1/core/api-keys/{key.pk}/").status_code == 200
    # view access does not allow revoking
    assert client_for(colleague).post(f"/api/v1/core/api-keys/{key.pk}/revoke/").status_code == 403
    object_share(obj=key, to=colleague, level="change", actor=owner)
    assert client_for(colleague).post(f"/api/v1/core/api-keys/{key.pk}/revoke/").status_code == 200


# --- the base viewset's own write path (serializer save + audit), on a tiny router ---------------------------------


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class GroupViewSet(BaseModelViewSet):
    queryset = Group.objects.order_by("name")
    serializer_class = GroupSerializer
    required_permissions = {"read": "erp.read", "write": "core.audit"}


router = SimpleRouter()
router.register("groups", GroupViewSet, basename="group")
urlpatterns = [path("api/v1/", include(router.urls))]


@pytest.mark.urls(__name__)
def test_base_viewset_audits_create_update_delete_and_checks_permissions(role_client, role_users):
    admin = role_client(ADMIN)
    created = admin.post("/api/v1/groups/", {"name": "alpha"}, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert admin.patch(f"/api/v1/groups/{pk}/", {"name": "beta"}, format="json").status_code == 200
    assert admin.delete(f"/api/v1/groups/{pk}/").status_code == 204
    entries = AuditLog.objects.filter(target_type="auth.group", target_id=str(pk)).order_by("id")
    assert [(e.action, e.changes.get("name")) for e in entries] == [
        ("create", [None, "alpha"]),
        ("update", ["alpha", "beta"]),
        ("delete", ["beta", None]),
    ]
    assert all(e.actor == role_users[ADMIN] and e.source == "api" for e in entries)

    guest = role_client(GUEST)
    assert guest.get("/api/v1/groups/").status_code == 200
    assert guest.post("/api/v1/groups/", {"name": "nope"}, format="json").status_code == 403
    assert not Group.objects.filter(name="nope").exists()
