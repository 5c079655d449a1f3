"""Approvals for risky actions: a registry of actions and the one state machine of ApprovalRequest.

    requested -> approved -> executing -> completed | failed        requested -> rejected
    completed -> rolled_back (only for actions registered with a rollback)

An action is registered once, from ``AppConfig.ready()``, with ``register_approval_action(code, label=..., validate=...,
execute=..., rollback=..., request_permission=...)``: ``validate(payload, requester)`` returns the clean payload (or
raises ValidationFailed), ``execute(approval)`` does the work and returns a JSON-safe result, ``rollback(approval)``
undoes it. ``request_permission=None`` lets any signed-in user ask (for actions about themselves).

Deciding needs resources.manage and someone other than the requester (an admin too: ``self_approval``). Approving
executes at once, in the same locked transaction: the work runs in a savepoint, so a failing action leaves the
approval ``failed`` with its reason and nothing of the work written. The row is locked (select_for_update), so of two
approvers racing, one wins and the other gets a 409 listing the allowed moves. Every transition is audited.

The actions of this module: ``queue.purge`` (purge one known Celery queue through the broker connection of the Celery
app; no rollback: purged messages are gone) and ``jobs.cancel_user`` (cancel every pending or running job of one user,
across every job model; no rollback: a cancelled job is finished and is run again by asking for it again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.core.jobs import jobs_cancel_for_user
from apps.core.permissions import user_has_perm
from apps.core.services import audit_record

from ..choices import ApprovalStatus
from ..models import ApprovalRequest

logger = logging.getLogger(__name__)

MANAGE = "resources.manage"

TRANSITIONS: dict[str, frozenset[str]] = {
    ApprovalStatus.REQUESTED: frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED}),
    ApprovalStatus.APPROVED: frozenset({ApprovalStatus.EXECUTING}),
    ApprovalStatus.EXECUTING: frozenset({ApprovalStatus.COMPLETED, ApprovalStatus.FAILED}),
    ApprovalStatus.COMPLETED: frozenset({ApprovalStatus.ROLLED_BACK}),
    ApprovalStatus.REJECTED: frozenset(),
    ApprovalStatus.FAILED: frozenset(),
    ApprovalStatus.ROLLED_BACK: frozenset(),
}

Validate = Callable[[dict[str, Any], Any], dict[str, Any]]
Execute = Callable[[ApprovalRequest], dict[str, Any]]
Rollback = Callable[[ApprovalRequest], None]


@dataclass(frozen=True)
class ApprovalAction:
    code: str
    label: str
    validate: Validate
    execute: Execute
    rollback: Rollback | None
    request_permission: str | None
    summarize: Callable[[dict[str, Any]], str] | None = None


_ACTIONS: dict[str, ApprovalAction] = {}


def register_approval_action(
    code: str,
    *,
    label: str,
    validate: Validate,
    execute: Execute,
    rollback: Rollback | None = None,
    request_permission: str | None = MANAGE,
    summarize: Callable[[dict[str, Any]], str] | None = None,
) -> ApprovalAction:
    """Register (or re-register, e.g. on a second ``ready()``) the action ``code``; ``summarize(payload)`` optionally
    gives the one-line summary shown to approvers."""
    if not code or len(code) > 64:
        raise ValueError(f"approval action codes have 1 to 64 characters, got {code!r}")
    spec = ApprovalAction(code, label, validate, execute, rollback, request_permission, summarize)
    _ACTIONS[code] = spec
    return spec


def approval_actions() -> dict[str, ApprovalAction]:
    return dict(_ACTIONS)


def approval_action(code: str) -> ApprovalAction:
    spec = _ACTIONS.get(code)
    if spec is None:
        raise ValidationFailed(
            gettext("Unknown action %(action)s.") % {"action": code},
            code="unknown_action",
            details={"action": code, "known": sorted(_ACTIONS)},
        )
    return spec


def _check_transition(approval: ApprovalRequest, target: str) -> None:
    allowed = TRANSITIONS.get(approval.status, frozenset())
    if target not in allowed:
        raise Conflict(
            gettext("A %(status)s approval request cannot become %(target)s.")
            % {"status": approval.status, "target": target},
            code="invalid_transition",
            details={"status": approval.status, "requested": str(target), "allowed": sorted(allowed)},
        )


def _check_decider(approval: ApprovalRequest, actor: Any) -> None:
    if not user_has_perm(actor, MANAGE):
        raise Forbidden(gettext("Deciding approval requests needs the resources.manage permission."))
    if actor.pk == approval.requester_id:
        raise Forbidden(
            gettext("Nobody decides their own request, administrators included: another approver must."),
            code="self_approval",
        )


def _summary(spec: ApprovalAction, payload: dict[str, Any]) -> str:
    text = spec.summarize(payload) if spec.summarize else json.dumps(payload, sort_keys=True, default=str)
    return f"{spec.label}: {text}"[:300]


def _locked(approval: ApprovalRequest) -> ApprovalRequest:
    try:
        return ApprovalRequest.objects.select_for_update().get(pk=approval.pk)
    except ApprovalRequest.DoesNotExist as exc:
        raise NotFound(gettext("No such approval request.")) from exc


def _audit(approval: ApprovalRequest, actor: Any, message: str, **changes: Any) -> None:
    audit_record(
        action=AuditAction.ACTION,
        actor=actor,
        target=approval,
        changes={"status": approval.status, **changes},
        message=message,
    )


def approval_request(*, action: str, payload: dict[str, Any], requester: Any) -> ApprovalRequest:
    """Ask for ``action`` with ``payload``: 403 without the action's request permission, 400 for an unknown action
    or a payload its validator refuses."""
    spec = approval_action(action)
    if not requester or not requester.is_authenticated or not requester.is_active:
        raise Forbidden(gettext("Only signed-in users may ask for approvals."))
    if spec.request_permission and not user_has_perm(requester, spec.request_permission):
        raise Forbidden(
            gettext("Asking for %(action)s needs the %(perm)s permission.")
            % {"action": action, "perm": spec.request_permission}
        )
    if not isinstance(payload, dict):
        raise ValidationFailed(gettext("The payload must be an object."), details={"payload": "object expected"})
    clean = spec.validate(dict(payload), requester)
    with transaction.atomic():
        approval = ApprovalRequest(action=action, payload=clean, summary=_summary(spec, clean), requester=requester)
        approval.full_clean()
        approval.save()
        _audit(approval, requester, f"Approval requested: {action}")
    return approval


def approval_approve(*, approval: ApprovalRequest, actor: Any, comment: str = "") -> ApprovalRequest:
    """Approve and execute at once; returns the approval ``completed`` (with its result) or ``failed`` (with the
    error). 403 for a caller without resources.manage or deciding their own request, 409 unless ``requested``."""
    _check_decider(approval, actor)
    spec = approval_action(approval.action)
    with transaction.atomic():
        locked = _locked(approval)
        _check_transition(locked, ApprovalStatus.APPROVED)
        locked.status = ApprovalStatus.APPROVED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_comment = comment
        _audit(locked, actor, f"Approval approved: {locked.action}", comment=comment)
        locked.status = ApprovalStatus.EXECUTING
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_comment", "updated_at"])
        _audit(locked, actor, f"Approval executing: {locked.action}")
        try:
            with transaction.atomic():  # a savepoint: a failing action leaves nothing of its work
                result = spec.execute(locked)
        except Exception as exc:
            logger.warning("Approved action %s (#%s) failed: %s", locked.action, locked.pk, exc)
            locked.status = ApprovalStatus.FAILED
            locked.error = (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:2000]
            locked.result = {"code": getattr(exc, "code", "error"), "details": getattr(exc, "details", None)}
            message = f"Approved action failed: {locked.action}"
        else:
            locked.status = ApprovalStatus.COMPLETED
            locked.result = result or {}
            message = f"Approved action completed: {locked.action}"
        locked.executed_at = timezone.now()
        locked.save(update_fields=["status", "error", "result", "executed_at", "updated_at"])
        _audit(locked, actor, message, result=locked.result, error=locked.error)
    return locked


def approval_reject(*, approval: ApprovalRequest, actor: Any, comment: str = "") -> ApprovalRequest:
    """Refuse a request (same rules as approving: resources.manage, not one's own); 409 unless ``requested``."""
    _check_decider(approval, actor)
    with transaction.atomic():
        locked = _locked(approval)
        _check_transition(locked, ApprovalStatus.REJECTED)
        locked.status = ApprovalStatus.REJECTED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_comment = comment
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_comment", "updated_at"])
        _audit(locked, actor, f"Approval rejected: {locked.action}", comment=comment)
    return locked


def approval_rollback(*, approval: ApprovalRequest, actor: Any) -> ApprovalRequest:
    """Undo a completed action that has a rollback (resources.manage); 409 when it is not completed or cannot be
    undone. The rollback and the state change commit together or not at all."""
    if not user_has_perm(actor, MANAGE):
        raise Forbidden(gettext("Rolling back approved actions needs the resources.manage permission."))
    spec = approval_action(approval.action)
    with transaction.atomic():
        locked = _locked(approval)
        _check_transition(locked, ApprovalStatus.ROLLED_BACK)
        if spec.rollback is None:
            raise Conflict(
                gettext("The action %(action)s cannot be rolled back.") % {"action": locked.action},
                code="not_reversible",
                details={"action": locked.action},
            )
        spec.rollback(locked)
        locked.status = ApprovalStatus.ROLLED_BACK
        locked.rolled_back_at = timezone.now()
        locked.save(update_fields=["status", "rolled_back_at", "result", "updated_at"])
        _audit(locked, actor, f"Approved action rolled back: {locked.action}", result=locked.result)
    return locked


# --- queue.purge ----------------------------------------------------------------------------------------------------


def known_queues() -> list[str]:
    return list(getattr(settings, "CELERY_TASK_QUEUES_NAMES", ["default"]))


def _queue_purge_validate(payload: dict[str, Any], requester: Any) -> dict[str, Any]:
    queue = payload.get("queue")
    if not isinstance(queue, str) or queue not in known_queues():
        raise ValidationFailed(
            gettext("Name one of the known queues: %(queues)s.") % {"queues": ", ".join(known_queues())},
            details={"queue": queue if isinstance(queue, str) else None, "known": known_queues()},
        )
    return {"queue": queue}


def queue_purge(*, queue: str) -> int:
    """Remove every waiting message of ``queue`` from the broker of the Celery app; returns how many were removed."""
    with current_app.connection_for_write() as connection:
        purged = connection.default_channel.queue_purge(queue)
    return int(purged or 0)


def _queue_purge_execute(approval: ApprovalRequest) -> dict[str, Any]:
    queue = approval.payload["queue"]
    return {"queue": queue, "purged": queue_purge(queue=queue)}


# --- jobs.cancel_user -----------------------------------------------------------------------------------------------


def _jobs_cancel_validate(payload: dict[str, Any], requester: Any) -> dict[str, Any]:
    user_id = payload.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise ValidationFailed(gettext("Name the user by id."), details={"user_id": "a positive integer expected"})
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise ValidationFailed(gettext("No such user."), code="unknown_user", details={"user_id": user_id})
    return {"user_id": user_id}


def _jobs_cancel_execute(approval: ApprovalRequest) -> dict[str, Any]:
    user = get_user_model().objects.get(pk=approval.payload["user_id"])
    cancelled = jobs_cancel_for_user(user=user, actor=approval.decided_by)
    return {"user_id": user.pk, "cancelled": cancelled, "total": sum(cancelled.values())}


def register_builtin_approval_actions() -> None:
    """Register ``queue.purge`` and ``jobs.cancel_user`` (called from ResourcesConfig.ready())."""
    register_approval_action(
        "queue.purge",
        label="Purge a worker queue",
        validate=_queue_purge_validate,
        execute=_queue_purge_execute,
        summarize=lambda payload: f"queue {payload['queue']}",
    )
    register_approval_action(
        "jobs.cancel_user",
        label="Cancel every job of a user",
        validate=_jobs_cancel_validate,
        execute=_jobs_cancel_execute,
        summarize=lambda payload: f"user #{payload['user_id']}",
    )
