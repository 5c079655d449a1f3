"""Approvals: the registry, who may ask and decide (per role, never one's own), the state machine (409 listing the
allowed moves), execution in its own savepoint (a failing action leaves nothing), the race of two approvers, the
built-in actions (queue.purge against the in-memory and a real Redis broker, jobs.cancel_user) and the API."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from kombu import Queue

from apps.core.choices import JobStatus
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.core.models import AuditLog
from apps.core.testing import assert_error_body
from apps.resources.choices import ApprovalStatus
from apps.resources.models import ApprovalRequest
from apps.resources.services import approvals as svc
from apps.resources.services.approvals import (
    approval_approve,
    approval_reject,
    approval_request,
    approval_rollback,
    register_approval_action,
)
from apps.stock.models import BacktestRun, Sweep
from tests.core.factories import UserFactory
from tests.resources.factories_pools import ApprovalRequestFactory
from tests.stock.factories import BacktestRunFactory, SweepFactory

ROLES = ("admin", "manager", "user", "guest")
URL = "/api/v1/resources/approvals/"


@pytest.fixture
def people(db) -> dict[str, Any]:
    return {role: UserFactory(username=f"ap-{role}", role=role) for role in ROLES}


@pytest.fixture
def scratch_actions() -> Iterator[dict[str, int]]:
    """Test actions: ``test.mark`` (any signed-in user may ask; writes a group, undone by the rollback) and
    ``test.broken`` (writes a group, then fails)."""
    calls = {"execute": 0}

    def mark_execute(approval: ApprovalRequest) -> dict[str, Any]:
        calls["execute"] += 1
        group = Group.objects.create(name=approval.payload["name"])
        return {"group_id": group.pk}

    def mark_rollback(approval: ApprovalRequest) -> None:
        Group.objects.filter(pk=approval.result["group_id"]).delete()

    def broken_execute(approval: ApprovalRequest) -> dict[str, Any]:
        Group.objects.create(name=approval.payload["name"])
        raise RuntimeError("the upstream said no")

    def validate(payload: dict[str, Any], requester: Any) -> dict[str, Any]:
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationFailed("name required")
        return {"name": name}

    register_approval_action(
        "test.mark",
        label="Mark",
        validate=validate,
        execute=mark_execute,
        rollback=mark_rollback,
        request_permission=None,
    )
    register_approval_action("test.broken", label="Broken", validate=validate, execute=broken_execute)
    yield calls
    svc._ACTIONS.pop("test.mark", None)
    svc._ACTIONS.pop("test.broken", None)


def test_builtin_actions_are_registered():
    assert {"reservation.preempt", "queue.purge", "jobs.cancel_user"} <= set(svc.approval_actions())
    assert svc.approval_actions()["queue.purge"].rollback is None
    assert svc.approval_actions()["reservation.preempt"].rollback is not None


# --- Asking ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "may"), [("admin", True), ("manager", True), ("user", False), ("guest", False)])
def test_who_may_ask_for_a_managed_action(people, role, may):
    if may:
        approval = approval_request(action="queue.purge", payload={"queue": "ingest"}, requester=people[role])
        assert approval.status == ApprovalStatus.REQUESTED and approval.payload == {"queue": "ingest"}
        assert approval.summary == "Purge a worker queue: queue ingest"
        assert AuditLog.objects.filter(target_type="resources.approvalrequest", target_id=str(approval.pk)).exists()
    else:
        with pytest.raises(Forbidden):
            approval_request(action="queue.purge", payload={"queue": "ingest"}, requester=people[role])
        assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_anyone_signed_in_asks_for_an_open_action(people, scratch_actions, role):
    approval = approval_request(action="test.mark", payload={"name": f"g-{role}"}, requester=people[role])
    assert approval.requester == people[role]


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("no.such", {}, "unknown_action"),
        ("queue.purge", {"queue": "celery"}, "invalid"),
        ("queue.purge", {}, "invalid"),
        ("jobs.cancel_user", {"user_id": "1"}, "invalid"),
        ("jobs.cancel_user", {"user_id": 987654321}, "unknown_user"),
        ("reservation.preempt", {"pool_id": 987654}, "invalid"),
    ],
)
def test_bad_requests_are_refused(people, action, payload, code):
    with pytest.raises(ValidationFailed) as caught:
        approval_request(action=action, payload=payload, requester=people["manager"])
    assert caught.value.code == code
    assert not ApprovalRequest.objects.exists()


# --- Deciding -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "may"), [("admin", True), ("manager", True), ("user", False), ("guest", False)])
def test_who_may_approve_and_reject(people, scratch_actions, role, may):
    requester = UserFactory(role="manager")
    first = approval_request(action="test.mark", payload={"name": f"a-{role}"}, requester=requester)
    second = approval_request(action="test.mark", payload={"name": f"b-{role}"}, requester=requester)
    if may:
        assert approval_approve(approval=first, actor=people[role]).status == ApprovalStatus.COMPLETED
        assert approval_reject(approval=second, actor=people[role], comment="no").status == ApprovalStatus.REJECTED
    else:
        for decide in (approval_approve, approval_reject):
            with pytest.raises(Forbidden) as caught:
                decide(approval=first, actor=people[role])
            assert caught.value.code == "permission_denied"
        first.refresh_from_db()
        assert first.status == ApprovalStatus.REQUESTED and scratch_actions["execute"] == 0


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_nobody_decides_their_own_request(people, role):
    approval = approval_request(action="queue.purge", payload={"queue": "agents"}, requester=people[role])
    for decide in (approval_approve, approval_reject):
        with pytest.raises(Forbidden) as caught:
            decide(approval=approval, actor=people[role])
        assert caught.value.code == "self_approval"
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.REQUESTED


def test_state_machine_and_audit(people, scratch_actions):
    approval = approval_request(action="test.mark", payload={"name": "team-x"}, requester=people["user"])
    approval = approval_approve(approval=approval, actor=people["manager"], comment="fine")
    assert approval.status == ApprovalStatus.COMPLETED
    assert approval.decided_by == people["manager"] and approval.decision_comment == "fine"
    assert approval.decided_at and approval.executed_at and not approval.error
    assert Group.objects.filter(pk=approval.result["group_id"]).exists()
    messages = list(
        AuditLog.objects.filter(target_type="resources.approvalrequest", target_id=str(approval.pk))
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert messages == [
        "Approval requested: test.mark",
        "Approval approved: test.mark",
        "Approval executing: test.mark",
        "Approved action completed: test.mark",
    ]
    for decide in (approval_approve, approval_reject):
        with pytest.raises(Conflict) as caught:
            decide(approval=approval, actor=people["admin"])
        assert caught.value.code == "invalid_transition"
        assert caught.value.details["allowed"] == ["rolled_back"]
    approval = approval_rollback(approval=approval, actor=people["admin"])
    assert approval.status == ApprovalStatus.ROLLED_BACK
    assert not Group.objects.filter(name="team-x").exists()
    with pytest.raises(Conflict) as caught:
        approval_rollback(approval=approval, actor=people["admin"])
    assert caught.value.details["allowed"] == []


def test_rollback_rules(people):
    approval = approval_request(action="queue.purge", payload={"queue": "default"}, requester=people["manager"])
    with pytest.raises(Conflict) as caught:
        approval_rollback(approval=approval, actor=people["admin"])  # not completed yet
    assert caught.value.code == "invalid_transition"
    approval = approval_approve(approval=approval, actor=people["admin"])
    assert approval.status == ApprovalStatus.COMPLETED
    with pytest.raises(Forbidden):
        approval_rollback(approval=approval, actor=people["user"])
    with pytest.raises(Conflict) as caught:
        approval_rollback(approval=approval, actor=people["admin"])
    assert caught.value.code == "not_reversible"


def test_failing_action_leaves_the_approval_failed_and_nothing_half_done(people, scratch_actions):
    approval = approval_request(action="test.broken", payload={"name": "half-done"}, requester=people["manager"])
    approval = approval_approve(approval=approval, actor=people["admin"])
    assert approval.status == ApprovalStatus.FAILED
    assert approval.error == "the upstream said no"
    assert not Group.objects.filter(name="half-done").exists()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.FAILED and approval.executed_at
    with pytest.raises(Conflict):
        approval_approve(approval=approval, actor=people["admin"])


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_give_one_winner(scratch_actions):
    requester = UserFactory(role="manager")
    approvers = [UserFactory(role="admin"), UserFactory(role="manager")]
    approval = approval_request(action="test.mark", payload={"name": "raced"}, requester=requester)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def approve(actor: Any) -> None:
        try:
            barrier.wait(timeout=10)
            result = approval_approve(approval=ApprovalRequest.objects.get(pk=approval.pk), actor=actor).status
        except Conflict as exc:
            result = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(str(result))

    threads = [threading.Thread(target=approve, args=(actor,)) for actor in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["completed", "invalid_transition"]
    assert scratch_actions["execute"] == 1
    assert Group.objects.filter(name="raced").count() == 1


# --- queue.purge ----------------------------------------------------------------------------------------------------


def _publish(queue: str, count: int) -> None:
    with current_app.connection_for_write() as conn:
        producer = conn.Producer()
        for n in range(count):
            producer.publish({"n": n}, routing_key=queue, declare=[Queue(queue, routing_key=queue)])


def test_queue_purge_with_the_in_memory_broker(people):
    assert current_app.conf.broker_url.startswith("memory://")
    _publish("backtest", 3)
    approval = approval_request(action="queue.purge", payload={"queue": "backtest"}, requester=people["manager"])
    approval = approval_approve(approval=approval, actor=people["admin"])
    assert approval.status == ApprovalStatus.COMPLETED, approval.error
    assert approval.result == {"queue": "backtest", "purged": 3}


def _redis_url() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db_number = 15 - int(worker.removeprefix("gw")) % 16
    return urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{db_number}").geturl()


def _forget_broker_connections() -> None:
    current_app._pool = None
    current_app.amqp._producer_pool = None
    current_app._local = threading.local()


@pytest.mark.redis
def test_queue_purge_against_a_real_redis_broker(people):
    url = _redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at {url} for tests marked 'redis' ({exc})")
    client.flushdb()
    saved = current_app.conf.broker_url
    current_app.conf.update(broker_url=url)
    _forget_broker_connections()
    try:
        _publish("ingest", 5)
        _publish("agents", 2)
        assert client.llen("ingest") == 5
        approval = approval_request(action="queue.purge", payload={"queue": "ingest"}, requester=people["manager"])
        approval = approval_approve(approval=approval, actor=people["admin"])
        assert approval.result == {"queue": "ingest", "purged": 5}, approval.error
        assert client.llen("ingest") == 0 and client.llen("agents") == 2  # only the named queue
    finally:
        current_app.conf.update(broker_url=saved)
        _forget_broker_connections()
        client.flushdb()
        client.close()


# --- jobs.cancel_user -----------------------------------------------------------------------------------------------


def test_cancel_every_job_of_one_user(people):
    target, bystander = UserFactory(role="user"), UserFactory(role="user")
    pending = BacktestRunFactory(owner=target)
    running = SweepFactory(owner=target, status=JobStatus.RUNNING)
    finished = BacktestRunFactory(owner=target, status=JobStatus.SUCCEEDED)
    other = BacktestRunFactory(owner=bystander)
    approval = approval_request(action="jobs.cancel_user", payload={"user_id": target.pk}, requester=people["manager"])
    approval = approval_approve(approval=approval, actor=people["admin"])
    assert approval.status == ApprovalStatus.COMPLETED, approval.error
    assert approval.result == {
        "user_id": target.pk,
        "cancelled": {"stock.BacktestRun": 1, "stock.Sweep": 1},
        "total": 2,
    }
    assert BacktestRun.objects.get(pk=pending.pk).status == JobStatus.CANCELLED
    assert Sweep.objects.get(pk=running.pk).status == JobStatus.CANCELLED
    assert BacktestRun.objects.get(pk=finished.pk).status == JobStatus.SUCCEEDED
    assert BacktestRun.objects.get(pk=other.pk).status == JobStatus.PENDING
    with pytest.raises(Conflict) as caught:
        approval_rollback(approval=approval, actor=people["admin"])
    assert caught.value.code == "not_reversible"


# --- API ------------------------------------------------------------------------------------------------------------


def test_api_lists_own_requests_and_all_for_managers(client_for, people, django_assert_max_num_queries):
    own = ApprovalRequestFactory(requester=people["user"])
    for _ in range(5):
        ApprovalRequestFactory()
    body = client_for(people["user"]).get(URL).json()
    assert [row["id"] for row in body["results"]] == [own.pk]
    client = client_for(people["manager"])
    with django_assert_max_num_queries(12):
        body = client.get(URL).json()
    assert body["count"] == 6
    assert client_for(people["guest"]).get(f"{URL}{own.pk}/").status_code == 404


@pytest.mark.parametrize(("role", "status"), [("admin", 201), ("manager", 201), ("user", 403), ("guest", 403)])
def test_api_request_per_role(client_for, people, role, status):
    response = client_for(people[role]).post(
        URL, {"action": "queue.purge", "payload": {"queue": "default"}}, format="json"
    )
    if status == 201:
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "requested"
    else:
        assert_error_body(response, 403, "permission_denied")


def test_api_bad_request_bodies(client_for, people):
    client = client_for(people["manager"])
    assert_error_body(client.post(URL, {"action": "nope", "payload": {}}, format="json"), 400, "unknown_action")
    assert_error_body(client.post(URL, {"action": "queue.purge", "payload": []}, format="json"), 400, "invalid")
    assert_error_body(client.post(URL, {"action": "queue.purge", "payload": {"queue": "x"}}, format="json"), 400)


def test_api_approve_reject_rollback(client_for, people):
    mine = approval_request(action="queue.purge", payload={"queue": "default"}, requester=people["manager"])
    other = approval_request(action="queue.purge", payload={"queue": "ingest"}, requester=people["manager"])
    manager, admin = client_for(people["manager"]), client_for(people["admin"])
    assert_error_body(manager.post(f"{URL}{mine.pk}/approve/", {}, format="json"), 403, "self_approval")
    assert_error_body(client_for(people["user"]).post(f"{URL}{mine.pk}/approve/", {}, format="json"), 404)
    response = admin.post(f"{URL}{mine.pk}/approve/", {"comment": "ok"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "completed", response.content
    assert response.json()["result"] == {"queue": "default", "purged": 0}
    error = assert_error_body(admin.post(f"{URL}{mine.pk}/approve/", {}, format="json"), 409, "invalid_transition")
    assert error["details"]["allowed"] == ["rolled_back"]
    assert_error_body(admin.post(f"{URL}{mine.pk}/rollback/", {}, format="json"), 409, "not_reversible")
    response = admin.post(f"{URL}{other.pk}/reject/", {"comment": "not now"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert response.json()["decision_comment"] == "not now"
