"""Metering: the one call every system reports usage through (``meter_record`` / ``usage_report``), written as
daily aggregates per user, API key, meter and dimension (kept) and as the per-period counters quotas read.

Nothing here writes another app's tables and nothing another app owns is imported: callers pass users and API keys
(or their ids). Usage reported for a user id that no longer exists is kept with no user (its cost was incurred) and
counts against nobody's quota."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed
from apps.core.models import ApiKey

from ..meters import MAX_QUANTITY, METERS, QUANTITY_PLACES
from ..models import QuotaCounter, QuotaNotice
from ..periods import period_start
from ..selectors.quotas import effective_limits

logger = logging.getLogger(__name__)
QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
NOTICE_THRESHOLDS = (80, 100)  # per cent of a limit: a notice once per period at each


@dataclass(frozen=True)
class UsageLine:
    """One report: ``quantity`` of ``meter`` used (negative for a level that went down)."""

    meter: str
    quantity: Decimal
    user_id: int | None = None
    api_key_id: int | None = None
    dimension: str = ""
    events: int = 1


def meter_validate(meter: str) -> None:
    if meter not in METERS:
        raise ValidationFailed(
            gettext("Unknown meter %(meter)s.") % {"meter": meter},
            code="unknown_meter",
            details={"meter": [gettext("One of: %(meters)s.") % {"meters": ", ".join(METERS)}]},
        )


def quantity_clean(meter: str, quantity: Any, *, field: str = "quantity") -> Decimal:
    """A bounded Decimal of at most six places; only a level may go down (a negative report)."""
    meter_validate(meter)
    try:
        value = Decimal(str(quantity))
    except (InvalidOperation, ValueError, TypeError):
        value = Decimal("NaN")
    if not value.is_finite() or abs(value) > MAX_QUANTITY:
        raise ValidationFailed(
            gettext("A quantity must be a number of at most %(max)s.") % {"max": MAX_QUANTITY},
            details={field: [gettext("Out of range.")]},
        )
    if value < 0 and not METERS[meter].level:
        raise ValidationFailed(
            gettext("%(meter)s counts up: a negative quantity is refused.") % {"meter": meter},
            details={field: [gettext("Must not be negative.")]},
        )
    return value.quantize(QUANTUM)


def _pk(obj: Any) -> int | None:
    if obj is None:
        return None
    if isinstance(obj, int):
        return obj
    return getattr(obj, "pk", None) if getattr(obj, "is_authenticated", True) else None


# One statement per table for a whole batch. Rows name users and API keys by id; a user or key that no longer exists
# leaves the usage row unattributed (LEFT JOIN) and writes no counter (JOIN).
_USAGE_UPSERT = """
INSERT INTO resources_usagedaily (day, meter, user_id, api_key_id, dimension, quantity, events, updated_at)
SELECT v.day, v.meter, u.id, k.id, v.dimension, v.quantity, v.events, v.at
FROM (VALUES {values}) AS v(day, meter, user_id, api_key_id, dimension, quantity, events, at)
LEFT JOIN {users} u ON u.id = v.user_id
LEFT JOIN {keys} k ON k.id = v.api_key_id
ON CONFLICT ON CONSTRAINT resources_usage_unique_row DO UPDATE
SET quantity = resources_usagedaily.quantity + EXCLUDED.quantity,
    events = resources_usagedaily.events + EXCLUDED.events,
    updated_at = EXCLUDED.updated_at
