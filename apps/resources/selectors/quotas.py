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
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Sum
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

_local: dict[int, tuple[float, tuple[Limits, str]]] = {}
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


_LIMITS_SQL = """
SELECT 'plan', p.code, p.is_default, a.user_id, a.id, l.meter, l.period, l."limit"
FROM resources_plan p
LEFT JOIN resources_planassignment a ON a.plan_id = p.id AND (
    a.user_id = %(user)s OR a.group_id IN (SELECT group_id FROM {groups} WHERE user_id = %(user)s)
)
LEFT JOIN resources_planlimit l ON l.plan_id = p.id
WHERE p.active AND (p.is_default OR a.id IS NOT NULL)
UNION ALL
SELECT 'override', '', false, user_id, id, meter, period, "limit" FROM resources_quotaoverride
WHERE user_id = %(user)s AND (expires_at IS NULL OR expires_at > %(now)s)
"""


def limits_compute(user_id: int, *, overrides: bool = True) -> tuple[Limits, str]:
    """The limits from the database, in one query, uncached (``effective_limits`` is the cached read), and which
    kind of plan they come from (``SOURCE_USER_PLAN``, ``SOURCE_GROUP_PLAN``, ``SOURCE_DEFAULT_PLAN`` or "")."""
    groups = get_user_model().groups.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(_LIMITS_SQL.format(groups=groups), {"user": user_id, "now": timezone.now()})
        rows = cursor.fetchall()
    mine: dict[tuple[str, str], Decimal] = {}
    mine_code = ""
    groups_plans: dict[str, dict[tuple[str, str], Decimal]] = {}
    default: dict[tuple[str, str], Decimal] = {}
    default_code = ""
    own_limits: dict[tuple[str, str], Decimal] = {}
    for kind, code, is_default, assigned_user, assignment, meter, period, value in rows:
        key = (meter, period)
        if kind == "override":
            own_limits[key] = value
        elif assignment is not None and assigned_user == user_id:
            mine_code = code
            if meter:
                mine[key] = value
        elif assignment is not None:
            plan_limits = groups_plans.setdefault(code, {})
            if meter:
                plan_limits[key] = value
        if kind == "plan" and is_default:
            default_code = code
            if meter:
                default[key] = value
    limits: Limits = {}
    if mine_code:
        source = SOURCE_USER_PLAN
        limits = {k: EffectiveLimit(k[0], k[1], v, source, mine_code) for k, v in mine.items()}
    elif groups_plans:
        source = SOURCE_GROUP_PLAN
        for key in set().union(*(plan.keys() for plan in groups_plans.values())):
            offers = [(plan.get(key), code) for code, plan in sorted(groups_plans.items())]
            if any(value is None for value, _ in offers):
                continue  # one of the user's group plans leaves this meter unlimited
            best, code = max(offers, key=lambda offer: offer[0] or 0)
            limits[key] = EffectiveLimit(key[0], key[1], best or Decimal(0), source, code)
    elif default_code:
        source = SOURCE_DEFAULT_PLAN
        limits = {k: EffectiveLimit(k[0], k[1], v, source, default_code) for k, v in default.items()}
    else:
        source = ""
    for key, value in (own_limits if overrides else {}).items():
        limits[key] = EffectiveLimit(key[0], key[1], value, SOURCE_OVERRIDE)
    return limits, source


def _setting_apply(limits: Limits, source: str) -> Limits:
    """The chat centre's daily token quota is the default plan's llm.tokens limit, for users on the default plan
    (no plan of their own nor of a group) when that plan sets none."""
    key = (Meter.LLM_TOKENS.value, Period.DAY.value)
    quota = int(getattr(settings, "CHAT_USER_DAILY_TOKEN_QUOTA", 0) or 0)
    if quota > 0 and key not in limits and source in (SOURCE_DEFAULT_PLAN, ""):
        return {**limits, key: EffectiveLimit(key[0], key[1], Decimal(quota), SOURCE_SETTING)}
    return limits


