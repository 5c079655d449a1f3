"""The API-call meter: every authenticated API request is counted in Redis, and the counts are flushed to the
database in batches by a beat job (``resources.flush_api_calls``), never a row per request.

Two structures per store:

* a pending hash ``{user:key:day -> n}`` of what has not reached the database yet; the flush renames it atomically
  and writes it as daily usage (a flush that dies half-way leaves its renamed hash to the next flush). Each process
  adds its counts to it in one pipeline at most every ``PUSH_SECONDS`` (or every ``PUSH_COUNTS`` requests), so a
  request costs no round trip of its own; a process that is killed loses at most that second of counts.
* for users with an ``api.calls`` limit, one running total per limited period, checked and increased by one Lua
  script, so no two concurrent requests can both take the last call. A process takes calls in *leases*: the script
  grants up to ``LEASE_MAX`` calls at once, but never more than a sixteenth of what is left, so near the limit every
  call is checked in Redis one by one and exactly the remaining calls pass; leases a process has not used within
  ``LEASE_SECONDS`` go back to the total. A missing total (a new period, a Redis restart) is seeded from the
  database counter.

Without ``RESOURCES_COUNTER_URL`` (development without Redis, the default test settings) the same logic runs on an
in-process store: exact within one process only."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import redis
from django.conf import settings

PENDING = "resources:api:pending"
FLUSHING = "resources:api:flushing:"
TOTAL = "resources:api:total:"

# KEYS: the totals to check; ARGV: one limit per key, then the largest lease and the fan-out.
# Returns -i when total i is missing (seed it and retry), 1000 + i when total i has no call left, else the number of
# calls granted (at least 1), added to every total.
_LEASE = """
local n = #KEYS
local grant = tonumber(ARGV[n + 1])
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if not current then return -i end
  local left = tonumber(ARGV[i]) - tonumber(current)
  if left < 1 then return 1000 + i end
  grant = math.min(grant, math.max(1, math.floor(left / tonumber(ARGV[n + 2]))))
end
for i, key in ipairs(KEYS) do redis.call('INCRBY', key, grant) end
return grant
"""
PUSH_SECONDS = 1.0
PUSH_COUNTS = 500
LEASE_MAX = 32
LEASE_FANOUT = 16
LEASE_SECONDS = 5.0


@dataclass(frozen=True)
class Total:
    key: str
    limit: int
    ttl: int  # seconds the total lives (past the end of its period)


class CounterStore(Protocol):
    def count(self, field: str) -> None: ...
    def check_and_count(self, field: str, totals: list[Total]) -> int: ...
    def seed(self, total: Total, value: int) -> None: ...
    def take_pending(self) -> list[tuple[str, dict[str, int]]]: ...
    def done(self, batch: str) -> None: ...
    def reset(self) -> None: ...


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.script = self.client.register_script(_LEASE)
        self.lock = threading.Lock()
        self.buffer: dict[str, int] = {}
        self.buffered = 0
        self.pushed_at = time.monotonic()
        self.leases: dict[str, list[float]] = {}  # total key -> [calls left, taken at]

    def _push_due(self) -> bool:
        return self.buffered >= PUSH_COUNTS or time.monotonic() - self.pushed_at >= PUSH_SECONDS

    def push(self) -> None:
        """Send this process's counts to the pending hash, and give back leases left unused too long."""
        now = time.monotonic()
        with self.lock:
            counts, self.buffer, self.buffered, self.pushed_at = self.buffer, {}, 0, now
            stale = {key: int(lease[0]) for key, lease in self.leases.items() if now - lease[1] >= LEASE_SECONDS}
            for key in stale:
                del self.leases[key]
        if not counts and not stale:
            return
        pipe = self.client.pipeline(transaction=False)
        for field, n in counts.items():
            pipe.hincrby(PENDING, field, n)
        for key, left in stale.items():
            if left > 0:
                pipe.decrby(key, left)
        try:
            pipe.execute()
        except redis.RedisError:
            with self.lock:  # keep the counts for the next push
                for field, n in counts.items():
                    self.buffer[field] = self.buffer.get(field, 0) + n
                    self.buffered += n
            raise

    def _buffer(self, field: str) -> bool:
        self.buffer[field] = self.buffer.get(field, 0) + 1
        self.buffered += 1
        return self._push_due()

    def count(self, field: str) -> None:
        with self.lock:
            due = self._buffer(field)
        if due:
            self.push()

    def check_and_count(self, field: str, totals: list[Total]) -> int:
        keys = [t.key for t in totals]
        with self.lock:
            leases = [self.leases.get(key) for key in keys]
            leased = all(lease is not None and lease[0] >= 1 for lease in leases)
            if leased:  # this process still holds calls of every total: no round trip
                for lease in leases:
                    lease[0] -= 1  # type: ignore[index]
                due = self._buffer(field)
        if not leased:
            outcome = int(self.script(keys=keys, args=[*[t.limit for t in totals], LEASE_MAX, LEASE_FANOUT]))
            if outcome < 0 or outcome > 1000:  # a total to seed, or no call left
                return outcome
            now = time.monotonic()
            with self.lock:
                for key in keys:
                    lease = self.leases.get(key)
                    # what this process still held of an earlier lease stays its own
                    self.leases[key] = [(lease[0] if lease else 0) + outcome - 1, now]
                due = self._buffer(field)
        if due:
            self.push()
        return 1

    def seed(self, total: Total, value: int) -> None:
        self.client.set(total.key, value, ex=total.ttl, nx=True)

    def take_pending(self) -> list[tuple[str, dict[str, int]]]:
        self.push()  # this process's own counts first
        batches = [_text(key) for key in self.client.scan_iter(match=FLUSHING + "*", count=100)]
        name = FLUSHING + uuid.uuid4().hex
        try:
            self.client.rename(PENDING, name)
            batches.append(name)
        except redis.ResponseError as exc:  # no pending hash: nothing counted since the last flush
            if "no such key" not in str(exc).lower():
                raise
        return [(name, {_text(k): int(v) for k, v in self.client.hgetall(name).items()}) for name in batches]

    def done(self, batch: str) -> None:
        self.client.delete(batch)

    def reset(self) -> None:
        with self.lock:
            self.buffer, self.buffered, self.leases = {}, 0, {}
        keys = list(self.client.scan_iter(match="resources:api:*", count=500))
        if keys:
            self.client.delete(*keys)


