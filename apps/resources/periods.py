"""Quota periods in UTC: where the current day or month starts and when it resets."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from .choices import Period

LEVEL_START = dt.date(1970, 1, 1)  # the one "period" of a level (storage held at any time)


def period_start(period: str, at: dt.datetime | None = None) -> dt.date:
    day = (at or timezone.now()).astimezone(dt.UTC).date()
    if period == Period.DAY:
        return day
    if period == Period.MONTH:
        return day.replace(day=1)
    return LEVEL_START


def period_resets_at(period: str, start: dt.date) -> dt.datetime | None:
    """When a counter of ``period`` that started on ``start`` starts again (None: a level never resets)."""
    if period == Period.DAY:
        nxt = start + dt.timedelta(days=1)
    elif period == Period.MONTH:
        nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    else:
        return None
    return dt.datetime.combine(nxt, dt.time.min, tzinfo=dt.UTC)


def seconds_until_reset(period: str, at: dt.datetime | None = None) -> int | None:
    now = at or timezone.now()
    resets = period_resets_at(period, period_start(period, now))
    return None if resets is None else max(1, int((resets - now).total_seconds()) + 1)