def plan_limits(*, user_id: int) -> Limits:
    """The user's limits from their plans alone (the token quota setting included where the default plan applies),
    without overrides: what an override is compared with. Uncached."""
    limits, source = limits_compute(user_id, overrides=False)
    return _setting_apply(limits, source)


def effective_limits(*, user_id: int) -> Limits:
    """The limits that apply to the user now, by (meter, period)."""
    ttl = float(getattr(settings, "RESOURCES_LIMITS_LOCAL_SECONDS", 5))
    now = time.monotonic()
    entry = _local.get(user_id) if ttl > 0 else None
    if entry is not None and entry[0] > now:
        limits, source = entry[1]
    else:
        limits, source = cached(
            f"resources:limits:{user_id}", NAMESPACES, lambda: limits_compute(user_id), timeout=3600
        )
        if ttl > 0:
            with _local_lock:
                if len(_local) > 10_000:
                    _local.clear()
                _local[user_id] = (now + ttl, (limits, source))
    return _setting_apply(limits, source)


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


FORECAST_DAYS = 14  # the daily trend a forecast of exhaustion follows


def recent_use(*, user_id: int, meters: Iterable[str], at: dt.datetime | None = None) -> dict[str, Decimal]:
    """What the user used of each meter over the last ``FORECAST_DAYS`` days, in one query."""
    today = (at or timezone.now()).astimezone(dt.UTC).date()
    rows = (
        UsageDaily.objects.filter(
            user_id=user_id,
            meter__in=list(meters),
            day__gte=today - dt.timedelta(days=FORECAST_DAYS - 1),
            day__lte=today,
        )
        .order_by()
        .values("meter")
        .annotate(total=Sum("quantity"))
    )
    return {row["meter"]: row["total"] or Decimal(0) for row in rows}


def exhaustion_forecast(
    *,
    user_id: int,
    meter: str,
    period: str,
    limit: Decimal,
    used: Decimal,
    at: dt.datetime | None = None,
    recent: Decimal | None = None,
) -> dt.date | None:
    """The day the limit is reached at the current rate. A daily limit resets at midnight, so it runs out today
    only if today's pace reaches it; a monthly limit or a level follows the mean daily use of the last
    ``FORECAST_DAYS`` days (``recent``: that use, when the caller has it), projected from what is used now. None
    when it will not be reached within the period (or, for a level, within a year), or nothing is being used."""
    now = at or timezone.now()
    today = now.astimezone(dt.UTC).date()
    if used >= limit:
        return today
    if period == Period.DAY:
        hours_gone = Decimal((now - dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)).total_seconds() / 3600)
        pace = used / max(hours_gone, Decimal("0.25")) * 24
        return today if pace >= limit else None
    if recent is None:
        recent = recent_use(user_id=user_id, meters=[meter], at=now).get(meter, Decimal(0))
    rate = recent / FORECAST_DAYS
    if rate <= 0:
        return None
    days_left = (limit - used) / rate
    eta = today + dt.timedelta(days=int(days_left.to_integral_value(rounding="ROUND_CEILING")))
    resets = period_resets_at(period, period_start(period, now))
    horizon = resets.date() if resets else today + dt.timedelta(days=366)
    return eta if eta < horizon else None


def quota_status(*, user_id: int, at: dt.datetime | None = None) -> list[QuotaLine]:
    """Per limited meter and period: limit, used, reserved, remaining, reset time and exhaustion forecast."""
    now = at or timezone.now()
    limits = effective_limits(user_id=user_id)
    counters = current_counters(user_id=user_id, at=now)
    trend = recent_use(user_id=user_id, meters={meter for meter, period in limits if period != Period.DAY}, at=now)
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
                    user_id=user_id,
                    meter=meter,
                    period=period,
                    limit=lim.limit,
                    used=used,
                    at=now,
                    recent=trend.get(meter, Decimal(0)),
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
