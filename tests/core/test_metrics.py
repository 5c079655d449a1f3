"""Business metrics: computed by the refresh job into the cache, exported from the cache at scrape time."""

import pytest
from django.core.cache import cache
from prometheus_client.parser import text_string_to_metric_families

from apps.core import metrics, tasks
from tests.core.factories import AuditLogFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.delete(metrics.CACHE_KEY)
    yield
    cache.delete(metrics.CACHE_KEY)


def scrape(client) -> dict[str, list]:
    body = client.get("/metrics").content.decode()
    return {f.name: f.samples for f in text_string_to_metric_families(body)}


def test_refresh_job_computes_gauges_into_the_cache(make_user, make_api_key):
    AuditLogFactory.create_batch(3)
    make_api_key(make_user())
    assert tasks.refresh_business_metrics_task() >= 2
    data = cache.get(metrics.CACHE_KEY)
    assert data["gauges"]["aistack_api_keys_active"] == [[[], 1.0]]
    assert data["gauges"]["aistack_active_users"][0][1] == 4.0  # three audited actors and the key owner
    assert data["errors"] == []


def test_scrape_reads_the_cached_snapshot_without_querying(client, django_assert_max_num_queries):
    metrics.refresh_business_metrics()
    AuditLogFactory()  # written after the snapshot: not visible until the next refresh
    with django_assert_max_num_queries(0):
        families = scrape(client)
    assert families["aistack_active_users"][0].value == 0.0
    assert "aistack_business_metrics_age_seconds" in families


def test_scrape_computes_once_when_no_snapshot_exists(client):
    AuditLogFactory()
    families = scrape(client)
    assert families["aistack_active_users"][0].value == 1.0
    assert cache.get(metrics.CACHE_KEY) is not None


def test_labelled_gauge_and_failing_gauge(client):
    @metrics.business_gauge("test_things", "Things by colour", labels=("colour",))
    def _things():
        return {("red",): 2, ("blue",): 5}

    @metrics.business_gauge("test_broken", "A gauge whose query fails")
    def _broken():
        raise RuntimeError("boom")

    try:
        families = scrape(client)
        values = {s.labels["colour"]: s.value for s in families["test_things"]}
        assert values == {"red": 2.0, "blue": 5.0}
        assert families["test_broken"] == []
        assert families["aistack_business_metrics_failed"][0].value == 1.0
    finally:
        metrics._gauges.pop("test_things")
        metrics._gauges.pop("test_broken")


def test_gauge_names_are_unique():
    with pytest.raises(ValueError):

        @metrics.business_gauge("aistack_active_users", "again")
        def _other():
            return 0


def test_logins_are_counted(api_client, make_user):
    user = make_user()
    before = metrics.LOGINS.labels(outcome="failure")._value.get()
    api_client.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert metrics.LOGINS.labels(outcome="failure")._value.get() == before + 1
