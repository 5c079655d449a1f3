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


_USAGE_UPSERT = """
INSERT INTO resources_usagedaily (day, meter, user_id, api_key_id, dimension, quantity, events, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT resources_usage_unique_row DO UPDATE
SET quantity = resources_usagedaily.quantity + EXCLUDED.quantity,
    events = resources_usagedaily.events + EXCLUDED.events,
    updated_at = EXCLUDED.updated_at
"""

_COUNTER_UPSERT = """
INSERT INTO resources_quotacounter (user_id, meter, period, period_start, used, reserved, updated_at)
VALUES (%s, %s, %s, %s, GREATEST(%s, 0), 0, %s)
ON CONFLICT ON CONSTRAINT resources_counter_unique DO UPDATE
SET used = GREATEST(resources_quotacounter.used + %s, 0), updated_at = EXCLUDED.updated_at
"""
# (the quantity twice: a new row starts at zero or above, an existing one moves by the quantity, down too for a
# level, and stops at zero; EXCLUDED.used is already clamped, so it could not lower a level)


def _existing_users(ids: Iterable[int]) -> set[int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    return set(get_user_model().objects.filter(pk__in=wanted).values_list("pk", flat=True))


def usage_write(lines: Iterable[UsageLine], *, at: dt.datetime | None = None) -> int:
    """Write validated lines in one transaction (the batch writer behind ``meter_record`` and the API-call flush).
    Returns how many lines were written."""
    batch = [line for line in lines if line.quantity != 0 or line.events]
    if not batch:
        return 0
    now = at or timezone.now()
    day = now.astimezone(dt.UTC).date()
    alive = _existing_users(line.user_id for line in batch if line.user_id is not None)
    usage_rows, counter_rows = [], []
    for line in batch:
        user_id = line.user_id if line.user_id in alive else None
        if line.user_id is not None and user_id is None:
            logger.info("usage of %s for user %s, who no longer exists, is kept unattributed", line.meter, line.user_id)
        usage_rows.append(
            (day, line.meter, user_id, line.api_key_id, line.dimension[:200], line.quantity, line.events, now)
        )
        if user_id is not None:
            for period in METERS[line.meter].periods:
                counter_rows.append(
                    (user_id, line.meter, period, period_start(period, now), line.quantity, now, line.quantity)
                )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(_USAGE_UPSERT, usage_rows)
        if counter_rows:
            cursor.executemany(_COUNTER_UPSERT, counter_rows)
    return len(batch)


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
    usage_write(lines, at=at)
    if user_id is not None:
        notices_check(user_id=user_id, meters=[line.meter for line in lines], at=at)


def notices_check(*, user_id: int, meters: Iterable[str], at: dt.datetime | None = None) -> list[QuotaNotice]:
    """Write a notice the first time in a period that the user's use of a limited meter reaches 80 % and 100 % of the
    limit (one per threshold and period, whatever the number of processes: the unique constraint decides)."""
    now = at or timezone.now()
    limits = effective_limits(user_id=user_id)
    wanted = [(m, p) for m in set(meters) for p in METERS[m].periods if (m, p) in limits and limits[(m, p)].limit > 0]
    if not wanted:
        return []
    counters = {
        (c.meter, c.period): c
        for c in QuotaCounter.objects.filter(
            user_id=user_id,
            meter__in={m for m, _ in wanted},
            period_start__in={period_start(p, now) for _, p in wanted},
        )
        if c.period_start == period_start(c.period, now)
    }
    made = []
    for meter, period in wanted:
        counter, limit = counters.get((meter, period)), limits[(meter, period)].limit
        if counter is None:
            continue
        for threshold in NOTICE_THRESHOLDS:
            if counter.used * 100 >= limit * threshold:
                notice, created = QuotaNotice.objects.get_or_create(
                    user_id=user_id,
                    meter=meter,
                    period=period,
                    period_start=counter.period_start,
                    threshold=threshold,
                    defaults={"used": counter.used, "limit": limit},
                )
                if created:
                    made.append(notice)
    return made
