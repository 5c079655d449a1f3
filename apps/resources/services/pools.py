"""Writes of pools and reservations: booking without overbooking, cancelling, completing, and pre-emption through an
approval.

Booking locks the pool row (select_for_update) and then checks the peak concurrent load of the ACTIVE reservations
overlapping the window (apps.resources.selectors.pools), so two bookings racing for the last capacity are decided one
after the other: one fits, the other gets a 409 ``pool_overbooked``.

Pre-emption (``reservation_preempt_request``) never happens directly: it files an approval of action
``reservation.preempt`` naming the request and its victims (strictly lower priority, lowest first, then the latest
created; the fewest that make it fit). Approved, it runs under the pool lock: the named victims still active become
PREEMPTED (``preempted_by`` the new reservation) and the new reservation is created, all or nothing (if the victims no
longer make room, the approval fails and nothing changes). Rolling it back cancels the new reservation (if still
active) and restores each victim that has not ended and still fits, highest priority first; a victim that no longer
fits (the capacity was booked meanwhile) stays pre-empted, and the approval's result lists which were restored.

A reservation's ``group`` defaults to the user's first group (by id); roles are groups, so without other groups that
is the user's role.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.services import audit_model_change, audit_record, model_snapshot

from ..choices import PRIORITY_RANK, Priority, ReservationStatus
from ..models import ApprovalRequest, PoolReservation, ResourcePool
from ..models.pools import AMOUNT_PLACES
from ..selectors.pools import peak_load, pool_peak_booked, preemption_victims
from .approvals import approval_request, register_approval_action

MAX_WINDOW = dt.timedelta(days=366)
PREEMPT = "reservation.preempt"
_PLACES = Decimal(1).scaleb(-AMOUNT_PLACES)


class PoolOverbooked(Conflict):
    default_code = "pool_overbooked"


def _overbooked(pool: ResourcePool, peak: Decimal, amount: Decimal) -> PoolOverbooked:
    return PoolOverbooked(
        gettext("The pool %(pool)s has %(available)s free in this window; %(requested)s was asked for.")
        % {"pool": pool.name, "available": max(pool.capacity - peak, Decimal(0)), "requested": amount},
        details={
            "capacity": str(pool.capacity),
            "peak_booked": str(peak),
            "requested": str(amount),
            "available": str(max(pool.capacity - peak, Decimal(0))),
        },
    )


def clean_amount(amount: Any) -> Decimal:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValidationFailed(gettext("The amount must be a number."), details={"amount": str(amount)}) from exc
    if not value.is_finite() or value <= 0:
        raise ValidationFailed(gettext("The amount must be greater than zero."), details={"amount": str(amount)})
    if value != value.quantize(_PLACES):
        raise ValidationFailed(
            gettext("The amount has at most %(places)s decimal places.") % {"places": AMOUNT_PLACES},
            details={"amount": str(amount)},
        )
    return value.quantize(_PLACES)


def clean_window(starts_at: Any, ends_at: Any) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes (in UTC), ``starts_at < ends_at``, at most 366 days apart."""
    values = []
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if isinstance(value, str):
            value = parse_datetime(value)
        if not isinstance(value, dt.datetime):
            raise ValidationFailed(gettext("Give the window as date-times."), details={name: "datetime expected"})
        if timezone.is_naive(value):
            raise ValidationFailed(
                gettext("Date-times need a time zone (e.g. 2026-01-01T08:00:00Z)."), details={name: "naive"}
            )
        values.append(value.astimezone(dt.UTC))
    start, end = values
    if end <= start:
        raise ValidationFailed(gettext("The window must end after it starts."), details={"ends_at": "before start"})
    if end - start > MAX_WINDOW:
        raise ValidationFailed(
            gettext("A reservation lasts at most %(days)s days.") % {"days": MAX_WINDOW.days},
            details={"ends_at": "window too long"},
        )
    return start, end


def clean_priority(priority: Any) -> str:
    if priority not in Priority.values:
        raise ValidationFailed(
            gettext("Unknown priority."), details={"priority": str(priority), "allowed": list(Priority.values)}
        )
    return str(priority)


