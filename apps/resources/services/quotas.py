"""Quota enforcement before work starts: reserve the estimated amount atomically, do the work, settle the actual
amount (or release the hold when the work fails).

A reservation is one conditional UPDATE per limited (meter, period) counter,
``SET reserved = reserved + x WHERE used + reserved + x <= limit``, inside one transaction: PostgreSQL serialises
concurrent updates of the same row, so no two requests can both take the last unit, and a refusal on one meter
undoes what the others took. Meters without a limit are not reserved (they are only recorded when settled).

    hold = quota_reserve(user=user, amounts={"ai.calls": 1, "llm.tokens": 800}, purpose="chat")
    try:
        ...
    except Exception:
        quota_release(hold=hold)
        raise
    quota_settle(hold=hold, amounts={"ai.calls": 1, "llm.tokens": 734, "llm.tokens_in": 600, ...})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.exceptions import QuotaExceeded

from ..choices import HoldStatus
from ..meters import METERS
from ..metrics import QUOTA_REFUSALS
from ..models import QuotaCounter, QuotaHold
from ..periods import period_resets_at, period_start
from ..selectors.quotas import EffectiveLimit, current_counters, effective_limits
from .metering import _pk, quantity_clean, usage_report

_ENSURE = """
INSERT INTO resources_quotacounter (user_id, meter, period, period_start, used, reserved, updated_at)
VALUES (%s, %s, %s, %s, 0, 0, %s)
ON CONFLICT ON CONSTRAINT resources_counter_unique DO NOTHING
"""
_TAKE = """
UPDATE resources_quotacounter SET reserved = reserved + %s, updated_at = %s
WHERE user_id = %s AND meter = %s AND period = %s AND period_start = %s AND used + reserved + %s <= %s
RETURNING id, %s
"""
_TAKE_WHAT_IS_LEFT = """
WITH current AS (
    SELECT id, LEAST(%s, %s - used - reserved) AS take FROM resources_quotacounter
    WHERE user_id = %s AND meter = %s AND period = %s AND period_start = %s AND used + reserved < %s
    FOR UPDATE
)
UPDATE resources_quotacounter AS counter SET reserved = counter.reserved + current.take, updated_at = %s
FROM current WHERE counter.id = current.id
RETURNING counter.id, current.take
"""
_GIVE_BACK = """
UPDATE resources_quotacounter SET reserved = GREATEST(reserved - %s, 0), updated_at = %s WHERE id = ANY(%s)
"""


def quota_error(
    *, limit: EffectiveLimit, used: Decimal, reserved: Decimal, requested: Decimal, at: dt.datetime | None = None
) -> QuotaExceeded:
    """The 429 of a refused reservation: which meter, its limit, what is used and held, and when it resets."""
    now = at or timezone.now()
    resets = period_resets_at(limit.period, period_start(limit.period, now))
    spec = METERS[limit.meter]
    message = gettext(
        "Quota exceeded for %(meter)s: %(used)s of %(limit)s used this period (%(period)s), %(requested)s more asked."
    ) % {
        "meter": spec.label,
        "used": _plain(used + reserved),
        "limit": _plain(limit.limit),
        "period": limit.period,
        "requested": _plain(requested),
    }
    if resets is not None:
        message += " " + gettext("It resets at %(resets)s UTC.") % {"resets": resets.strftime("%Y-%m-%d %H:%M")}
    QUOTA_REFUSALS.labels(limit.meter, limit.period).inc()
    return QuotaExceeded(
        message,
        code="quota_exceeded",
        details={
            "meter": limit.meter,
            "period": limit.period,
            "limit": _plain(limit.limit),
            "used": _plain(used),
            "reserved": _plain(reserved),
            "requested": _plain(requested),
            "source": limit.source,
            "resets_at": resets.isoformat() if resets else None,
        },
        retry_after=max(1, int((resets - now).total_seconds()) + 1) if resets else None,
    )


def _plain(value: Decimal) -> str:
    """A quantity without trailing zeros (``1000``, ``0.25``)."""
    text = format(value.normalize(), "f")
    return text


@dataclass
class Hold:
    """What ``quota_reserve`` took. ``record`` is the stored hold (None when no limited meter was reserved)."""

    user_id: int | None
    api_key_id: int | None
    purpose: str
    amounts: dict[str, Decimal]
    record: QuotaHold | None = None
    closed: bool = field(default=False)


def _limited(user_id: int, amounts: Mapping[str, Decimal]) -> list[tuple[EffectiveLimit, Decimal]]:
    limits = effective_limits(user_id=user_id)
    wanted = []
    for meter, amount in amounts.items():
        for period in METERS[meter].periods:
            lim = limits.get((meter, period))
            if lim is not None and amount > 0:
                wanted.append((lim, amount))
    return sorted(wanted, key=lambda item: (item[0].meter, item[0].period))  # one lock order for everyone


def quota_check(*, user: Any, amounts: Mapping[str, Any], at: dt.datetime | None = None) -> None:
    """Refuse now (429) what a reservation of ``amounts`` would refuse, without reserving anything (a cheap early
    answer before a request does other work; the reservation itself stays the guarantee)."""
    user_id = _pk(user)
    if user_id is None:
        return
    now = at or timezone.now()
    clean = {meter: quantity_clean(meter, qty) for meter, qty in amounts.items()}
    wanted = _limited(user_id, clean)
    if not wanted:
        return
    counters = current_counters(user_id=user_id, at=now)  # this period's only
    for lim, amount in wanted:
        counter = counters.get((lim.meter, lim.period))
        used, reserved = (counter.used, counter.reserved) if counter else (Decimal(0), Decimal(0))
        if used + reserved + amount > lim.limit:
            raise quota_error(limit=lim, used=used, reserved=reserved, requested=amount, at=now)


def quota_reserve(
    *,
    user: Any,
    amounts: Mapping[str, Any],
    api_key: Any = None,
    purpose: str = "",
    ttl_seconds: int | None = None,
    at: dt.datetime | None = None,
    estimates: Iterable[str] = (),
) -> Hold:
    """Reserve ``amounts`` ({meter: amount}) against every limit of the user, atomically, or raise 429
    ``quota_exceeded`` (nothing reserved). Work done for nobody (system jobs) is never limited.

    Meters named in ``estimates`` hold a guess (the tokens of a completion not yet written): the work may start while
    anything of the limit is left, and reserves the estimate or what is left, whichever is less; the settled actual
    amount may then pass the limit by one piece of work, as budgets of LLM proxies do. Other meters (a call, a
    document) must fit whole."""
    user_id, key_id = _pk(user), _pk(api_key)
    clean = {meter: quantity_clean(meter, qty) for meter, qty in amounts.items()}
    hold = Hold(user_id=user_id, api_key_id=key_id, purpose=purpose[:64], amounts=clean)
    if user_id is None:
        return hold
    wanted = _limited(user_id, clean)
    if not wanted:
        return hold
    guessed = set(estimates)
    now = at or timezone.now()
    lines: dict[str, dict[str, Any]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for lim, amount in wanted:
            start = period_start(lim.period, now)
            cursor.execute(_ENSURE, [user_id, lim.meter, lim.period, start, now])
            if lim.meter in guessed:
                cursor.execute(
                    _TAKE_WHAT_IS_LEFT, [amount, lim.limit, user_id, lim.meter, lim.period, start, lim.limit, now]
                )
            else:
                cursor.execute(_TAKE, [amount, now, user_id, lim.meter, lim.period, start, amount, lim.limit, amount])
            row = cursor.fetchone()
            if row is None:
                counter = QuotaCounter.objects.get(
                    user_id=user_id, meter=lim.meter, period=lim.period, period_start=start
                )
                raise quota_error(limit=lim, used=counter.used, reserved=counter.reserved, requested=amount, at=now)
            lines.setdefault(f"{lim.meter}/{lim.period}", {"amount": str(row[1]), "counters": [row[0]]})
        ttl = ttl_seconds if ttl_seconds is not None else settings.RESOURCES_HOLD_SECONDS
        hold.record = QuotaHold.objects.create(
            user_id=user_id,
            api_key_id=key_id,
            purpose=hold.purpose,
            lines=lines,
            expires_at=now + dt.timedelta(seconds=max(60, ttl)),
        )
    return hold


def _close(record: QuotaHold, status: str, now: dt.datetime) -> bool:
    """Close a held hold once (a settle and the expiry sweep cannot both give its amounts back)."""
    if not QuotaHold.objects.filter(pk=record.pk, status=HoldStatus.HELD).update(status=status, closed_at=now):
        return False
    with connection.cursor() as cursor:
        for line in record.lines.values():
            cursor.execute(_GIVE_BACK, [Decimal(line["amount"]), now, list(line["counters"])])
    return True


def quota_settle(
    *,
    hold: Hold,
    amounts: Mapping[str, Any],
    dimension: str = "",
    at: dt.datetime | None = None,
) -> None:
    """The work is done: give back what was reserved and record what was actually used (in one transaction)."""
    now = at or timezone.now()
    with transaction.atomic():
        if hold.record is not None and not hold.closed:
            _close(hold.record, HoldStatus.SETTLED, now)
        hold.closed = True
        usage_report(amounts=amounts, user=hold.user_id, api_key=hold.api_key_id, dimension=dimension, at=now)


def quota_release(*, hold: Hold, at: dt.datetime | None = None) -> None:
    """The work failed or never started: give the reservation back, record nothing."""
    if hold.record is not None and not hold.closed:
        _close(hold.record, HoldStatus.RELEASED, at or timezone.now())
    hold.closed = True


def holds_expire(*, now: dt.datetime | None = None) -> int:
    """Release the holds of work that never settled (a killed worker, a lost request) once they expire."""
    moment = now or timezone.now()
    released = 0
    for record in QuotaHold.objects.filter(status=HoldStatus.HELD, expires_at__lt=moment).order_by("expires_at")[:1000]:
        with transaction.atomic():
            released += _close(record, HoldStatus.RELEASED, moment)
    return released


@dataclass
class Metering:
    """Inside ``metered()``: set ``actual`` to what the work used (left empty, the estimate is recorded)."""

    hold: Hold
    actual: dict[str, Any] = field(default_factory=dict)
    dimension: str = ""


@contextmanager
def metered(
    *, user: Any, amounts: Mapping[str, Any], api_key: Any = None, purpose: str = "", ttl_seconds: int | None = None
) -> Iterator[Metering]:
    """Reserve, run the block, then settle with ``metering.actual``; an exception releases the hold."""
    metering = Metering(
        hold=quota_reserve(user=user, amounts=amounts, api_key=api_key, purpose=purpose, ttl_seconds=ttl_seconds)
    )
    try:
        yield metering
    except BaseException:
        quota_release(hold=metering.hold)
        raise
    quota_settle(
        hold=metering.hold, amounts=metering.actual or dict(metering.hold.amounts), dimension=metering.dimension
    )
