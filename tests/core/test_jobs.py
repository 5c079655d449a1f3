"""The core job base: legal transitions only, 202 + Location + poll, cancel, the stuck-job sweep over every job
model (stock's backtests and sweeps, RAG's documents), and tasks queued only once the transaction commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import jobs, queueing
from apps.core.choices import JobStatus
from apps.core.models import AuditLog
from apps.core.roles import GUEST, MANAGER, USER
from apps.core.tasks import sweep_stuck_jobs
from apps.core.testing import assert_error_body
from apps.rag.models import Document
from apps.stock.models import BacktestRun, Sweep
from apps.stock.services import research
from tests.rag.conftest import ingest, kb, media_root  # noqa: F401  (fixtures)
from tests.stock.conftest import index_2006  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

API = "/api/v1/stock"
ALL = list(JobStatus)


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_the_transition_table_is_enforced(source, target, make_user, index_2006):  # noqa: F811
    run = research.backtest_create(owner=make_user(USER), kind="buy_and_hold", symbol="IDX", enqueue=False)
    BacktestRun.objects.filter(pk=run.pk).update(status=source)
    run.refresh_from_db()
    legal = {
        JobStatus.PENDING: {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED},
        JobStatus.RUNNING: set(ALL),
    }.get(source, set())
    assert jobs.can_transition(source, target) == (target in legal)
    if target in legal:
        jobs.job_transition(job=run, to=target)
        run.refresh_from_db()
        assert run.status == target
        assert (run.finished_at is not None) == (target in jobs.FINISHED)
    else:
        with pytest.raises(jobs.InvalidTransition):
            jobs.job_transition(job=run, to=target)
        run.refresh_from_db()
        assert run.status == source
    # the bulk form never reopens a finished job either
    moved = jobs.jobs_transition(BacktestRun.objects.filter(pk=run.pk), to=JobStatus.RUNNING)
    assert moved == (1 if run.status in (JobStatus.PENDING, JobStatus.RUNNING) else 0)


def test_enqueue_on_commit_queues_only_after_commit(django_capture_on_commit_callbacks):
    calls: list[tuple[Any, ...]] = []

    class Task:
        @staticmethod
        def delay(*args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            queueing.enqueue_on_commit(Task, 7, mode="x")
            assert calls == []  # not inside the transaction
    assert len(callbacks) == 1 and calls == [((7,), {"mode": "x"})]

    calls.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                queueing.enqueue_on_commit(Task, 8)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == [] and calls == []  # a rolled-back transaction queues nothing


def test_post_answers_202_with_location_and_the_job_is_polled(role_client, index_2006):  # noqa: F811
    client = role_client(USER)
    response = client.post(f"{API}/backtests/", {"kind": "buy_and_hold", "symbol": "IDX"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["progress_percent"] == 0
    assert response["Location"].endswith(f"{API}/backtests/{body['id']}/")
    polled = client.get(response["Location"])
    assert polled.status_code == 200 and polled.json()["id"] == body["id"]


def test_the_job_runs_after_commit_and_reports_progress(role_client, index_2006, django_capture_on_commit_callbacks):  # noqa: F811
    client = role_client(MANAGER)
    payload = {"symbol": "IDX", "kind": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 30]}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/sweeps/", payload, format="json")
    assert response.status_code == 202
    done = client.get(response["Location"]).json()
    assert done["status"] == "succeeded" and done["progress_percent"] == 100 and done["finished_at"]


def test_cancel_a_pending_job_and_a_finished_one_is_a_conflict(role_client, index_2006):  # noqa: F811
    client = role_client(USER)
    created = client.post(f"{API}/backtests/", {"kind": "buy_and_hold", "symbol": "IDX"}, format="json").json()
    cancelled = client.post(f"{API}/backtests/{created['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert AuditLog.objects.filter(message="Job cancelled", target_id=str(created["id"])).exists()
    assert_error_body(client.post(f"{API}/backtests/{created['id']}/cancel/"), 409, "invalid_transition")
    # the task picking it up later does nothing
    run = research.backtest_execute(run_id=created["id"])
    assert run.status == "cancelled" and not run.metrics


def test_cancel_needs_the_trade_permission_and_the_object(role_client, index_2006):  # noqa: F811
    created = role_client(USER).post(f"{API}/backtests/", {"kind": "buy_and_hold", "symbol": "IDX"}, format="json")
    job_id = created.json()["id"]
    assert_error_body(role_client(GUEST).post(f"{API}/backtests/{job_id}/cancel/"), 403)
    assert_error_body(role_client(MANAGER).post(f"{API}/backtests/{job_id}/cancel/"), 404)


def test_a_running_sweep_stops_when_cancelled(make_user, index_2006):  # noqa: F811
    sweep = research.sweep_create(
        owner=make_user(USER), kind="sma_cross", grid={"fast": [5, 10], "slow": [20, 30]}, symbol="IDX", enqueue=False
    )
    jobs.job_start(model=Sweep, pk=sweep.pk)
    jobs.job_cancel(job=sweep)
    assert not jobs.job_progress(model=Sweep, pk=sweep.pk, percent=50)
    result = research.sweep_execute(sweep_id=sweep.pk, progress_every=1)
    assert result.status == "cancelled" and result.results == []


def test_job_models_are_found_by_subclassing_and_registration():
    assert {BacktestRun, Sweep, Document} <= set(jobs.job_models())


def test_the_sweep_fails_stuck_stock_jobs_and_leaves_live_ones(make_user, index_2006, settings):  # noqa: F811
    settings.JOB_STUCK_MINUTES, settings.JOB_PENDING_MINUTES = 30, 60
    owner = make_user(USER)

    def run(**fields: Any) -> BacktestRun:
        created = research.backtest_create(owner=owner, kind="buy_and_hold", symbol="IDX", enqueue=False)
        BacktestRun.objects.filter(pk=created.pk).update(**fields)
        return created

    now = timezone.now()
    silent = run(status="running", started_at=now - timedelta(hours=2), heartbeat_at=now - timedelta(minutes=31))
    alive = run(status="running", started_at=now - timedelta(hours=2), heartbeat_at=now - timedelta(minutes=5))
    forgotten = run(created_at=now - timedelta(minutes=61))
    queued = run()
    finished = run(status="succeeded", started_at=now - timedelta(days=1), finished_at=now - timedelta(days=1))
    sweep = research.sweep_create(owner=owner, kind="sma_cross", grid={"fast": [5], "slow": [20]}, symbol="IDX")
    Sweep.objects.filter(pk=sweep.pk).update(status="running", heartbeat_at=now - timedelta(hours=1))

    report = sweep_stuck_jobs.delay().get()
    assert report["stock.BacktestRun"] == {"failed": 2} and report["stock.Sweep"] == {"failed": 1}
    states = dict(BacktestRun.objects.values_list("pk", "status"))
    assert states[silent.pk] == states[forgotten.pk] == "failed"
    assert (states[alive.pk], states[queued.pk], states[finished.pk]) == ("running", "pending", "succeeded")
    assert "No progress for 30 minutes" in BacktestRun.objects.get(pk=silent.pk).error
    assert "Not picked up" in BacktestRun.objects.get(pk=forgotten.pk).error
    assert jobs.jobs_sweep_stuck() == {}  # nothing left to do


def test_the_sweep_retries_stuck_documents(kb, ingest, django_capture_on_commit_callbacks):  # noqa: F811
    stuck = ingest(kb, title="stuck", text="Stuck text.")
    hopeless = ingest(kb, title="hopeless", text="Hopeless text.")
    long_ago = timezone.now() - timedelta(hours=2)
    Document.objects.filter(pk=stuck.pk).update(status="processing", updated_at=long_ago, attempts=1)
    Document.objects.filter(pk=hopeless.pk).update(status="processing", updated_at=long_ago, attempts=3)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_stuck_jobs.delay().get()
    assert report["rag.Document"] == {"retried": 1, "failed": 1}
    stuck.refresh_from_db()
    hopeless.refresh_from_db()
    assert stuck.status == "ready" and hopeless.status == "failed"


def test_a_retried_post_with_an_idempotency_key_queues_one_job(role_client, index_2006):  # noqa: F811
    client = role_client(USER)
    payload = {"kind": "buy_and_hold", "symbol": "IDX"}
    first = client.post(f"{API}/backtests/", payload, format="json", HTTP_IDEMPOTENCY_KEY="bt-1")
    again = client.post(f"{API}/backtests/", payload, format="json", HTTP_IDEMPOTENCY_KEY="bt-1")
    assert first.status_code == again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again["Location"] == first["Location"]
    assert BacktestRun.objects.count() == 1
    other = client.post(
        f"{API}/backtests/", {**payload, "kind": "sma_cross"}, format="json", HTTP_IDEMPOTENCY_KEY="bt-1"
    )
    assert_error_body(other, 409, "idempotency_key_reused")


def test_a_kind_that_cannot_be_cancelled_says_so(role_client, index_2006, monkeypatch):  # noqa: F811
    client = role_client(USER)
    created = client.post(f"{API}/backtests/", {"kind": "buy_and_hold", "symbol": "IDX"}, format="json").json()
    monkeypatch.setattr(BacktestRun, "job_cancellable", False)
    assert_error_body(client.post(f"{API}/backtests/{created['id']}/cancel/"), 409, "not_cancellable")
    assert BacktestRun.objects.get(pk=created["id"]).status == "pending"
