"""Long jobs: one state machine, one way to queue them, one 202-then-poll API, one sweep of stuck jobs.

A job model subclasses :class:`apps.core.models.JobModel`; its service creates the row and queues the task with
``apps.core.queueing.enqueue_on_commit("app.task_name", job.pk)``; the task's service moves it with ``job_start`` /
``job_progress`` / ``job_finish`` (or ``jobs_transition`` for several rows at once, e.g. to fail them). The viewset
mixes in :class:`JobCreateMixin` (POST answers ``202`` with the job and a ``Location`` to poll) and, where the kind
allows it, :class:`JobCancelMixin` (``POST .../{id}/cancel/``). Every concrete subclass of JobModel is found through
the app registry (``job_models()``) and swept by the ``core.sweep_stuck_jobs`` beat task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .choices import AuditAction, JobStatus
from .exceptions import Conflict
from .models import JobModel
from .services import audit_record

logger = logging.getLogger(__name__)

FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# The legal moves, the one place they are decided. A running job may start again (a task redelivered after a worker
# died picks it up where it was) or go back to pending (requeued by a sweep); finished jobs stay finished.
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.PENDING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class InvalidTransition(Conflict):
    default_code = "invalid_transition"


def can_transition(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, frozenset())


def sources_of(target: str) -> list[str]:
    """The states from which ``target`` may be reached."""
    return [source for source, targets in TRANSITIONS.items() if target in targets]


def _fields_for(target: str, now: Any, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": target, **extra}
    if target == JobStatus.RUNNING:
        fields.setdefault("started_at", now)
        fields.setdefault("heartbeat_at", now)
    elif target in FINISHED:
        fields.setdefault("finished_at", now)
        if target == JobStatus.SUCCEEDED:
            fields.setdefault("progress_percent", 100)
    if "error" in fields:
        fields["error"] = str(fields["error"])[:2000]
    return fields


def job_transition(*, job: JobModel, to: str, save: bool = True, **fields: Any) -> JobModel:
    """Move ``job`` to the state ``to`` (setting the timestamps that go with it and ``fields``), or raise
    ``InvalidTransition`` (a 409). With ``save`` the changed fields are written."""
    source = job.status
    if not can_transition(source, to):
        raise InvalidTransition(
            gettext("A %(source)s job cannot become %(to)s.") % {"source": source, "to": to},
            details={"status": source, "requested": str(to)},
        )
    values = _fields_for(to, timezone.now(), **fields)
    for name, value in values.items():
        setattr(job, name, value)
    if save:
        names = list(values)
        if any(f.name == "updated_at" for f in job._meta.concrete_fields):
            names.append("updated_at")
        job.save(update_fields=names)
    return job


def jobs_transition(queryset: models.QuerySet[Any], *, to: str, **fields: Any) -> int:
    """Move every job of ``queryset`` that may legally reach ``to`` there, in one statement; returns how many moved.
    Jobs in a state from which ``to`` is illegal are left as they are (a finished job is never reopened)."""
    model = queryset.model
    values = _fields_for(to, timezone.now(), **fields)
    if any(f.name == "updated_at" for f in model._meta.concrete_fields):
        values.setdefault("updated_at", timezone.now())
    return int(queryset.filter(status__in=sources_of(to)).update(**values))


J = TypeVar("J", bound=JobModel)


def job_start(*, model: type[J], pk: Any) -> J | None:
    """Claim a job for a worker: lock it, move it to running, return it; None when it is finished (or cancelled)
    already, so a redelivered task does nothing."""
    with transaction.atomic():
        job: J = model.objects.select_for_update(of=("self",)).get(pk=pk)  # type: ignore[attr-defined]
        if job.is_finished:
            return None
        job_transition(job=job, to=JobStatus.RUNNING, started_at=timezone.now())
        return job


def job_progress(
    *,
    model: type[JobModel],
    pk: Any,
    percent: float | None = None,
    message: str | None = None,
    **fields: Any,
) -> bool:
    """Record progress (0-100, optional message) and a heartbeat of the job ``pk``, plus ``fields``, in one statement;
    returns False when the job is no longer running (cancelled or swept meanwhile), so the worker can stop."""
    values: dict[str, Any] = {"heartbeat_at": timezone.now(), **fields}
    if percent is not None:
        values["progress_percent"] = max(0, min(100, int(percent)))
    if message is not None:
        values["progress_message"] = message[:200]
    return bool(model._default_manager.filter(pk=pk, status=JobStatus.RUNNING).update(**values))


def job_finish(*, job: JobModel, to: str, **fields: Any) -> bool:
    """Finish a running job (succeeded/failed) unless it was cancelled or swept meanwhile: the row is locked and
    checked first. Returns whether it was finished by this call."""
    with transaction.atomic():
        current = type(job).objects.select_for_update(of=("self",)).get(pk=job.pk)  # type: ignore[attr-defined]
        if current.status != JobStatus.RUNNING:
            job.status = current.status
            return False
        job_transition(job=job, to=to, save=False, **fields)
        job.save()
    return True


def job_cancel(*, job: JobModel, actor: Any = None) -> JobModel:
    """Cancel a pending or running job (a running worker notices at its next ``job_progress``/``job_finish``);
    409 when the job kind cannot be cancelled or the job has finished."""
    if not type(job).job_cancellable:
        raise Conflict(gettext("Jobs of this kind cannot be cancelled."), code="not_cancellable")
    with transaction.atomic():
        locked = type(job).objects.select_for_update(of=("self",)).get(pk=job.pk)  # type: ignore[attr-defined]
        job_transition(job=locked, to=JobStatus.CANCELLED, error="Cancelled.")
        audit_record(action=AuditAction.ACTION, actor=actor, target=locked, message="Job cancelled")
    return locked  # type: ignore[no-any-return]


# --- Registry and sweep ---------------------------------------------------------------------------------------------


SweepFunction = Callable[..., dict[str, int]]
_SWEEPS: dict[type[models.Model], SweepFunction] = {}


def register_job_sweep(model: type[models.Model], sweep: SweepFunction) -> None:
    """Let ``core.sweep_stuck_jobs`` sweep ``model`` with ``sweep(now=...)`` (returning counts by outcome) instead of
    the default (fail the stuck ones). For a JobModel that retries, or for a job-like model of a higher layer that
    keeps its own states; called from the app's ``AppConfig.ready()``."""
    _SWEEPS[model] = sweep


