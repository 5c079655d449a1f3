"""Business gauges that alerts depend on, computed from the real database by the refresh job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from apps.chat.models import UsageRecord
from apps.core.metrics import CACHE_KEY, refresh_business_metrics
from tests.chat.factories import UsageRecordFactory
from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db


def _gauge(data: dict, name: str) -> float:
    [[labels, value]] = data["gauges"][name]
    assert labels == []
    return value


@pytest.fixture
def token_use():
    """Today, in the AI gateway's ledger: one user at 1,100 tokens over two calls, another at 200; system calls (no
    user) and yesterday's calls do not count."""
    heavy, light = UserFactory(), UserFactory()
    UsageRecordFactory(user=heavy, prompt_tokens=400, completion_tokens=300)
    UsageRecordFactory(user=heavy, purpose="rag.ask", prompt_tokens=300, completion_tokens=100)
    UsageRecordFactory(user=light, prompt_tokens=150, completion_tokens=50)
    UsageRecordFactory(user=None, purpose="rag.embed", prompt_tokens=5000, completion_tokens=0)
    old = UsageRecordFactory(user=light, prompt_tokens=9000, completion_tokens=9000)
    UsageRecord.objects.filter(pk=old.pk).update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1, hours=1))


def test_chat_quota_gauges_follow_the_daily_quota(settings, token_use, django_assert_max_num_queries):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 1000
    cache.delete(CACHE_KEY)
    data = refresh_business_metrics()
    assert data["errors"] == []
    assert _gauge(data, "chat_token_quota_usage_ratio") == pytest.approx(1.1)
    assert _gauge(data, "chat_users_over_token_quota") == 1
    assert cache.get(CACHE_KEY)["gauges"]["chat_users_over_token_quota"] == [[[], 1.0]]

    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 2000
    data = refresh_business_metrics()
    assert _gauge(data, "chat_token_quota_usage_ratio") == pytest.approx(0.55)
    assert _gauge(data, "chat_users_over_token_quota") == 0

    from apps.chat import metrics

    with django_assert_max_num_queries(1):
        metrics._token_quota_usage_ratio()


def test_chat_quota_gauges_are_zero_without_a_quota(settings, token_use, django_assert_max_num_queries):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 0
    with django_assert_max_num_queries(0):
        from apps.chat import metrics

        assert metrics._token_quota_usage_ratio() == 0
        assert metrics._users_over_token_quota() == 0


def test_chat_quota_gauges_are_exported_at_metrics(settings, token_use, client):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 1000
    refresh_business_metrics()
    body = client.get("/metrics").content.decode()
    assert "\nchat_users_over_token_quota 1.0\n" in body
    assert "\nchat_token_quota_usage_ratio 1.1\n" in body
