"""Core Idempotency-Keys: replay of the first response, 409 for the same key with another body, errors not
remembered, scopes and users kept apart, a concurrent duplicate replayed, the purge and its setting alias."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.core import idempotency
from apps.core.choices import AuditAction
from apps.core.models import AuditLog, IdempotencyKey
from apps.core.roles import USER
from apps.core.services import audit_record
from apps.core.tasks import purge_idempotency_keys

pytestmark = pytest.mark.django_db


class _CreateView(APIView):
    """A POST that writes one audit row per real run; 400 when the body asks for it."""

    permission_classes = ()

    def post(self, request: Any) -> Response:
        def handler() -> Response:
            if request.data.get("fail"):
                return Response({"error": {"code": "invalid", "message": "no", "details": {}}}, status=400)
            entry = audit_record(action=AuditAction.CREATE, message=str(request.data.get("name")))
            response = Response({"id": entry.pk, "name": request.data.get("name")}, status=201)
            response["Location"] = f"/things/{entry.pk}/"
            return response

        return idempotency.idempotent_call(request=request, scope=request.path, handler=handler)


def _post(user: Any, body: dict[str, Any], key: str | None = "k-1", path: str = "/things/") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = APIRequestFactory().post(path, body, format="json", **headers)
    force_authenticate(request, user=user)
    response = _CreateView.as_view()(request)
    response.render()
    return response


def test_same_key_same_body_replays_the_first_response_and_writes_nothing(make_user):
    user = make_user(USER)
    first = _post(user, {"name": "a"})
    again = _post(user, {"name": "a"})
    assert first.status_code == again.status_code == 201
    assert again.data == first.data and again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]  # the job/resource to poll is replayed too
    assert AuditLog.objects.filter(message="a").count() == 1
    assert not first.has_header("Idempotent-Replayed")


def test_same_key_with_another_body_is_a_conflict(make_user):
    user = make_user(USER)
    _post(user, {"name": "a"})
    changed = _post(user, {"name": "b"})
    assert changed.status_code == 409 and changed.data["error"]["code"] == "idempotency_key_reused"
    assert not AuditLog.objects.filter(message="b").exists()


def test_the_fingerprint_ignores_key_order():
    assert idempotency.request_fingerprint({"a": 1, "b": 2}) == idempotency.request_fingerprint({"b": 2, "a": 1})
    assert idempotency.request_fingerprint({"a": 1}) != idempotency.request_fingerprint({"a": 2})


def test_errors_are_not_remembered(make_user):
    user = make_user(USER)
    assert _post(user, {"fail": True}).status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert _post(user, {"name": "fixed"}, key="k-2").status_code == 201


def test_keys_are_per_user_and_per_scope(make_user):
    alice, bob = make_user(USER), make_user(USER)
    _post(alice, {"name": "a"})
    assert not _post(bob, {"name": "a"}).has_header("Idempotent-Replayed")
    assert not _post(alice, {"name": "a"}, path="/other/").has_header("Idempotent-Replayed")
    assert AuditLog.objects.filter(message="a").count() == 3


def test_without_a_key_every_request_runs(make_user):
    user = make_user(USER)
    _post(user, {"name": "a"}, key=None)
    _post(user, {"name": "a"}, key=None)
    assert AuditLog.objects.filter(message="a").count() == 2 and not IdempotencyKey.objects.exists()


def test_a_too_long_key_is_refused(make_user):
    response = _post(make_user(USER), {"name": "a"}, key="x" * 129)
    assert response.status_code == 400 and response.data["error"]["code"] == "invalid_idempotency_key"


def test_a_request_still_in_progress_is_a_conflict(make_user):
    user = make_user(USER)
    digest = idempotency.request_fingerprint({"name": "a"})
    IdempotencyKey.objects.create(user=user, scope="/things/", key="k-1", request_hash=digest)
    response = _post(user, {"name": "a"})
    assert response.status_code == 409 and response.data["error"]["code"] == "idempotency_in_progress"


def test_a_concurrent_duplicate_hits_the_unique_index_and_replays(make_user, monkeypatch):
    """The other request committed between our look-up and our insert: the insert fails on the unique index and the
    stored response is replayed instead of running the write twice."""
    user = make_user(USER)
    first = _post(user, {"name": "a"})
    real_filter = IdempotencyKey.objects.filter
    calls = {"n": 0}

    def racing_filter(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real_filter(pk=-1) if calls["n"] == 1 else real_filter(*args, **kwargs)

    monkeypatch.setattr(IdempotencyKey.objects, "filter", racing_filter)
    again = _post(user, {"name": "a"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.data == first.data
    assert AuditLog.objects.filter(message="a").count() == 1


def test_purge_forgets_old_keys(make_user, settings):
    user = make_user(USER)
    _post(user, {"name": "old"}, key="old")
    _post(user, {"name": "new"}, key="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=49))
    settings.IDEMPOTENCY_KEY_HOURS = 48
    assert purge_idempotency_keys.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_the_erp_setting_name_still_works(settings):
    settings.IDEMPOTENCY_KEY_HOURS = 48
    assert idempotency.key_hours() == 48
    settings.ERP_IDEMPOTENCY_KEY_HOURS = 6
    assert idempotency.key_hours() == 6


def test_the_viewset_mixin_makes_create_idempotent(make_user):
    from django.contrib.auth.models import Group
    from rest_framework import serializers

    from apps.core.permissions import RequirePermission
    from apps.core.viewsets import BaseModelViewSet

    class GroupSerializer(serializers.ModelSerializer):
        class Meta:
            model = Group
            fields = ["id", "name"]

    class GroupViewSet(idempotency.IdempotentCreateMixin, BaseModelViewSet):
        queryset = Group.objects.order_by("id")
        serializer_class = GroupSerializer
        permission_classes = [RequirePermission("auth.add_group")]

    view = GroupViewSet.as_view({"post": "create"})
    user = make_user(is_superuser=True)

    def post(name: str, key: str) -> Any:
        request = APIRequestFactory().post("/groups/", {"name": name}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        force_authenticate(request, user=user)
        return view(request)

    first, again = post("team", "g-1"), post("team", "g-1")
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.data == first.data and Group.objects.filter(name="team").count() == 1
    assert post("other", "g-1").status_code == 409
    GroupViewSet.idempotent_create = False
    assert post("team2", "g-1").status_code == 201  # opted out: the key is not looked at
