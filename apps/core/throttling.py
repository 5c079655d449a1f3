"""Request rate limits with a fixed-window counter: one atomic cache increment per request.

DRF's built-in throttles keep a list of every request time in the window and rewrite it on each request, which grows
with the rate (a 1,200/min limit stores up to 1,200 timestamps per user). A counter per window is O(1); its known
trade-off, up to twice the rate across a window boundary, is acceptable for abuse protection.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django_redis import get_redis_connection
from rest_framework.throttling import SimpleRateThrottle


def _increment(cache: Any, key: str, ttl: int) -> int:
    """Add one to the counter at ``key`` (created with ``ttl`` seconds to live) and return it: one pipelined INCR +
    EXPIRE on Redis, the portable add/incr pair on other caches."""
    try:
        client = get_redis_connection("default")
    except NotImplementedError:
        client = None
    if client is not None:
        full_key = cache.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl)
        count, _ = pipe.execute()
        return int(count)
    try:
        return int(cache.incr(key))
    except ValueError:  # first request of the window
        if cache.add(key, 1, timeout=ttl):
            return 1
        return int(cache.incr(key))


class FixedWindowThrottle(SimpleRateThrottle):
    duration: int
    num_requests: int
    window_end: float

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.now = time.time()
        self.window_end = (int(self.now // self.duration) + 1) * self.duration
        count = _increment(self.cache, f"{ident}:{self.window_end}", self.duration + 1)
        return count <= self.num_requests

    def wait(self) -> float:
        return float(max(1, math.ceil(self.window_end - time.time())))


class AnonRateThrottle(FixedWindowThrottle):
    scope = "anon"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserRateThrottle(FixedWindowThrottle):
    scope = "user"

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
