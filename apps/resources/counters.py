"""The API-call meter: every authenticated API request is counted in Redis (one round trip), and the counts are
flushed to the database in batches by a beat job (``resources.flush_api_calls``), never a row per request.

Two structures per store:

* a pending hash ``{user:key:day -> n}`` of what has not reached the database yet; the flush renames it atomically
  and writes it as daily usage (a flush that dies half-way leaves its renamed hash to the next flush);
* for users with an ``api.calls`` limit, one running total per limited period, checked and increased by one Lua
  script, so no two concurrent requests can both take the last call. A missing total (a new period, a Redis restart)
  is seeded from the database counter.

Without ``RESOURCES_COUNTER_URL`` (development without Redis, the default test settings) the same logic runs on an
in-process store: exact within one process only."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import redis
from django.conf import settings

PENDING = "resources:api:pending"
FLUSHING = "resources:api:flushing:"
TOTAL = "resources:api:total:"

# KEYS: the totals to check; ARGV: the pending hash, its field, then one limit per key.
# Returns -(i) when total i is missing (seed it and retry), 0 + i when total i would exceed its limit, 1 when counted.
_CHECK_AND_COUNT = """
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if not current then return -i end
  if tonumber(current) + 1 > tonumber(ARGV[i + 2]) then return 1000 + i end
end
for i, key in ipairs(KEYS) do redis.call('INCR', key) end
redis.call('HINCRBY', ARGV[1], ARGV[2], 1)
return 1
"""


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
        self.script = self.client.register_script(_CHECK_AND_COUNT)

    def count(self, field: str) -> None:
        self.client.hincrby(PENDING, field, 1)

    def check_and_count(self, field: str, totals: list[Total]) -> int:
        return int(self.script(keys=[t.key for t in totals], args=[PENDING, field, *[t.limit for t in totals]]))

    def seed(self, total: Total, value: int) -> None:
        self.client.set(total.key, value, ex=total.ttl, nx=True)

    def take_pending(self) -> list[tuple[str, dict[str, int]]]:
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
