import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from apps.core.roles import ADMIN, GUEST, MANAGER, PERMISSIONS, ROLES, USER, app_permissions
from apps.core.services import roles_sync

# The matrix exactly as the product promises it (role -> permissions), spelled out independently of roles.py.
EXPECTED = {
    "erp.read": "MUUG",
    "erp.write": "MUU",
    "erp.approve": "MM",
    "rag.read": "MUUG",
    "rag.write": "MUU",
    "chat.use": "MUU",
    "stock.read": "MUUG",
    "stock.trade": "MUU",
    "trend.read": "MUUG",
    "content.write": "MUU",
    "content.publish": "MM",
    "agents.run": "MUU",
    "resources.manage": "MM",
    "learning.manage": "MM",
    "core.audit": "A",
}
HOLDERS = {
    "MUUG": {ADMIN, MANAGER, USER, GUEST},
    "MUU": {ADMIN, MANAGER, USER},
    "MM": {ADMIN, MANAGER},
    "A": {ADMIN},
}


def test_matrix_has_fifteen_permissions_and_four_roles():
    assert len(PERMISSIONS) == 15
    assert set(ROLES) == {"admin", "manager", "user", "guest"}
    assert set(EXPECTED) == set(PERMISSIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [ADMIN, MANAGER, USER, GUEST])
@pytest.mark.parametrize("perm", sorted(EXPECTED))
def test_role_permission_matrix_against_has_perm(make_user, role, perm):
    user = make_user(role=role)
    assert user.has_perm(perm) is (role in HOLDERS[EXPECTED[perm]])


@pytest.mark.django_db
def test_user_without_role_has_no_permission(make_user):
    user = make_user()
    assert not any(user.has_perm(p) for p in PERMISSIONS)


@pytest.mark.django_db
def test_each_permission_is_owned_by_its_app():
    for perm in PERMISSIONS:
        app_label, codename = perm.split(".")
        assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), perm
    assert ("approve", PERMISSIONS["erp.approve"]) in app_permissions("erp")


@pytest.mark.django_db
def test_groups_match_the_matrix_after_migrate():
    for role, perms in ROLES.items():
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(perms)


@pytest.mark.django_db
def test_sync_roles_is_idempotent_and_repairs_drift():
    guest = Group.objects.get(name=GUEST)
    intruder = Permission.objects.get(content_type__app_label="core", codename="audit")
    guest.permissions.add(intruder)
    Group.objects.get(name=USER).permissions.clear()

    report = roles_sync()
    assert report[GUEST]["removed"] == ["core.audit"]
    assert set(report[USER]["added"]) == ROLES[USER]
    assert not guest.permissions.filter(pk=intruder.pk).exists()

    again = roles_sync()
    assert all(not change["added"] and not change["removed"] for change in again.values())


@pytest.mark.django_db
def test_sync_roles_command(capsys):
    Group.objects.filter(name=MANAGER).delete()
    call_command("sync_roles")
    out = capsys.readouterr().out
    assert "Roles synchronised" in out
    assert Group.objects.get(name=MANAGER).permissions.count() == len(ROLES[MANAGER])


@pytest.mark.django_db
def test_roles_endpoint_lists_the_matrix(role_client):
    response = role_client(GUEST).get("/api/v1/core/roles/")
    assert response.status_code == 200
    by_name = {r["name"]: set(r["permissions"]) for r in response.json()}
    assert by_name == {name: set(perms) for name, perms in ROLES.items()}
