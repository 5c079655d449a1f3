"""The API-call meter's writes: count one authenticated request (and refuse it over an ``api.calls`` limit), and
flush the counts to the database in batches (apps/resources/counters.py explains the stores)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ..choices import Meter
from ..counters import Total, as_int, counter_store, parse_field, pending_field, total_key
from ..models import QuotaCounter
from ..periods import period_resets_at, period_start
from ..selectors.quotas import effective_limits
from .metering import UsageLine, usage_write
from .quotas import quota_error

logger = logging.getLogger(__name__)
API = Meter.API_CALLS.value


def api_call_count(*, user_id: int, api_key_id: int | None = None, at: dt.datetime | None = None) -> None:
    """Count one API request of the user; over an ``api.calls`` limit raise 429 ``quota_exceeded`` (not counted)."""
    now = at or timezone.now()
    day = now.astimezone(dt.UTC).date().isoformat()
    field = pending_field(user_id, api_key_id, day)
    store = counter_store()
    limits = [lim for (meter, _), lim in effective_limits(user_id=user_id).items() if meter == API]
    if not limits:
        store.count(field)
        return
    totals = []
    for lim in limits:
        start = period_start(lim.period, now)
        resets = period_resets_at(lim.period, start)
        ttl = int((resets - now).total_seconds()) + 86400 if resets else 86400 * 32
        totals.append(Total(total_key(user_id, lim.period, start.isoformat()), as_int(lim.limit), max(ttl, 60)))
    for _attempt in range(len(totals) + 1):
        outcome = store.check_and_count(field, totals)
        if outcome == 1:
            return
        if outcome < 0:  # a total is missing: seed it from the database counter, then check again
            total, lim = totals[-outcome - 1], limits[-outcome - 1]
            counter = QuotaCounter.objects.filter(
                user_id=user_id, meter=API, period=lim.period, period_start=period_start(lim.period, now)
            ).first()
            store.seed(total, as_int(counter.used) if counter else 0)
            continue
        lim = limits[outcome - 1001]
        raise quota_error(
            limit=lim, used=Decimal(totals[outcome - 1001].limit), reserved=Decimal(0), requested=Decimal(1), at=now
        )
    logger.warning("api.calls totals could not be seeded for user %s; the request was let through", user_id)
    store.count(field)


def api_calls_flush() -> dict[str, Any]:
    """Write the pending counts as daily usage (one batch per store hash). Returns what was written."""
    store = counter_store()
    written, requests = 0, 0
    for batch, counts in store.take_pending():
        by_day: dict[str, list[UsageLine]] = {}
        for field, n in counts.items():
            if n <= 0:
                continue
            user_id, key_id, day = parse_field(field)
            by_day.setdefault(day, []).append(UsageLine(API, Decimal(n), user_id, key_id, "", n))
            requests += n
        for day, lines in by_day.items():
            moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), tzinfo=dt.UTC)
            written += usage_write(lines, at=moment)
        store.done(batch)
    return {"rows": written, "requests": requests}
