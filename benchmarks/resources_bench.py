"""Cost of metering and quotas per request.

    DJANGO_ENV=test python benchmarks/resources_bench.py [--calls 5000] [--redis redis://127.0.0.1:6379/14]

In a throw-away database (``bench_resources``) and against a real Redis (its database emptied first), the median of
five rounds of ``--calls`` calls, in microseconds per call, of:

1. the API-call meter as every authenticated request runs it (``api_call_count``): a user without an ``api.calls``
   limit (counted in the process, one pipeline to Redis a second) and a user with a large monthly limit (a lease of
   up to 32 calls from the Lua script, then counted in the process), both with the user's limits warm in the process;
2. the limits lookup alone (``effective_limits``): warm in the process, and from the shared cache (Redis);
3. a quota reservation and its settlement around one AI call (``quota_reserve`` + ``quota_settle``: the conditional
   UPDATE of two counters, the hold row, the usage upsert), and the same for a user without limits (usage only);
4. the flush of 10,000 counted requests of 50 users into daily usage (``api_calls_flush``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings")
os.environ.setdefault("DJANGO_ENV", "test")

import django  # noqa: E402

django.setup()

from django.test.utils import setup_test_environment  # noqa: E402


def _time(fn: Callable[[], object], calls: int, rounds: int = 5) -> float:
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    import redis
    from django.db import connection
    from django.test.utils import override_settings

    redis.Redis.from_url(args.redis).flushdb()
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": args.redis,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    try:
        with override_settings(RESOURCES_COUNTER_URL=args.redis, CACHES=caches, READ_CACHE_ENABLED=True):
            _run(args.calls)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _run(calls: int) -> None:
    from decimal import Decimal

    from apps.resources.counters import counter_store
    from apps.resources.models import Plan, PlanLimit
    from apps.resources.selectors import quotas as quota_selectors
    from apps.resources.services.api_calls import api_call_count, api_calls_flush
    from apps.resources.services.plans import plan_assign
    from apps.resources.services.quotas import quota_reserve, quota_settle
    from tests.core.factories import UserFactory

    free, limited = UserFactory(), UserFactory()
    plan = Plan.objects.create(code="bench", name="Bench")
    PlanLimit.objects.create(plan=plan, meter="api.calls", period="month", limit=Decimal(10**12))
    PlanLimit.objects.create(plan=plan, meter="ai.calls", period="month", limit=Decimal(10**12))
    plan_assign(plan=plan, user=limited)
    counter_store().reset()

    rows = []
    rows.append(
        (
            "API-call meter, no api.calls limit (buffered, pushed every second)",
            _time(lambda: api_call_count(user_id=free.pk), calls),
        )
    )
    rows.append(
        (
            "API-call meter, monthly limit (leases of up to 32 calls, Lua)",
            _time(lambda: api_call_count(user_id=limited.pk), calls),
        )
    )
    rows.append(
        (
            "limits lookup, warm in the process",
            _time(lambda: quota_selectors.effective_limits(user_id=limited.pk), calls),
        )
    )

    def from_cache() -> None:
        quota_selectors.limits_forget_local()
        quota_selectors.effective_limits(user_id=limited.pk)

    rows.append(("limits lookup, from the shared cache (Redis)", _time(from_cache, calls)))
    amounts = {"ai.calls": 1, "llm.tokens": 500}
    actual = {
        "ai.calls": 1,
        "llm.tokens": 480,
        "llm.tokens_in": 400,
        "llm.tokens_out": 80,
        "llm.cost": Decimal("0.0004"),
    }

    def reserve_settle(user: object) -> None:
        hold = quota_reserve(user=user, amounts=amounts, estimates=("llm.tokens",), purpose="bench")
        quota_settle(hold=hold, amounts=actual, dimension="bench-model")

    rows.append(("reserve + settle one AI call, limited user", _time(lambda: reserve_settle(limited), calls // 5)))
    rows.append(
        ("reserve + settle one AI call, no limits (usage only)", _time(lambda: reserve_settle(free), calls // 5))
    )

    users = [UserFactory() for _ in range(50)]
    for n in range(10_000):
        api_call_count(user_id=users[n % 50].pk)
    api_calls_flush()  # the free/limited counts so far
    for n in range(10_000):
        api_call_count(user_id=users[n % 50].pk)
    started = time.perf_counter()
    result = api_calls_flush()
    flush_ms = (time.perf_counter() - started) * 1000

    print(f"resources_bench: {calls} calls per round, median of 5 rounds, microseconds per call\n")
    print("| operation | us per call |")
    print("|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value:,.1f} |")
    print(f"\nflush of {result['requests']:,} counted requests ({result['rows']} usage rows): {flush_ms:,.1f} ms")


if __name__ == "__main__":
    main()
