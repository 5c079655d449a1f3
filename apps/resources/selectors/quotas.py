"""Who may use how much: a user's effective limit per meter and period, and their quota status.

The most specific source wins, per meter and period: the user's own override, else the plan assigned to the user,
else the plan of their groups (a user in several groups with plans gets, per meter, the most generous of them; a
group plan that leaves a meter out leaves it unlimited), else the default plan. The chat centre's daily token quota
setting (``CHAT_USER_DAILY_TOKEN_QUOTA``) is the default plan's ``llm.tokens`` daily limit when that plan sets none.

Limits are read on every metered call, so they are cached: in the shared read cache until a plan, limit,
assignment, override or group membership changes (apps.core.caching versions), and for a few seconds in the
process (``RESOURCES_LIMITS_LOCAL_SECONDS``)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.signals import setting_changed
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from apps.core.caching import AUTH, cached, model_namespace

from ..choices import Meter, Period
from ..meters import METERS
from ..models import Plan, PlanAssignment, PlanLimit, QuotaCounter, QuotaOverride, UsageDaily
from ..periods import period_resets_at, period_start

SOURCE_OVERRIDE, SOURCE_USER_PLAN, SOURCE_GROUP_PLAN, SOURCE_DEFAULT_PLAN, SOURCE_SETTING = (
    "override",
    "user_plan",
    "group_plan",
    "default_plan",
    "setting",
)
NAMESPACES = (*(model_namespace(m) for m in (Plan, PlanLimit, PlanAssignment, QuotaOverride)), AUTH)


@dataclass(frozen=True)
class EffectiveLimit:
    meter: str
    period: str
    limit: Decimal
    source: str
    plan: str = ""  # the plan's code where the limit comes from a plan


Limits = dict[tuple[str, str], EffectiveLimit]

_local: dict[int, tuple[float, tuple[Limits, bool]]] = {}
_local_lock = threading.Lock()


def limits_forget_local(**kwargs: Any) -> None:
    """Drop the per-process copies (writes call it; so does a settings change in tests)."""
    with _local_lock:
        _local.clear()


setting_changed.connect(limits_forget_local)
for _model in (Plan, PlanLimit, PlanAssignment, QuotaOverride):
    post_save.connect(limits_forget_local, sender=_model, dispatch_uid=f"resources.limits.save.{_model.__name__}")
    post_delete.connect(limits_forget_local, sender=_model, dispatch_uid=f"resources.limits.delete.{_model.__name__}")
m2m_changed.connect(limits_forget_local, sender=Group.user_set.through, dispatch_uid="resources.limits.groups")


def _plan_limits(plan_ids: Iterable[int]) -> dict[int, dict[tuple[str, str], Decimal]]:
    found: dict[int, dict[tuple[str, str], Decimal]] = {}
    for row in PlanLimit.objects.filter(plan_id__in=list(plan_ids)).values("plan_id", "meter", "period", "limit"):
        found.setdefault(row["plan_id"], {})[(row["meter"], row["period"])] = row["limit"]
    return found


def _plans_compute(user_id: int) -> tuple[Limits, bool]:
    """The limits of the user's plans alone (no override), and whether the default plan is theirs (no plan of their
    own nor of a group: only then does the token quota setting apply)."""
    assignments = list(
        PlanAssignment.objects.filter(
            Q(user_id=user_id) | Q(group__in=Group.objects.filter(user__id=user_id)), plan__active=True
        ).values("plan_id", "plan__code", "user_id")
    )
    default = Plan.objects.filter(is_default=True, active=True).values("pk", "code").first()
    plan_ids = {a["plan_id"] for a in assignments} | ({default["pk"]} if default else set())
    per_plan = _plan_limits(plan_ids)
    limits: Limits = {}
    mine = [a for a in assignments if a["user_id"] == user_id]
    group_plans = [a for a in assignments if a["user_id"] is None]
    if mine:
        plan = mine[0]
        for (meter, period), value in per_plan.get(plan["plan_id"], {}).items():
            limits[(meter, period)] = EffectiveLimit(meter, period, value, SOURCE_USER_PLAN, plan["plan__code"])
    elif group_plans:
        keys = set().union(*(per_plan.get(a["plan_id"], {}).keys() for a in group_plans))
        for key in keys:
            offers = [(per_plan.get(a["plan_id"], {}).get(key), a["plan__code"]) for a in group_plans]
            if any(value is None for value, _ in offers):
                continue  # one of the user's group plans leaves this meter unlimited
            best, code = max(offers, key=lambda offer: offer[0] or 0)
            limits[key] = EffectiveLimit(key[0], key[1], best or Decimal(0), SOURCE_GROUP_PLAN, code)
    elif default:
        for (meter, period), value in per_plan.get(default["pk"], {}).items():
            limits[(meter, period)] = EffectiveLimit(meter, period, value, SOURCE_DEFAULT_PLAN, default["code"])
    return limits, not assignments


def _overrides_apply(user_id: int, limits: Limits) -> Limits:
    now = timezone.now()
    limits = dict(limits)
    overrides = QuotaOverride.objects.filter(user_id=user_id).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    for override in overrides.values("meter", "period", "limit"):
        key = (override["meter"], override["period"])
        limits[key] = EffectiveLimit(key[0], key[1], override["limit"], SOURCE_OVERRIDE)
    return limits


def limits_compute(user_id: int) -> Limits:
    """The limits from the database, uncached (``effective_limits`` is the cached read)."""
    return _overrides_apply(user_id, _plans_compute(user_id)[0])


def _setting_apply(limits: Limits, on_default_plan: bool) -> Limits:
    """The token quota setting: the default plan's daily token limit when that plan sets none."""
    key = (Meter.LLM_TOKENS.value, Period.DAY.value)
    quota = int(getattr(settings, "CHAT_USER_DAILY_TOKEN_QUOTA", 0) or 0)
    if quota > 0 and key not in limits and on_default_plan:
        limits = {**limits, key: EffectiveLimit(key[0], key[1], Decimal(quota), SOURCE_SETTING)}
    return limits


