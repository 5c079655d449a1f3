"""Reads of pools and reservations: the load of a pool over a window (a sweep over the reservations' endpoints), its
free-capacity timeline, the reservations a user may see, and the fair-share view per group.

Windows are half-open, ``[start, end)``: a reservation ending at 10:00 and one starting at 10:00 never overlap.

Fair share (``pool_fair_share``), for a pool and a window of length W:

* a group's *booked share* is the time-weighted average amount its ACTIVE reservations hold in the window:
  ``sum(amount * overlap(reservation, window)) / W`` (in the pool's unit; 4 GPUs for half the window is 2);
* the *active groups* are the groups with at least one ACTIVE reservation overlapping the window (reservations
  without a group form one "no group" bucket, which counts as a group);
* every active group's *fair share* is ``capacity / number of active groups`` (equal weights);
* ``ratio = booked / fair_share``: above 1 the group uses more than its fair share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from apps.core.permissions import objects_visible_to

from ..choices import ReservationStatus
from ..models import PoolReservation, ResourcePool

MANAGE = "resources.manage"
ZERO = Decimal("0")
PLACES = Decimal("0.001")

Interval = tuple[dt.datetime, dt.datetime, Decimal]


def overlapping_reservations(
    *, pool: ResourcePool, start: dt.datetime, end: dt.datetime, exclude_ids: Iterable[int] = ()
) -> QuerySet[PoolReservation]:
    """The ACTIVE reservations of ``pool`` whose window overlaps ``[start, end)``."""
    queryset = PoolReservation.objects.filter(
        pool=pool, status=ReservationStatus.ACTIVE, starts_at__lt=end, ends_at__gt=start
    )
    excluded = list(exclude_ids)
    if excluded:
        queryset = queryset.exclude(pk__in=excluded)
    return queryset.order_by("starts_at", "id")


def _events(intervals: Iterable[Interval], start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, Decimal]]:
    events: list[tuple[dt.datetime, Decimal]] = []
    for begins, ends, amount in intervals:
        begins, ends = max(begins, start), min(ends, end)
        if begins < ends:
            events += [(begins, amount), (ends, -amount)]
    # at one instant releases come before bookings: touching windows do not add up
    events.sort(key=lambda event: (event[0], event[1]))
    return events


def peak_load(intervals: Iterable[Interval], *, start: dt.datetime, end: dt.datetime) -> Decimal:
    """The highest total amount held at any instant of ``[start, end)`` by ``intervals`` (starts, ends, amount)."""
    current = peak = ZERO
    for _, delta in _events(intervals, start, end):
        current += delta
        peak = max(peak, current)
    return peak


def load_timeline(
    intervals: Iterable[Interval], *, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime, Decimal]]:
    """``[start, end)`` cut into consecutive segments of constant load: (segment start, segment end, load)."""
    segments: list[tuple[dt.datetime, dt.datetime, Decimal]] = []
    current, cursor = ZERO, start
    for instant, delta in _events(intervals, start, end):
        if instant > cursor:
            segments.append((cursor, instant, current))
            cursor = instant
        current += delta
    if cursor < end:
        segments.append((cursor, end, current))
    merged: list[tuple[dt.datetime, dt.datetime, Decimal]] = []
    for segment in segments:
        if merged and merged[-1][2] == segment[2]:
            merged[-1] = (merged[-1][0], segment[1], segment[2])
        else:
            merged.append(segment)
    return merged


def _intervals(reservations: Iterable[PoolReservation]) -> list[Interval]:
    return [(r.starts_at, r.ends_at, r.amount) for r in reservations]


def pool_peak_booked(
    *, pool: ResourcePool, start: dt.datetime, end: dt.datetime, exclude_ids: Iterable[int] = ()
) -> Decimal:
    """Peak concurrent amount booked by the ACTIVE reservations of ``pool`` in ``[start, end)``."""
    rows = overlapping_reservations(pool=pool, start=start, end=end, exclude_ids=exclude_ids)
    return peak_load(rows.values_list("starts_at", "ends_at", "amount"), start=start, end=end)


def pool_availability(*, pool: ResourcePool, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The free-capacity timeline of ``pool`` over ``[start, end)``: segments of constant load with what is booked
    and free, plus the peak booked and the least free capacity of the window."""
    rows = list(overlapping_reservations(pool=pool, start=start, end=end).values_list("starts_at", "ends_at", "amount"))
    timeline = load_timeline(rows, start=start, end=end)
    peak = max((load for _, _, load in timeline), default=ZERO)
    return {
        "pool": pool.pk,
        "start": start,
        "end": end,
        "capacity": pool.capacity,
        "peak_booked": peak,
        "min_free": pool.capacity - peak,
        "timeline": [
            {"start": begins, "end": ends, "booked": load, "free": pool.capacity - load}
            for begins, ends, load in timeline
        ],
    }


