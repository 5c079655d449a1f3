"""No two concurrent requests can both pass the last unit of a quota: 20 parallel requests through the real API
(a live server, real HTTP) against a real Redis (the API-call meter) and PostgreSQL (reservations), and exactly the
remaining amount succeeds; the others get 429 quota_exceeded with Retry-After, in our error shape on /api/v1 and
OpenAI's on /v1."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import redis
from django.conf import settings as django_settings

from apps.chat.models import UsageRecord
from apps.core.exceptions import QuotaExceeded
from apps.core.testing.fake_llm import completion
from apps.resources.counters import counter_store
from apps.resources.models import QuotaCounter, QuotaHold
from apps.resources.services.api_calls import api_calls_flush
from apps.resources.services.plans import plan_assign
from tests.chat.factories import ChatModelFactory, ProviderFactory
from tests.resources.factories import PlanFactory, PlanLimitFactory

pytestmark = pytest.mark.django_db(transaction=True)
PARALLEL = 20


def _fire(method: str, url: str, headers: dict[str, str], body: dict | None = None) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.request(method, url, headers=headers, json=body)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def _limited_user(make_user, meter: str, period: str, limit: int):
    user = make_user(role="user")
    plan = PlanFactory()
    PlanLimitFactory(plan=plan, meter=meter, period=period, limit=Decimal(limit))
    plan_assign(plan=plan, user=user)
    return user


@pytest.fixture
def redis_counters(settings):
    url = django_settings.TEST_REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:  # the suite promises a real Redis for tests marked 'redis'
        pytest.fail(f"Redis is required at {url} for tests marked 'redis' ({exc})")
    settings.RESOURCES_COUNTER_URL = url
    counter_store().reset()
    yield counter_store()
    counter_store().reset()


@pytest.mark.redis
def test_exactly_the_remaining_api_calls_pass_under_20_parallel_requests(
    live_server, make_user, make_api_key, redis_counters
):
    user = _limited_user(make_user, "api.calls", "month", 13)
    _, key = make_api_key(user)
    responses = _fire("GET", f"{live_server.url}/api/v1/resources/my-quota/", {"X-API-Key": key})
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 13 + [429] * 7
    refused = next(r for r in responses if r.status_code == 429)
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert (error["details"]["meter"], error["details"]["period"], error["details"]["limit"]) == (
        "api.calls",
        "month",
        "13",
    )
    assert int(refused.headers["Retry-After"]) >= 1
    # the counts reach the database in one batch, exactly
    assert api_calls_flush()["requests"] == 13
    counter = QuotaCounter.objects.get(user=user, meter="api.calls", period="month")
    assert counter.used == 13


def test_exactly_the_remaining_ai_calls_pass_under_20_parallel_completions(
    live_server, make_user, make_api_key, fake_llm
):
    provider = ProviderFactory(name="Race upstream", base_url=fake_llm.base_url)
    ChatModelFactory(slug="gpt-fake", provider=provider)
    user = _limited_user(make_user, "ai.calls", "day", 7)
    _, key = make_api_key(user)
    fake_llm.script(*[completion("ok", prompt=3, completion_tokens=2) for _ in range(PARALLEL)])
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    responses = _fire("POST", f"{live_server.url}/v1/chat/completions", {"Authorization": f"Bearer {key}"}, body)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [429] * 13
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "quota_exceeded"  # OpenAI's error shape on /v1
    assert {"message", "type", "code"} <= set(refused.json()["error"])
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(fake_llm.chat_requests) == 7  # the refused ones never reached the upstream
    counter = QuotaCounter.objects.get(user=user, meter="ai.calls", period="day")
    assert (counter.used, counter.reserved) == (7, 0)  # every hold settled, nothing left reserved
    assert not QuotaHold.objects.filter(status="held").exists()
    assert UsageRecord.objects.filter(user=user, outcome="ok").count() == 7


@pytest.mark.redis
def test_a_process_takes_calls_in_leases_far_from_the_limit_and_one_by_one_near_it(make_user, redis_counters):
    """Far from the limit a lease covers up to LEASE_MAX calls (one round trip for many requests); near it, never
    more than a sixteenth of what is left, so the last calls are checked one by one; counts reach the database
    exactly, and a lease left unused goes back to the total."""
    from apps.resources import counters
    from apps.resources.services.api_calls import api_call_count

    user = _limited_user(make_user, "api.calls", "day", 100)
    client = redis_counters.client
    for _ in range(3):
        api_call_count(user_id=user.pk)
    [key] = [k.decode() for k in client.scan_iter(match=counters.TOTAL + "*")]
    assert int(client.get(key)) == 6  # one lease: a sixteenth of the 100 left
    for _ in range(97):
        api_call_count(user_id=user.pk)
    assert int(client.get(key)) == 100
    with pytest.raises(QuotaExceeded):
        api_call_count(user_id=user.pk)
    assert api_calls_flush()["requests"] == 100
    assert QuotaCounter.objects.get(user=user, meter="api.calls", period="day").used == 100

    other = _limited_user(make_user, "api.calls", "month", 10**9)
    api_call_count(user_id=other.pk)
    other_key = next(k.decode() for k in client.scan_iter(match=counters.TOTAL + f"{other.pk}:*"))
    assert int(client.get(other_key)) == counters.LEASE_MAX
    redis_counters.leases[other_key][1] -= counters.LEASE_SECONDS  # as if taken long ago
    redis_counters.push()
    assert int(client.get(other_key)) == 1  # the 31 unused calls went back
