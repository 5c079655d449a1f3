import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import models
from django.test.utils import isolate_apps
from django.utils import timezone
from django_cryptography.fields import encrypt

from apps.core import services
from apps.core.models import ApiKey, AuditLog
from apps.core.roles import ADMIN, GUEST, USER
from tests.core.factories import AuditLogFactory

pytestmark = pytest.mark.django_db


def test_snapshot_diff_masks_secrets_but_records_that_they_changed():
    changes = services.snapshot_diff(
        {"name": "a", "password": "old-hash", "api_token": None},
        {"name": "b", "password": "new-hash", "api_token": "t"},
    )
    assert changes == {"name": ["a", "b"], "password": ["********", "********"], "api_token": [None, "********"]}
    assert services.snapshot_diff({"password": "same"}, {"password": "same"}) == {}


@isolate_apps("apps.core")
def test_encrypted_fields_are_masked_whatever_their_name():
    """A django-cryptography field is never written to the audit log in clear, even with a harmless name."""

    class Vault(models.Model):
        label = models.CharField(max_length=20)
        combination = encrypt(models.CharField(max_length=50, blank=True))

        class Meta:
            app_label = "core"

        def __str__(self) -> str:
            return self.label

    before = services.model_snapshot(Vault(pk=1, label="a", combination="1234-secret"))
    after = services.model_snapshot(Vault(pk=1, label="a", combination="5678-secret"))
    assert "secret" not in repr(before) + repr(after)
    assert services.snapshot_diff(before, after) == {"combination": ["********", "********"]}
    relabelled = services.model_snapshot(Vault(pk=1, label="b", combination="5678-secret"))
    assert services.snapshot_diff(after, relabelled) == {"label": ["a", "b"]}
    cleared = services.model_snapshot(Vault(pk=1, label="b", combination=""))
    assert services.snapshot_diff(relabelled, cleared) == {"combination": ["********", ""]}

    entry = services.audit_record(action="create", target_type="core.vault", changes=services.snapshot_diff({}, after))
    entry.refresh_from_db()
    assert entry.changes["combination"] == [None, "********"]
    assert "secret" not in str(entry.changes)


def test_admin_permission_denial_is_audited(client):
    """Refusals in the admin are in the audit log like the API's (who, where, outcome)."""
    from tests.core.factories import UserFactory

    guest = UserFactory(username="guest-staff", role=GUEST, is_staff=True)
    client.force_login(guest)
    assert client.get("/admin/core/auditlog/").status_code == 403
    assert client.get("/admin/auth/user/add/", HTTP_USER_AGENT="probe/1.0").status_code == 403
    entries = AuditLog.objects.filter(action="permission_denied", actor=guest).order_by("id")
    assert [(e.path, e.source, e.outcome, e.method) for e in entries] == [
        ("/admin/core/auditlog/", "admin", "denied", "GET"),
        ("/admin/auth/user/add/", "admin", "denied", "GET"),
    ]
    assert entries[1].user_agent == "probe/1.0"
    assert entries[0].ip_address == "127.0.0.1"


def test_admin_create_change_delete_are_audited(admin_client, admin_user):
    response = admin_client.post("/admin/auth/group/add/", {"name": "auditors"})
    assert response.status_code == 302
    group = Group.objects.get(name="auditors")
    created = AuditLog.objects.get(action="create", target_type="auth.group", target_id=str(group.pk))
    assert created.actor == admin_user and created.source == "admin" and created.changes["name"] == [None, "auditors"]

    admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "auditors-2"})
    updated = AuditLog.objects.get(action="update", target_id=str(group.pk))
    assert updated.changes == {"name": ["auditors", "auditors-2"]}

    admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    deleted = AuditLog.objects.get(action="delete", target_id=str(group.pk))
    assert deleted.changes["name"] == ["auditors-2", None]
    assert not Group.objects.filter(pk=group.pk).exists()


def test_admin_bulk_delete_audits_each_object(admin_client):
    groups = [Group.objects.create(name=f"tmp{i}") for i in range(3)]
    response = admin_client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="delete", target_type="auth.group").count() == 3


def test_admin_user_password_change_is_audited_without_the_password(admin_client, make_user):
    user = make_user()
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "An0ther-long-pass", "password2": "An0ther-long-pass", "usable_password": "true"},
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="action", target_id=str(user.pk), message="Password changed")
    assert "An0ther" not in str(entry.changes)


