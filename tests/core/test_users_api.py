import pytest
from django.contrib.auth import get_user_model

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_admin_creates_user_with_roles_and_it_is_audited(role_client, role_users):
    response = role_client(ADMIN).post(
        "/api/v1/core/users/",
        {"username": "newbie", "email": "n@example.com", "roles": [USER], "password": "Str0ng-pass-phrase"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["roles"] == [USER] and "password" not in body
    user = User.objects.get(username="newbie")
    assert user.check_password("Str0ng-pass-phrase") and user.has_perm("chat.use")
    entries = AuditLog.objects.filter(target_type="auth.user", target_id=str(user.pk))
    create = entries.get(action="create")
    assert create.actor == role_users[ADMIN] and create.changes["password"][1] == "********"
    assert entries.get(action="update").changes == {"roles": [[], [USER]]}


def test_update_roles_and_profile_records_old_and_new(role_client, make_user):
    target = make_user(role=GUEST, first_name="Ann")
    response = role_client(ADMIN).patch(
        f"/api/v1/core/users/{target.pk}/", {"first_name": "Anna", "roles": [MANAGER]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["roles"] == [MANAGER]
    target.refresh_from_db()
    assert target.has_perm("erp.approve") and not target.groups.filter(name=GUEST).exists()
    profile = AuditLog.objects.filter(target_id=str(target.pk), action="update").order_by("id")
    assert profile[0].changes == {"first_name": ["Ann", "Anna"]}
    assert profile[1].changes == {"roles": [[GUEST], [MANAGER]]}


def test_username_cannot_change_and_unknown_fields_are_refused(role_client, make_user):
    target = make_user()
    client = role_client(ADMIN)
    assert client.patch(f"/api/v1/core/users/{target.pk}/", {"username": "x"}, format="json").status_code == 200
    target.refresh_from_db()
    assert target.username != "x"
    bad = client.patch(f"/api/v1/core/users/{target.pk}/", {"is_superuser": True, "wings": 2}, format="json")
    assert bad.status_code == 400
    assert "wings" in bad.json()["error"]["details"]


def test_unknown_role_and_weak_password_are_400_and_nothing_is_written(role_client):
    client = role_client(ADMIN)
    before = User.objects.count()
    assert client.post("/api/v1/core/users/", {"username": "a", "roles": ["king"]}, format="json").status_code == 400
    weak = client.post("/api/v1/core/users/", {"username": "b", "password": "123"}, format="json")
    assert weak.status_code == 400 and "password" in weak.json()["error"]["details"]
    assert User.objects.count() == before


def test_delete_deactivates_and_cannot_target_oneself(role_client, role_users, make_user):
    target = make_user()
    client = role_client(ADMIN)
    assert client.delete(f"/api/v1/core/users/{target.pk}/").status_code == 204
    target.refresh_from_db()
    assert target.is_active is False
    me = role_users[ADMIN]
    response = client.delete(f"/api/v1/core/users/{me.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "self_deactivation"


def test_filters_by_role_and_search(role_client, role_users):
    client = role_client(ADMIN)
    managers = client.get("/api/v1/core/users/?role=manager").json()["results"]
    assert [u["username"] for u in managers] == ["manager-user"]
    found = client.get("/api/v1/core/users/?q=guest-us").json()["results"]
    assert [u["username"] for u in found] == ["guest-user"]


def test_list_query_count_does_not_grow_with_users(role_client, make_user, django_assert_max_num_queries):
    client = role_client(ADMIN)
    for i in range(15):
        make_user(role=USER, username=f"bulk{i}")
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/core/users/?page_size=100")
    assert response.status_code == 200 and response.json()["count"] >= 19