def job_models() -> list[type[models.Model]]:
    """Every installed concrete model built on JobModel (subclassing registers it) plus those registered with
    ``register_job_sweep``."""
    found = {m for m in apps.get_models() if issubclass(m, JobModel) and not m._meta.proxy} | set(_SWEEPS)
    return sorted(found, key=lambda m: m._meta.label)


def stuck_minutes(model: type[JobModel]) -> int:
    value = model.job_stuck_minutes
    return int(value if value is not None else getattr(settings, "JOB_STUCK_MINUTES", 30))


def pending_minutes(model: type[JobModel]) -> int:
    value = model.job_pending_minutes
    return int(value if value is not None else getattr(settings, "JOB_PENDING_MINUTES", 60))


def jobs_stuck(model: type[JobModel], *, now: Any = None) -> tuple[models.QuerySet[Any], models.QuerySet[Any]]:
    """The running jobs without a sign of life for ``stuck_minutes`` and the pending ones never picked up within
    ``pending_minutes``."""
    now = now or timezone.now()
    manager = model._default_manager
    last_sign = Coalesce("heartbeat_at", "started_at", "created_at")
    running = manager.annotate(_last_sign=last_sign).filter(
        status=JobStatus.RUNNING, _last_sign__lt=now - timedelta(minutes=stuck_minutes(model))
    )
    pending = manager.filter(status=JobStatus.PENDING, created_at__lt=now - timedelta(minutes=pending_minutes(model)))
    return running, pending


