"""Plans, their assignment to users and groups, per-user overrides, and resetting a period's counters. Every change
is audited; raising a user's limit above their plan is an approval (``quota.raise_limit``), never a direct write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.core.services import audit_record, model_snapshot, snapshot_diff

from ..meters import MAX_QUANTITY
from ..models import Plan, PlanAssignment, QuotaCounter, QuotaOverride
from ..models.plans import validate_meter_period
from ..periods import period_start
from ..selectors.quotas import plan_limits
from .approvals import register_approval_action


def limit_clean(value: Any, *, field: str = "limit") -> Decimal:
    try:
        limit = Decimal(str(value))
    except (ArithmeticError, ValueError, TypeError):
        limit = Decimal("NaN")
    if not limit.is_finite() or limit < 0 or limit > MAX_QUANTITY:
        raise ValidationFailed(
            gettext("A limit is a number from 0 to %(max)s.") % {"max": MAX_QUANTITY},
            details={field: [gettext("Out of range.")]},
        )
    return limit.quantize(Decimal("0.000001"))


def _meter_period(meter: str, period: str) -> None:
    try:
        validate_meter_period(meter, period)
    except ValidationError as exc:
        raise ValidationFailed(gettext("Invalid meter or period."), details=exc.message_dict) from exc


def plan_assign(*, plan: Plan, user: Any = None, group: Group | None = None, actor: Any = None) -> PlanAssignment:
    """Give ``plan`` to a user or a group (replacing the plan they had)."""
    if (user is None) == (group is None):
        raise ValidationFailed(gettext("Assign the plan to a user or to a group, not both."))
    if not plan.active:
        raise ValidationFailed(gettext("The plan is not active."), details={"plan": [gettext("Inactive plan.")]})
    with transaction.atomic():
        lookup = {"user": user} if user is not None else {"group": group}
        existing = PlanAssignment.objects.select_for_update().filter(**lookup).first()
        before = model_snapshot(existing) if existing else {}
        assignment = existing or PlanAssignment(**lookup)
        assignment.plan, assignment.assigned_by = plan, actor if getattr(actor, "is_authenticated", False) else None
        assignment.full_clean()
        assignment.save()
        audit_record(
            action=AuditAction.UPDATE if existing else AuditAction.CREATE,
            actor=actor,
            target=assignment,
            changes=snapshot_diff(before, model_snapshot(assignment)),
            message=f"Plan {plan.code} assigned",
        )
    return assignment


def plan_limit_without_override(*, user_id: int, meter: str, period: str) -> Decimal | None:
    """The user's limit from their plans alone (None: unlimited), what an override is compared with (whatever
    override the user has now: raising an override is compared with the plan, not with the override)."""
    limit = plan_limits(user_id=user_id).get((meter, period))
    return limit.limit if limit is not None else None


def quota_override_set(
    *,
    user: Any,
    meter: str,
    period: str,
    limit: Any,
    reason: str = "",
    expires_at: dt.datetime | None = None,
    actor: Any = None,
    approved: bool = False,
) -> QuotaOverride:
    """Set the user's own limit for a meter and period. A limit at or below the plan's (or on a meter the plan
    leaves unlimited) is set directly; one above the plan's limit needs an approved ``quota.raise_limit`` request
    (409 ``approval_required`` otherwise)."""
    _meter_period(meter, period)
    value = limit_clean(limit)
    if expires_at is not None and (timezone.is_naive(expires_at) or expires_at <= timezone.now()):
        raise ValidationFailed(
            gettext("expires_at must be a future time with a time zone."),
            details={"expires_at": [gettext("A future, timezone-aware time.")]},
        )
    plan_limit = plan_limit_without_override(user_id=user.pk, meter=meter, period=period)
    if not approved and plan_limit is not None and value > plan_limit:
        raise Conflict(
            gettext(
                "Raising a limit above the user's plan needs an approval: request the action quota.raise_limit "
                "(POST /api/v1/resources/approvals/)."
            ),
            code="approval_required",
            details={"plan_limit": str(plan_limit) if plan_limit is not None else None, "requested": str(value)},
        )
    with transaction.atomic():
        existing = QuotaOverride.objects.select_for_update().filter(user=user, meter=meter, period=period).first()
        before = model_snapshot(existing) if existing else {}
        override = existing or QuotaOverride(user=user, meter=meter, period=period)
        override.limit, override.reason, override.expires_at = value, reason[:500], expires_at
        override.created_by = actor if getattr(actor, "is_authenticated", False) else None
        override.full_clean()
        override.save()
        audit_record(
            action=AuditAction.UPDATE if existing else AuditAction.CREATE,
            actor=actor,
            target=override,
            changes=snapshot_diff(before, model_snapshot(override)),
        )
    return override


def quota_override_delete(*, override: QuotaOverride, actor: Any = None) -> None:
    with transaction.atomic():
        before, pk = model_snapshot(override), override.pk
        override.delete()
        override.pk = pk
        audit_record(
            action=AuditAction.DELETE, actor=actor, target=override, changes={k: [v, None] for k, v in before.items()}
        )


def counters_reset(
    *,
    period: str,
    user: Any = None,
    meter: str | None = None,
    actor: Any = None,
    at: dt.datetime | None = None,
    dry_run: bool = False,
) -> int:
    """Start the current period again (used back to 0) for one user or everyone, one meter or all: forgiveness
    after an incident or a billing dispute. Levels (storage) are never reset. Returns the counters reset."""
    if period not in ("day", "month"):
        raise ValidationFailed(
            gettext("Only a daily or monthly period can be reset."), details={"period": [gettext("day or month.")]}
        )
    if meter is not None:
        _meter_period(meter, period)
    rows = QuotaCounter.objects.filter(period=period, period_start=period_start(period, at), used__gt=0)
    if user is not None:
        rows = rows.filter(user=user)
    if meter is not None:
        rows = rows.filter(meter=meter)
    if dry_run:
        return rows.count()
    with transaction.atomic():
        reset = rows.update(used=0, updated_at=timezone.now())
        audit_record(
            action=AuditAction.ACTION,
            actor=actor,
            target_type="resources.quotacounter",
            message=f"Reset {reset} {period} counters"
            + (f" of {meter}" if meter else "")
            + (f" for {user}" if user else ""),
        )
    return reset


# --- the approval action: raising a limit above the plan -------------------------------------------------------------

RAISE_LIMIT = "quota.raise_limit"
MANAGE = "resources.manage"


def _raise_limit_validate(payload: dict[str, Any], requester: Any) -> dict[str, Any]:
    """Anyone may ask for more of their own quota; asking for someone else's needs resources.manage."""
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=int(payload.get("user_id") or requester.pk))
    except (TypeError, ValueError, user_model.DoesNotExist) as exc:
        raise ValidationFailed(
            gettext("Name an existing user."), details={"user_id": [gettext("No such user.")]}
        ) from exc
    if user.pk != requester.pk and not requester.has_perm(MANAGE):
        raise Forbidden(gettext("Only resources.manage may ask for another user's limit."))
    meter, period = str(payload.get("meter") or ""), str(payload.get("period") or "")
    _meter_period(meter, period)
    limit = limit_clean(payload.get("limit"))
    expires = payload.get("expires_at")
    if expires:
        moment = parse_datetime(str(expires))
        if moment is None or timezone.is_naive(moment) or moment <= timezone.now():
            raise ValidationFailed(
                gettext("expires_at must be a future time with a time zone."),
                details={"expires_at": [gettext("A future, timezone-aware time.")]},
            )
    return {
        "user_id": user.pk,
        "meter": meter,
        "period": period,
        "limit": str(limit),
        "reason": str(payload.get("reason") or "")[:500],
        "expires_at": str(expires) if expires else None,
    }


