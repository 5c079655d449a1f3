"""Business gauges that alerts depend on, computed from the real database by the refresh job."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.chat import gateway
from apps.core.metrics import CACHE_KEY, refresh_business_metrics
from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db


def _gauge(data: dict, name: str) -> float:
    [[labels, value]] = data["gauges"][name]
    assert labels == []
    return value


def _meter_gauge(data: dict, name: str, meter: str) -> float:
    values = {tuple(labels): value for labels, value in data["gauges"][name]}
    return values[(meter,)]


@pytest.fixture
def token_use():
    """Today, through the AI gateway: one user at 1,100 tokens over two calls, another at 200; system calls (no
    user) count for nobody. The quota gauges are the resources system's, per meter."""
    heavy, light = UserFactory(), UserFactory()
    gateway.record_usage(user=heavy, purpose="chat", model_name="m", prompt_tokens=400, completion_tokens=300)
    gateway.record_usage(user=heavy, purpose="rag.ask", model_name="m", prompt_tokens=300, completion_tokens=100)
    gateway.record_usage(user=light, purpose="chat", model_name="m", prompt_tokens=150, completion_tokens=50)
    gateway.record_usage(user=None, purpose="rag.embed", model_name="m", prompt_tokens=5000, completion_tokens=0)


def test_quota_gauges_follow_the_daily_token_quota(settings, token_use, django_assert_max_num_queries):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 1000
    cache.delete(CACHE_KEY)
    data = refresh_business_metrics()
    assert data["errors"] == []
    assert _meter_gauge(data, "resources_quota_usage_ratio", "llm.tokens") == pytest.approx(1.1)
    assert _meter_gauge(data, "resources_users_over_quota", "llm.tokens") == 1
    assert _meter_gauge(data, "resources_users_over_quota", "ai.calls") == 0  # no limit on AI calls
    assert _meter_gauge(data, "resources_usage_today", "llm.tokens") == 1300 + 5000

    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 2000
    data = refresh_business_metrics()
    assert _meter_gauge(data, "resources_quota_usage_ratio", "llm.tokens") == pytest.approx(0.55)
    assert _meter_gauge(data, "resources_users_over_quota", "llm.tokens") == 0

    from apps.resources import metrics

    metrics._quota_usage_ratio()
    with django_assert_max_num_queries(1):  # the users' limits come from the cache: one query for the counters
        metrics._quota_usage_ratio()


def test_quota_gauges_are_zero_without_a_quota(settings, token_use):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 0
    from apps.resources import metrics

    assert set(metrics._quota_usage_ratio().values()) == {0.0}
    assert set(metrics._users_over_quota().values()) == {0}


def test_quota_gauges_are_exported_at_metrics(settings, token_use, client):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 1000
    refresh_business_metrics()
    body = client.get("/metrics").content.decode()
    assert '\nresources_users_over_quota{meter="llm.tokens"} 1.0\n' in body
    assert '\nresources_quota_usage_ratio{meter="llm.tokens"} 1.1\n' in body