def job_sweep_default(model: type[JobModel], *, now: Any = None) -> dict[str, int]:
    """Fail the stuck jobs of ``model`` with a readable reason."""
    running, pending = jobs_stuck(model, now=now)
    ids_running = list(running.values_list("pk", flat=True))
    ids_pending = list(pending.values_list("pk", flat=True))
    manager = model._default_manager
    failed = jobs_transition(
        manager.filter(pk__in=ids_running),
        to=JobStatus.FAILED,
        error=f"No progress for {stuck_minutes(model)} minutes: the worker stopped; run it again.",
    )
    failed += jobs_transition(
        manager.filter(pk__in=ids_pending),
        to=JobStatus.FAILED,
        error=f"Not picked up by a worker within {pending_minutes(model)} minutes; run it again.",
    )
    return {"failed": failed}


def jobs_sweep_stuck(
    *, now: Any = None, models_: Iterable[type[models.Model]] | None = None
) -> dict[str, dict[str, int]]:
    """Sweep every job model (with its registered sweep if it has one, else ``job_sweep_default``); returns
    the counts per model label (models with nothing to do are left out)."""
    report: dict[str, dict[str, int]] = {}
    for model in models_ if models_ is not None else job_models():
        sweep = _SWEEPS.get(model)
        counts = sweep(now=now) if sweep is not None else job_sweep_default(model, now=now)  # type: ignore[arg-type]
        if any(counts.values()):
            report[model._meta.label] = counts
            audit_record(
                action=AuditAction.ACTION,
                target_type=model._meta.label_lower,
                message=f"Stuck jobs swept: {', '.join(f'{v} {k}' for k, v in counts.items())}",
            )
            logger.warning("Stuck %s jobs swept: %s", model._meta.label, counts)
    return report


def jobs_cancel_for_user(*, user: Any, actor: Any = None) -> dict[str, int]:
    """Cancel every pending or running job owned by ``user``, across every job model (``job_models()``) whose kind
    may be cancelled; returns model label -> how many were cancelled (models with none left out). Running workers
    notice at their next ``job_progress``/``job_finish``. One audit entry per model that had jobs to cancel."""
    report: dict[str, int] = {}
    with transaction.atomic():
        for model in job_models():
            if not issubclass(model, JobModel) or not model.job_cancellable:
                continue
            queryset = model._default_manager.filter(owner=user, status__in=[JobStatus.PENDING, JobStatus.RUNNING])
            count = jobs_transition(queryset, to=JobStatus.CANCELLED, error="Cancelled with every job of the user.")
            if count:
                report[model._meta.label] = count
                audit_record(
                    action=AuditAction.ACTION,
                    actor=actor,
                    target_type=model._meta.label_lower,
                    message=f"{count} jobs of user #{user.pk} cancelled",
                )
    return report


# --- API ------------------------------------------------------------------------------------------------------------


class JobCreateMixin:
    """For a job viewset: ``job_accepted(job)`` is the answer of a POST that queued ``job``: ``202 Accepted``, the
    job as the detail endpoint shows it, and a ``Location`` header with the URL to poll. (Also for the job-like
    models registered with ``register_job_sweep``, such as RAG documents.)"""

    request: Any

    def job_location(self, job: models.Model) -> str:
        return str(self.reverse_action("detail", args=[job.pk]))  # type: ignore[attr-defined]

    def job_accepted(self, job: models.Model, data: Any = None) -> Response:
        if data is None:
            job.refresh_from_db()
            data = self.get_serializer(job).data  # type: ignore[attr-defined]
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": self.job_location(job)})


class JobCancelMixin:
    """Adds ``POST .../{id}/cancel/``: cancels a pending or running job (409 once it has finished). The viewset's
    ``required_permissions`` must name the permission for "cancel"."""

    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]]

    @extend_schema(request=None, description="Cancel the job (pending or running); 409 when it has finished.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()  # type: ignore[attr-defined]
        job = job_cancel(job=job, actor=request.user)
        return Response(self.get_serializer(job).data)  # type: ignore[attr-defined]