def test_admin_api_key_creation_shows_secret_once_and_stores_hash(admin_client, make_user):
    owner = make_user(role=USER)
    response = admin_client.post(
        "/admin/core/apikey/add/", {"name": "from admin", "owner": owner.pk, "scopes": "[]"}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="from admin")
    shown = [str(m) for m in response.context["messages"]]
    assert any(key.prefix in m for m in shown)
    secret = next(m for m in shown if key.prefix in m).rsplit(" ", 1)[-1]
    assert services.api_key_authenticate(raw_key=secret).pk == key.pk


def test_audit_log_is_read_only_in_the_admin_even_for_superusers(admin_client):
    entry = AuditLogFactory()
    assert admin_client.get("/admin/core/auditlog/").status_code == 200
    assert admin_client.get("/admin/core/auditlog/add/").status_code == 403
    assert admin_client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    page = admin_client.get(f"/admin/core/auditlog/{entry.pk}/change/")
    assert page.status_code == 200
    admin_client.post(f"/admin/core/auditlog/{entry.pk}/change/", {"action": "delete"})
    entry.refresh_from_db()
    assert entry.action == "update"


def test_audit_api_filters_and_search(role_client, role_users):
    admin = role_users[ADMIN]
    AuditLogFactory(actor=admin, action="login", target_type="auth.user")
    AuditLogFactory(actor=role_users[USER], action="create", target_type="core.apikey", target_id="77")
    old = AuditLogFactory(actor=admin, action="update")
    AuditLog.objects.filter(pk=old.pk).update(timestamp=timezone.now() - dt.timedelta(days=3))
    client = role_client(ADMIN)

    rows = client.get("/api/v1/core/audit/?target_type=core.apikey&target_id=77").json()["results"]
    assert [(r["action"], r["actor"]) for r in rows] == [("create", "user-user")]
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    recent = client.get("/api/v1/core/audit/", {"since": since, "actor_id": admin.pk}).json()["results"]
    assert old.pk not in [r["id"] for r in recent] and recent
    assert client.get("/api/v1/core/audit/?q=user-user").json()["count"] >= 1


def test_audit_date_filters_take_any_offset_python_reads(role_client, role_users):
    entry = AuditLogFactory(actor=role_users[ADMIN])
    client = role_client(ADMIN)
    # offsets past PostgreSQL's limit are converted to UTC first; the comparison is still exact
    after = (entry.timestamp + dt.timedelta(minutes=1)).astimezone(dt.timezone(dt.timedelta(hours=-19, minutes=-52)))
    rows = client.get("/api/v1/core/audit/", {"until": after.isoformat()}).json()["results"]
    assert entry.pk in [r["id"] for r in rows]
    rows = client.get("/api/v1/core/audit/", {"since": after.isoformat()}).json()["results"]
    assert entry.pk not in [r["id"] for r in rows]
    # a date that cannot be expressed in UTC is unreadable input
    response = client.get("/api/v1/core/audit/", {"until": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    assert "until" in response.json()["error"]["details"]


def test_audit_api_is_read_only(role_client):
    entry = AuditLogFactory()
    client = role_client(ADMIN)
    assert client.delete(f"/api/v1/core/audit/{entry.pk}/").status_code == 405
    assert client.post("/api/v1/core/audit/", {}, format="json").status_code == 405


def test_audit_api_key_is_null_without_a_key_and_documented_so(role_client, role_users, make_api_key):
    from drf_spectacular.generators import SchemaGenerator

    key, _ = make_api_key(role_users[ADMIN])
    without = AuditLogFactory(actor=role_users[ADMIN])
    with_key = AuditLogFactory(actor=role_users[ADMIN], api_key=key)
    client = role_client(ADMIN)
    assert client.get(f"/api/v1/core/audit/{without.pk}/").json()["api_key"] is None
    assert client.get(f"/api/v1/core/audit/{with_key.pk}/").json()["api_key"] == key.prefix
    field = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["AuditLog"]
    assert field["properties"]["api_key"]["nullable"] is True


def test_audit_list_query_count_is_constant(role_client, django_assert_max_num_queries):
    AuditLogFactory.create_batch(30)
    client = role_client(ADMIN)
    with django_assert_max_num_queries(7):  # one of them reads the caller's limits for the API-call meter
        assert client.get("/api/v1/core/audit/?page_size=200").status_code == 200


def test_purge_removes_only_entries_past_retention(settings):
    keep = AuditLogFactory()
    stale = AuditLogFactory()
    AuditLog.objects.filter(pk=stale.pk).update(timestamp=timezone.now() - dt.timedelta(days=400))
    settings.AUDIT_RETENTION_DAYS = 365
    assert services.audit_purge() == 1
    assert AuditLog.objects.filter(pk=keep.pk).exists() and not AuditLog.objects.filter(pk=stale.pk).exists()