def _lock_pool(pool: ResourcePool | int) -> ResourcePool:
    pk = pool.pk if isinstance(pool, ResourcePool) else pool
    try:
        return ResourcePool.objects.select_for_update().get(pk=pk)
    except ResourcePool.DoesNotExist as exc:
        raise NotFound(gettext("No such resource pool."), details={"pool": pk}) from exc


def _check_pool_accepts(pool: ResourcePool, amount: Decimal) -> None:
    if not pool.active:
        raise Conflict(gettext("The pool is inactive and takes no reservations."), code="pool_inactive")
    if amount > pool.capacity:
        raise ValidationFailed(
            gettext("The amount exceeds the pool's capacity of %(capacity)s.") % {"capacity": pool.capacity},
            code="amount_over_capacity",
            details={"amount": str(amount), "capacity": str(pool.capacity)},
        )


def default_group(user: Any) -> Group | None:
    return user.groups.order_by("id").first()


def _save_new(reservation: PoolReservation, actor: Any) -> PoolReservation:
    reservation.full_clean()
    reservation.save()
    audit_record(
        action=AuditAction.CREATE, actor=actor, target=reservation, changes=model_snapshot(reservation), message=""
    )
    return reservation


def reservation_create(
    *,
    pool: ResourcePool,
    user: Any,
    amount: Decimal,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    priority: str = Priority.MEDIUM,
    purpose: str = "",
    actor: Any = None,
    group: Group | None = None,
) -> PoolReservation:
    """Book ``amount`` of ``pool`` for ``user`` over ``[starts_at, ends_at)``; 409 ``pool_overbooked`` when the peak
    concurrent load of the window plus ``amount`` would exceed the capacity."""
    amount = clean_amount(amount)
    start, end = clean_window(starts_at, ends_at)
    priority = clean_priority(priority)
    with transaction.atomic():
        locked = _lock_pool(pool)
        _check_pool_accepts(locked, amount)
        peak = pool_peak_booked(pool=locked, start=start, end=end)
        if peak + amount > locked.capacity:
            raise _overbooked(locked, peak, amount)
        reservation = PoolReservation(
            pool=locked,
            user=user,
            group=group if group is not None else default_group(user),
            amount=amount,
            starts_at=start,
            ends_at=end,
            priority=priority,
            purpose=purpose,
            created_by=actor,
        )
        return _save_new(reservation, actor)


def _move(reservation: PoolReservation, *, to: str, actor: Any, message: str) -> PoolReservation:
    with transaction.atomic():
        locked = PoolReservation.objects.select_for_update().get(pk=reservation.pk)
        if locked.status != ReservationStatus.ACTIVE:
            raise Conflict(
                gettext("Only an active reservation can become %(to)s; this one is %(status)s.")
                % {"to": to, "status": locked.status},
                code="invalid_transition",
                details={"status": locked.status, "requested": to, "allowed": []},
            )
        before = model_snapshot(locked)
        locked.status = to
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            action=AuditAction.ACTION,
            actor=actor,
            target=locked,
            changes={"status": [before["status"], to]},
            message=message,
        )
    return locked


def reservation_cancel(*, reservation: PoolReservation, actor: Any) -> PoolReservation:
    """Release an active reservation (409 when it is not active)."""
    return _move(reservation, to=ReservationStatus.CANCELLED, actor=actor, message="Reservation cancelled")


def reservation_complete(*, reservation: PoolReservation, actor: Any = None) -> PoolReservation:
    """Mark an active reservation as used up (409 when it is not active)."""
    return _move(reservation, to=ReservationStatus.COMPLETED, actor=actor, message="Reservation completed")