def _raise_limit_execute(approval: Any) -> dict[str, Any]:
    data = approval.payload
    user = get_user_model().objects.get(pk=data["user_id"])
    previous = QuotaOverride.objects.filter(user=user, meter=data["meter"], period=data["period"]).first()
    override = quota_override_set(
        user=user,
        meter=data["meter"],
        period=data["period"],
        limit=data["limit"],
        reason=data["reason"] or f"approval {approval.pk}",
        expires_at=parse_datetime(data["expires_at"]) if data.get("expires_at") else None,
        actor=approval.decided_by,
        approved=True,
    )
    before = (
        {"limit": str(previous.limit), "reason": previous.reason, "expires_at": previous.expires_at}
        if previous
        else None
    )
    return {"override_id": override.pk, "previous": before}


def _raise_limit_rollback(approval: Any) -> None:
    """Put back the override the user had before (or none)."""
    override = QuotaOverride.objects.filter(pk=approval.result.get("override_id")).first()
    if override is None:
        return
    previous = approval.result.get("previous")
    if previous is None:
        quota_override_delete(override=override, actor=approval.decided_by)
        return
    quota_override_set(
        user=override.user,
        meter=override.meter,
        period=override.period,
        limit=previous["limit"],
        reason=previous["reason"],
        expires_at=parse_datetime(previous["expires_at"]) if previous.get("expires_at") else None,
        actor=approval.decided_by,
        approved=True,
    )


def _raise_limit_summary(payload: dict[str, Any]) -> str:
    return gettext("Raise %(meter)s (%(period)s) of user %(user)s to %(limit)s") % {
        "meter": payload.get("meter"),
        "period": payload.get("period"),
        "user": payload.get("user_id"),
        "limit": payload.get("limit"),
    }


def register_quota_approval_actions() -> None:
    register_approval_action(
        RAISE_LIMIT,
        label="Raise a quota limit above the plan",
        validate=_raise_limit_validate,
        execute=_raise_limit_execute,
        rollback=_raise_limit_rollback,
        request_permission=None,
        summarize=_raise_limit_summary,
    )