def preemption_victims(
    *,
    pool: ResourcePool,
    amount: Decimal,
    start: dt.datetime,
    end: dt.datetime,
    rank: int,
    rank_of: Any,
) -> list[PoolReservation] | None:
    """The fewest strictly-lower-priority reservations, lowest priority first and then the latest created, whose
    release lets ``amount`` fit in ``[start, end)``; [] when it fits already, None when even releasing every lower
    one is not enough. ``rank_of(priority)`` gives a priority's rank."""
    rows = list(overlapping_reservations(pool=pool, start=start, end=end))
    if peak_load(_intervals(rows), start=start, end=end) + amount <= pool.capacity:
        return []
    candidates = sorted(
        (r for r in rows if rank_of(r.priority) < rank),
        key=lambda r: (rank_of(r.priority), -r.created_at.timestamp(), -r.pk),
    )
    victims: list[PoolReservation] = []
    for candidate in candidates:
        victims.append(candidate)
        chosen = {v.pk for v in victims}
        remaining = [r for r in rows if r.pk not in chosen]
        if peak_load(_intervals(remaining), start=start, end=end) + amount <= pool.capacity:
            return victims
    return None


def reservations_visible_to(user: Any) -> QuerySet[PoolReservation]:
    """The reservations ``user`` may see: all with resources.manage, else their own (and those shared with them)."""
    queryset = PoolReservation.objects.select_related("pool", "user", "group", "created_by").order_by("starts_at", "id")
    return objects_visible_to(user, queryset, manage_perm=MANAGE, owner_field="user")


def pool_booked_now(*, now: dt.datetime) -> dict[int, Decimal]:
    """Pool id -> the amount its ACTIVE reservations hold at ``now``."""
    booked: dict[int, Decimal] = {}
    rows = PoolReservation.objects.filter(status=ReservationStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)
    for pool_id, amount in rows.order_by().values_list("pool_id", "amount"):
        booked[pool_id] = booked.get(pool_id, ZERO) + amount
    return booked


def pool_fair_share(*, pool: ResourcePool, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Each active group's time-averaged booking in ``[start, end)`` against its fair share (see the module doc)."""
    seconds = Decimal(str((end - start).total_seconds()))
    rows = overlapping_reservations(pool=pool, start=start, end=end).select_related("group")
    booked: dict[int | None, Decimal] = {}
    names: dict[int | None, str] = {None: ""}
    for reservation in rows:
        overlap = min(reservation.ends_at, end) - max(reservation.starts_at, start)
        weight = Decimal(str(overlap.total_seconds())) / seconds
        key = reservation.group_id
        booked[key] = booked.get(key, ZERO) + reservation.amount * weight
        if reservation.group is not None:
            names[key] = reservation.group.name
    fair = (pool.capacity / len(booked)).quantize(PLACES) if booked else pool.capacity
    groups: Sequence[dict[str, Any]] = [
        {
            "group": key,
            "group_name": names.get(key, ""),
            "booked": value.quantize(PLACES),
            "fair_share": fair,
            "ratio": (value / fair).quantize(PLACES) if fair else ZERO,
            "over_fair_share": value.quantize(PLACES) > fair,
        }
        for key, value in sorted(booked.items(), key=lambda item: (-item[1], item[0] or 0))
    ]
    return {
        "pool": pool.pk,
        "start": start,
        "end": end,
        "capacity": pool.capacity,
        "active_groups": len(booked),
        "fair_share": fair,
        "groups": list(groups),
    }