def reservations_complete_ended(*, now: dt.datetime | None = None) -> int:
    """Complete every active reservation whose window has ended (the beat job); returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        ended = PoolReservation.objects.filter(status=ReservationStatus.ACTIVE, ends_at__lte=now)
        count = ended.update(status=ReservationStatus.COMPLETED, updated_at=now)
        if count:
            audit_record(
                action=AuditAction.ACTION,
                target_type=PoolReservation._meta.label_lower,
                message=f"{count} ended reservations completed",
            )
    return int(count)


def pool_save(*, pool: ResourcePool, actor: Any = None, request: Any = None) -> ResourcePool:
    """Create or change a pool (validated); a capacity below what is booked from now on is a 409."""
    with transaction.atomic():
        before = None
        if pool.pk:
            current = _lock_pool(pool)
            before = model_snapshot(current)
            now = timezone.now()
            future = PoolReservation.objects.filter(pool=current, status=ReservationStatus.ACTIVE, ends_at__gt=now)
            last = future.order_by("-ends_at").values_list("ends_at", flat=True).first()
            if last is not None:
                peak = pool_peak_booked(pool=current, start=now, end=last)
                if pool.capacity is not None and Decimal(pool.capacity) < peak:
                    raise Conflict(
                        gettext("The capacity cannot go below the %(peak)s booked from now on.") % {"peak": peak},
                        code="capacity_below_booked",
                        details={"capacity": str(pool.capacity), "peak_booked": str(peak)},
                    )
        pool.full_clean()
        pool.save()
        if request is not None:
            audit_model_change(
                request=request,
                action=AuditAction.UPDATE if before else AuditAction.CREATE,
                instance=pool,
                before=before,
            )
        else:
            audit_record(
                action=AuditAction.UPDATE if before else AuditAction.CREATE,
                actor=actor,
                target=pool,
                changes=model_snapshot(pool),
            )
    return pool


# --- Pre-emption through an approval ---------------------------------------------------------------------------------


def _rank(priority: str) -> int:
    return PRIORITY_RANK[str(priority)]


def _preempt_validate(payload: dict[str, Any], requester: Any) -> dict[str, Any]:
    try:
        pool = ResourcePool.objects.get(pk=int(payload.get("pool_id")))  # type: ignore[arg-type]
        user = get_user_model().objects.get(pk=int(payload.get("user_id")))  # type: ignore[arg-type]
    except (TypeError, ValueError, ResourcePool.DoesNotExist, get_user_model().DoesNotExist) as exc:
        raise ValidationFailed(
            gettext("Name an existing pool and user."), details={"pool_id": "required", "user_id": "required"}
        ) from exc
    group_id = payload.get("group_id")
    if group_id is not None and not Group.objects.filter(pk=group_id).exists():
        raise ValidationFailed(gettext("No such group."), details={"group_id": group_id})
    amount = clean_amount(payload.get("amount"))
    start, end = clean_window(payload.get("starts_at"), payload.get("ends_at"))
    priority = clean_priority(payload.get("priority", Priority.MEDIUM))
    purpose = str(payload.get("purpose") or "")[:200]
    _check_pool_accepts(pool, amount)
    victims = preemption_victims(pool=pool, amount=amount, start=start, end=end, rank=_rank(priority), rank_of=_rank)
    if victims is None:
        raise _overbooked(pool, pool_peak_booked(pool=pool, start=start, end=end), amount)
    if not victims:
        raise ValidationFailed(
            gettext("The request fits without pre-empting anyone: reserve it directly."), code="no_preemption_needed"
        )
    return {
        "pool_id": pool.pk,
        "user_id": user.pk,
        "group_id": group_id,
        "amount": str(amount),
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "priority": priority,
        "purpose": purpose,
        "victims": [v.pk for v in victims],
    }


def _preempt_execute(approval: ApprovalRequest) -> dict[str, Any]:
    payload = approval.payload
    amount = clean_amount(payload["amount"])
    start, end = clean_window(payload["starts_at"], payload["ends_at"])
    pool = _lock_pool(payload["pool_id"])
    _check_pool_accepts(pool, amount)
    victims = list(
        PoolReservation.objects.select_for_update()
        .filter(pk__in=payload["victims"], pool=pool, status=ReservationStatus.ACTIVE)
        .order_by("id")
    )
    peak = pool_peak_booked(pool=pool, start=start, end=end, exclude_ids=[v.pk for v in victims])
    if peak + amount > pool.capacity:
        raise _overbooked(pool, peak, amount)
    user = get_user_model().objects.get(pk=payload["user_id"])
    group = Group.objects.filter(pk=payload["group_id"]).first() if payload.get("group_id") else None
    for victim in victims:
        victim.status = ReservationStatus.PREEMPTED
        victim.save(update_fields=["status", "updated_at"])
    reservation = _save_new(
        PoolReservation(
            pool=pool,
            user=user,
            group=group if group is not None else default_group(user),
            amount=amount,
            starts_at=start,
            ends_at=end,
            priority=payload["priority"],
            purpose=payload["purpose"],
            created_by=approval.requester,
        ),
        approval.decided_by,
    )
    for victim in victims:
        victim.preempted_by = reservation
        victim.save(update_fields=["preempted_by", "updated_at"])
        audit_record(
            action=AuditAction.ACTION,
            actor=approval.decided_by,
            target=victim,
            changes={"status": [ReservationStatus.ACTIVE, ReservationStatus.PREEMPTED], "preempted_by": reservation.pk},
            message=f"Reservation pre-empted (approval #{approval.pk})",
        )
    return {"reservation_id": reservation.pk, "preempted": [v.pk for v in victims]}


def _preempt_rollback(approval: ApprovalRequest) -> None:
    new_id = approval.result.get("reservation_id")
    pool = _lock_pool(approval.payload["pool_id"])
    now = timezone.now()
    new = PoolReservation.objects.select_for_update().filter(pk=new_id).first()
    cancelled = None
    if new is not None and new.status == ReservationStatus.ACTIVE:
        new.status = ReservationStatus.CANCELLED
        new.save(update_fields=["status", "updated_at"])
        cancelled = new.pk
        audit_record(
            action=AuditAction.ACTION,
            actor=None,
            target=new,
            message=f"Reservation cancelled by the rollback of approval #{approval.pk}",
        )
    victims = sorted(
        PoolReservation.objects.select_for_update().filter(
            pk__in=approval.result.get("preempted", []), status=ReservationStatus.PREEMPTED, preempted_by_id=new_id
        ),
        key=lambda r: (-_rank(r.priority), r.created_at, r.pk),
    )
    restored, not_restored = [], []
    for victim in victims:
        if victim.ends_at <= now:
            not_restored.append(victim.pk)
            continue
        rows = PoolReservation.objects.filter(
            pool=pool, status=ReservationStatus.ACTIVE, starts_at__lt=victim.ends_at, ends_at__gt=victim.starts_at
        ).values_list("starts_at", "ends_at", "amount")
        if peak_load(rows, start=victim.starts_at, end=victim.ends_at) + victim.amount > pool.capacity:
            not_restored.append(victim.pk)
            continue
        victim.status = ReservationStatus.ACTIVE
        victim.preempted_by = None
        victim.save(update_fields=["status", "preempted_by", "updated_at"])
        restored.append(victim.pk)
        audit_record(
            action=AuditAction.ACTION,
            target=victim,
            message=f"Reservation restored by the rollback of approval #{approval.pk}",
        )
    approval.result = {
        **approval.result,
        "rollback": {"cancelled": cancelled, "restored": restored, "not_restored": not_restored},
    }


def reservation_preempt_request(
    *,
    pool: ResourcePool,
    user: Any,
    amount: Decimal,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    priority: str,
    purpose: str = "",
    actor: Any,
    group: Group | None = None,
) -> ApprovalRequest:
    """File an approval of ``reservation.preempt`` for a request that does not fit: it names the victims whose
    release makes it fit. 400 ``no_preemption_needed`` when it fits as it is, 409 ``pool_overbooked`` when even
    every lower-priority reservation would not make room."""
    start, end = clean_window(starts_at, ends_at)
    payload = {
        "pool_id": pool.pk,
        "user_id": user.pk,
        "group_id": group.pk if group is not None else None,
        "amount": str(amount),
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "priority": priority,
        "purpose": purpose,
    }
    return approval_request(action=PREEMPT, payload=payload, requester=actor)


def _preempt_summary(payload: dict[str, Any]) -> str:
    return (
        f"{payload['amount']} of pool #{payload['pool_id']} for user #{payload['user_id']} "
        f"({payload['priority']}), {payload['starts_at']} - {payload['ends_at']}, "
        f"pre-empting {', '.join(f'#{v}' for v in payload['victims'])}"
    )


def register_pool_approval_actions() -> None:
    """Register ``reservation.preempt`` (called from ResourcesConfig.ready())."""
    register_approval_action(
        PREEMPT,
        label="Pre-empt lower-priority reservations",
        validate=_preempt_validate,
        execute=_preempt_execute,
        rollback=_preempt_rollback,
        summarize=_preempt_summary,
    )