def plan_limits(*, user_id: int) -> Limits:
    """The user's limits from their plans alone (the token quota setting included where the default plan applies),
    without overrides: what an override is compared with. Uncached."""
    limits, on_default = _plans_compute(user_id)
    return _setting_apply(limits, on_default)


def _compute_for_cache(user_id: int) -> tuple[Limits, bool]:
    limits, on_default = _plans_compute(user_id)
    return _overrides_apply(user_id, limits), on_default


def effective_limits(*, user_id: int) -> Limits:
    """The limits that apply to the user now, by (meter, period)."""
    ttl = float(getattr(settings, "RESOURCES_LIMITS_LOCAL_SECONDS", 5))
    now = time.monotonic()
    entry = _local.get(user_id) if ttl > 0 else None
    if entry is not None and entry[0] > now:
        limits, on_default = entry[1]
    else:
        limits, on_default = cached(
            f"resources:limits:v2:{user_id}", NAMESPACES, lambda: _compute_for_cache(user_id), timeout=3600
        )
        if ttl > 0:
            with _local_lock:
                if len(_local) > 10_000:
                    _local.clear()
                _local[user_id] = (now + ttl, (limits, on_default))
    return _setting_apply(limits, on_default)


# --- quota status ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaLine:
    meter: str
    period: str
    limit: Decimal
    used: Decimal
    reserved: Decimal
    source: str
    plan: str
    resets_at: dt.datetime | None
    exhausted_on: dt.date | None

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.limit - self.used - self.reserved)

    @property
    def ratio(self) -> float:
        return float(self.used / self.limit) if self.limit > 0 else (1.0 if self.used > 0 else 0.0)


def current_counters(*, user_id: int, at: dt.datetime | None = None) -> dict[tuple[str, str], QuotaCounter]:
    now = at or timezone.now()
    starts = {period: period_start(period, now) for period in Period.values}
    rows = QuotaCounter.objects.filter(user_id=user_id, period_start__in=set(starts.values()))
    return {(c.meter, c.period): c for c in rows if c.period_start == starts[c.period]}


def exhaustion_forecast(
    *, user_id: int, meter: str, period: str, limit: Decimal, used: Decimal, at: dt.datetime | None = None
) -> dt.date | None:
    """The day the limit is reached at the current rate: the mean daily use of the last 14 days (7 for a daily
    limit, which can only run out today), projected from what is used now. None when it will not be reached within
    the period (or, for a level, within a year), or nothing is being used."""
    now = at or timezone.now()
    today = now.astimezone(dt.UTC).date()
    if used >= limit:
        return today
    window = 7 if period == Period.DAY else 14
    since = today - dt.timedelta(days=window - 1)
    total = sum(
        (
            row.quantity
            for row in UsageDaily.objects.filter(user_id=user_id, meter=meter, day__gte=since, day__lte=today)
        ),
        Decimal(0),
    )
    rate = total / window
    if rate <= 0:
        return None
    days_left = (limit - used) / rate
    if period == Period.DAY:
        # a daily limit resets at midnight: it runs out today only if today's pace reaches it
        hours_gone = Decimal((now - dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)).total_seconds() / 3600)
        pace = used / max(hours_gone, Decimal("0.25")) * 24
        return today if pace >= limit else None
    eta = today + dt.timedelta(days=int(days_left.to_integral_value(rounding="ROUND_CEILING")))
    resets = period_resets_at(period, period_start(period, now))
    horizon = resets.date() if resets else today + dt.timedelta(days=366)
    return eta if eta < horizon else None


def quota_status(*, user_id: int, at: dt.datetime | None = None) -> list[QuotaLine]:
    """Per limited meter and period: limit, used, reserved, remaining, reset time and exhaustion forecast."""
    now = at or timezone.now()
    limits = effective_limits(user_id=user_id)
    counters = current_counters(user_id=user_id, at=now)
    lines = []
    for (meter, period), lim in sorted(limits.items()):
        counter = counters.get((meter, period))
        used = counter.used if counter else Decimal(0)
        reserved = counter.reserved if counter else Decimal(0)
        start = period_start(period, now)
        lines.append(
            QuotaLine(
                meter=meter,
                period=period,
                limit=lim.limit,
                used=used,
                reserved=reserved,
                source=lim.source,
                plan=lim.plan,
                resets_at=period_resets_at(period, start),
                exhausted_on=exhaustion_forecast(
                    user_id=user_id, meter=meter, period=period, limit=lim.limit, used=used, at=now
                ),
            )
        )
    return lines


def meter_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "code": spec.code,
            "name": spec.label,
            "unit": str(spec.unit),
            "level": spec.level,
            "periods": list(spec.periods),
        }
        for spec in METERS.values()
    ]


def plan_of(*, user_id: int) -> Plan | None:
    """The plan that applies to the user: their own, else one of their groups' (the first by code), else the
    default plan."""
    own = PlanAssignment.objects.filter(user_id=user_id, plan__active=True).select_related("plan").first()
    if own is not None:
        return own.plan
    group = (
        PlanAssignment.objects.filter(group__user__id=user_id, plan__active=True)
        .select_related("plan")
        .order_by("plan__code")
        .first()
    )
    if group is not None:
        return group.plan
    return Plan.objects.filter(is_default=True, active=True).first()