"""
_USAGE_ROW = "(%s::date, %s, %s::bigint, %s::bigint, %s, %s::numeric, %s::integer, %s::timestamptz)"

# The quantity goes in as it is (EXCLUDED.used: a level goes down when storage is deleted) and an existing counter
# stops at zero; a new counter whose first report is negative (storage held before metering began) is set to zero
# right after (_COUNTER_FLOOR), only then.
_COUNTER_UPSERT = """
INSERT INTO resources_quotacounter (user_id, meter, period, period_start, used, reserved, updated_at)
SELECT u.id, v.meter, v.period, v.period_start, v.quantity, 0, v.at
FROM (VALUES {values}) AS v(user_id, meter, period, period_start, quantity, at)
JOIN {users} u ON u.id = v.user_id
ON CONFLICT ON CONSTRAINT resources_counter_unique DO UPDATE
SET used = GREATEST(resources_quotacounter.used + EXCLUDED.used, 0), updated_at = EXCLUDED.updated_at
RETURNING id, user_id, meter, period, used
"""
_COUNTER_FLOOR = "UPDATE resources_quotacounter SET used = 0 WHERE id = ANY(%s) AND used < 0"
_COUNTER_ROW = "(%s::bigint, %s, %s, %s::date, %s::numeric, %s::timestamptz)"

Counters = dict[tuple[int, str, str], Decimal]


def _usage_write(lines: Iterable[UsageLine], *, at: dt.datetime | None = None) -> tuple[int, Counters]:
    batch = [line for line in lines if line.quantity != 0 or line.events]
    if not batch:
        return 0, {}
    now = at or timezone.now()
    day = now.astimezone(dt.UTC).date()
    usage: dict[tuple[str, int | None, int | None, str], list[Any]] = {}
    counters: Counters = {}
    for line in batch:
        row = usage.setdefault((line.meter, line.user_id, line.api_key_id, line.dimension[:200]), [Decimal(0), 0])
        row[0] += line.quantity
        row[1] += line.events
        if line.user_id is not None:
            for period in METERS[line.meter].periods:
                key = (line.user_id, line.meter, period)
                counters[key] = counters.get(key, Decimal(0)) + line.quantity
    users, keys = get_user_model()._meta.db_table, ApiKey._meta.db_table
    usage_params: list[Any] = []
    for (meter, user_id, key_id, dimension), (quantity, events) in usage.items():
        usage_params += [day, meter, user_id, key_id, dimension, quantity, events, now]
    counter_params: list[Any] = []
    for (user_id, meter, period), quantity in counters.items():
        counter_params += [user_id, meter, period, period_start(period, now), quantity, now]
    written: Counters = {}
    # no savepoint of its own: inside the caller's transaction the two statements stand or fall with it
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        values = ", ".join([_USAGE_ROW] * len(usage))
        cursor.execute(_USAGE_UPSERT.format(values=values, users=users, keys=keys), usage_params)
        if counters:
            values = ", ".join([_COUNTER_ROW] * len(counters))
            cursor.execute(_COUNTER_UPSERT.format(values=values, users=users), counter_params)
            returned = cursor.fetchall()
            below = [row[0] for row in returned if row[4] < 0]
            if below:
                cursor.execute(_COUNTER_FLOOR, [below])
            written = {(row[1], row[2], row[3]): max(row[4], Decimal(0)) for row in returned}
    gone = {user for user, _, _ in counters} - {user for user, _, _ in written}
    if gone:
        logger.info("usage of users %s, who no longer exist, is kept unattributed", sorted(gone))
    return len(batch), written


def usage_write(lines: Iterable[UsageLine], *, at: dt.datetime | None = None) -> int:
    """Write validated lines in one transaction, two statements whatever their number (the batch writer behind
    ``usage_report`` and the API-call flush). Returns how many lines were written."""
    return _usage_write(lines, at=at)[0]


def meter_record(
    *,
    meter: str,
    quantity: Any,
    user: Any = None,
    api_key: Any = None,
    dimension: str = "",
    at: dt.datetime | None = None,
    events: int = 1,
) -> None:
    """Report ``quantity`` of ``meter`` used by ``user`` (a user or a user id; None for system work) through
    ``api_key`` (or its id). A level (storage) takes negative quantities when things are deleted."""
    usage_report(amounts={meter: quantity}, user=user, api_key=api_key, dimension=dimension, at=at, events=events)


def usage_report(
    *,
    amounts: Mapping[str, Any],
    user: Any = None,
    api_key: Any = None,
    dimension: str = "",
    at: dt.datetime | None = None,
    events: int = 1,
) -> None:
    """Several meters of one piece of work at once (tokens in and out, cost and one AI call of a completion)."""
    user_id, key_id = _pk(user), _pk(api_key)
    lines = [
        UsageLine(meter, quantity_clean(meter, qty), user_id, key_id, dimension or "", max(0, int(events)))
        for meter, qty in amounts.items()
    ]
    _, counters = _usage_write(lines, at=at)
    if counters:
        notices_check(user_id=user_id or 0, meters=[line.meter for line in lines], at=at, counters=counters)


def notices_check(
    *, user_id: int, meters: Iterable[str], at: dt.datetime | None = None, counters: Counters | None = None
) -> list[QuotaNotice]:
    """Write a notice the first time in a period that the user's use of a limited meter reaches 80 % and 100 % of the
    limit (one per threshold and period, whatever the number of processes: the unique constraint decides).
    ``counters``: what is used now, when the caller just wrote it ({(user id, meter, period): used})."""
    now = at or timezone.now()
    limits = effective_limits(user_id=user_id)
    wanted = [(m, p) for m in set(meters) for p in METERS[m].periods if (m, p) in limits and limits[(m, p)].limit > 0]
    if not wanted:
        return []
    if counters is None:
        counters = {
            (user_id, c.meter, c.period): c.used
            for c in QuotaCounter.objects.filter(
                user_id=user_id,
                meter__in={m for m, _ in wanted},
                period_start__in={period_start(p, now) for _, p in wanted},
            )
            if c.period_start == period_start(c.period, now)
        }
    made = []
    for meter, period in wanted:
        used, limit = counters.get((user_id, meter, period)), limits[(meter, period)].limit
        if used is None:
            continue
        for threshold in NOTICE_THRESHOLDS:
            if used * 100 >= limit * threshold:
                notice, created = QuotaNotice.objects.get_or_create(
                    user_id=user_id,
                    meter=meter,
                    period=period,
                    period_start=period_start(period, now),
                    threshold=threshold,
                    defaults={"used": used, "limit": limit},
                )
                if created:
                    made.append(notice)
    return made