class LocalStore:
    """The same semantics in one process (a lock instead of a script)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, int] = {}
        self.totals: dict[str, int] = {}

    def count(self, field: str) -> None:
        with self.lock:
            self.pending[field] = self.pending.get(field, 0) + 1

    def check_and_count(self, field: str, totals: list[Total]) -> int:
        with self.lock:
            for i, total in enumerate(totals, start=1):
                if total.key not in self.totals:
                    return -i
                if self.totals[total.key] + 1 > total.limit:
                    return 1000 + i
            for total in totals:
                self.totals[total.key] += 1
            self.pending[field] = self.pending.get(field, 0) + 1
            return 1

    def seed(self, total: Total, value: int) -> None:
        with self.lock:
            self.totals.setdefault(total.key, value)

    def take_pending(self) -> list[tuple[str, dict[str, int]]]:
        with self.lock:
            taken, self.pending = self.pending, {}
        return [("local", taken)] if taken else []

    def done(self, batch: str) -> None:
        return None

    def reset(self) -> None:
        with self.lock:
            self.pending.clear()
            self.totals.clear()


_stores: dict[str, Any] = {}
_stores_lock = threading.Lock()


def counter_store() -> CounterStore:
    """The store of ``RESOURCES_COUNTER_URL`` (Redis), else the process's own."""
    url = getattr(settings, "RESOURCES_COUNTER_URL", "") or ""
    with _stores_lock:
        if url not in _stores:
            _stores[url] = RedisStore(url) if url else LocalStore()
        return _stores[url]


def total_key(user_id: int, period: str, start: str) -> str:
    return f"{TOTAL}{user_id}:{period}:{start}"


def pending_field(user_id: int, api_key_id: int | None, day: str) -> str:
    return f"{user_id}:{api_key_id or 0}:{day}"


def parse_field(field: str) -> tuple[int, int | None, str]:
    user, key, day = field.split(":", 2)
    return int(user), (int(key) or None), day


def as_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding="ROUND_FLOOR"))
