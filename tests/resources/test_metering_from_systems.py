"""Every system reports through metering and is refused by its quotas: the AI gateway (tokens in and out, cost and
AI calls by model; an AI-call limit refuses before the upstream is called), RAG storage (documents, bytes and
chunks held by the knowledge base's owner; a document that does not fit is 429 and written nowhere), stock research
(CPU-seconds of a backtest; no CPU time left refuses creating one), and the API-call meter on every API, ERP and
the OpenAI-compatible one included. And the back office pages of metering."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.chat import gateway
from apps.chat.models import UsageRecord
from apps.core.exceptions import QuotaExceeded
from apps.core.testing import assert_error_body
from apps.core.testing.fake_llm import completion
from apps.rag.models import Document
from apps.rag.services import document_delete, document_upload
from apps.resources.counters import counter_store
from apps.resources.models import PlanLimit, QuotaCounter, QuotaOverride, UsageDaily
from apps.resources.periods import LEVEL_START, period_start
from apps.resources.selectors.quotas import limits_forget_local
from apps.resources.services.api_calls import api_calls_flush
from apps.resources.services.metering import meter_record
from apps.stock.models import BacktestRun
from apps.stock.services.bars import bars_import
from tests.chat.factories import ChatModelFactory, ProviderFactory
from tests.rag.factories import KnowledgeBaseFactory
from tests.resources.factories import PlanAssignmentFactory, PlanFactory, PlanLimitFactory, QuotaCounterFactory

pytestmark = pytest.mark.django_db
INDEX_2006 = Path(__file__).parent.parent / "stock" / "fixtures" / "2006-day-001.txt"
HI = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path):
    settings.RESOURCES_COUNTER_URL = ""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.HTTP_RETRY_BACKOFF = 0.0
    limits_forget_local()
    counter_store().reset()
    yield
    counter_store().reset()
    limits_forget_local()


@pytest.fixture
def chat_model(db, fake_llm):
    provider = ProviderFactory(name="Fake upstream", base_url=fake_llm.base_url)
    return ChatModelFactory(slug="gpt-fake", display_name="Fake GPT", provider=provider)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def _call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _call


def on_plan(user, *limits):
    plan = PlanFactory()
    for meter, period, limit in limits:
        PlanLimitFactory(plan=plan, meter=meter, period=period, limit=Decimal(limit))
    PlanAssignmentFactory(plan=plan, user=user)
    return plan


def usage(user, meter, **filters):
    return sum((r.quantity for r in UsageDaily.objects.filter(user=user, meter=meter, **filters)), Decimal(0))


def level(user, meter):
    row = QuotaCounter.objects.filter(user=user, meter=meter, period="total", period_start=LEVEL_START).first()
    return row.used if row else Decimal(0)


# --- the AI gateway ---------------------------------------------------------------------------------------------------


def test_a_chat_completion_records_tokens_cost_and_the_call_by_model(fake_llm, chat_model, make_user, make_api_key):
    user = make_user(role="user")
    key = make_api_key(user)[0]
    fake_llm.script(completion("Hi.", prompt=1000, completion_tokens=2000))
    gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat", api_key=key)
    rows = {r.meter: r for r in UsageDaily.objects.filter(user=user)}
    assert set(rows) == {"llm.tokens", "llm.tokens_in", "llm.tokens_out", "llm.cost", "ai.calls"}
    assert {m: r.quantity for m, r in rows.items()} == {
        "llm.tokens": Decimal(3000),
        "llm.tokens_in": Decimal(1000),
        "llm.tokens_out": Decimal(2000),
        "llm.cost": Decimal("3.5"),  # 1k in at 0.5 + 2k out at 1.5
        "ai.calls": Decimal(1),
    }
    assert {r.dimension for r in rows.values()} == {UsageRecord.objects.get().model_name}
    assert {r.api_key_id for r in rows.values()} == {key.pk}
    month = period_start("month")
    assert QuotaCounter.objects.get(user=user, meter="ai.calls", period="month", period_start=month).used == 1


def test_a_streamed_completion_and_an_embedding_are_metered(fake_llm, chat_model, make_user):
    from apps.core.testing.fake_llm import streamed

    user = make_user(role="user")
    on_plan(user, ("llm.tokens", "month", 100000), ("ai.calls", "month", 100))
    fake_llm.script(streamed(["Hel", "lo"], prompt=7, completion_tokens=2))
    assert list(gateway.stream(user=user, model=chat_model, messages=HI, purpose="chat")) == ["Hel", "lo"]
    assert (usage(user, "llm.tokens"), usage(user, "ai.calls")) == (9, 1)
    target = gateway.Upstream(base_url=fake_llm.base_url, label="Embedder")
    gateway.embed(user=user, texts=["a b", "c"], purpose="rag.embed", upstream=target, upstream_model="e")
    assert usage(user, "llm.tokens", dimension="e") == 3
    assert usage(user, "ai.calls") == 1  # an embedding is not an AI call
    tokens = QuotaCounter.objects.get(user=user, meter="llm.tokens", period="month")
    assert (tokens.used, tokens.reserved) == (12, 0)  # every hold settled


def test_an_ai_calls_limit_of_one_refuses_the_second_call_before_the_upstream(fake_llm, chat_model, make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 1))
    gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat")
    assert len(fake_llm.chat_requests) == 1
    with pytest.raises(QuotaExceeded) as info:
        gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat")
    assert (info.value.details["meter"], info.value.details["limit"]) == ("ai.calls", "1")
    with pytest.raises(QuotaExceeded):
        gateway.stream(user=user, model=chat_model, messages=HI, purpose="chat")
    assert len(fake_llm.chat_requests) == 1  # refused before anything was sent
    counter = QuotaCounter.objects.get(user=user, meter="ai.calls", period="month")
    assert (counter.used, counter.reserved) == (1, 0)


def test_a_failed_call_gives_its_hold_back(fake_llm, chat_model, make_user, settings):
    from apps.chat.client import UpstreamError
    from apps.core.testing.fake_llm import error

    settings.HTTP_RETRY_ATTEMPTS = 1
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 1))
    fake_llm.script(error(500))
    with pytest.raises(UpstreamError):
        gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat")
    counter = QuotaCounter.objects.get(user=user, meter="ai.calls", period="month")
    assert (counter.used, counter.reserved) == (0, 0)
    gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat")  # the call is still there


def test_the_openai_api_answers_429_over_the_ai_calls_limit(fake_llm, chat_model, role_users, make_api_key, api_client):
    user = role_users["user"]
    on_plan(user, ("ai.calls", "day", 1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(user)[1]}")
    hi = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    assert api_client.post("/v1/chat/completions", hi, format="json").status_code == 200
    refused = api_client.post("/v1/chat/completions", hi, format="json")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
    assert len(fake_llm.chat_requests) == 1
    assert usage(user, "ai.calls") == 1 and UsageDaily.objects.filter(user=user, meter="ai.calls").get().api_key_id


# --- RAG storage ------------------------------------------------------------------------------------------------------


def test_an_upload_and_its_ingestion_are_storage_of_the_owner_and_a_delete_gives_it_back(make_user, run_on_commit):
    owner, uploader = make_user(role="user"), make_user(role="manager")
    kb = KnowledgeBaseFactory(owner=owner, name="Handbook")
    data = b"The pump moves water. The pump needs a seal."
    result = run_on_commit(document_upload, kb=kb, filename="pump.txt", data=data, uploaded_by=uploader)
    document = result.document
    document.refresh_from_db()
    assert document.status == "ready" and document.chunks_total >= 1
    assert (level(owner, "storage.documents"), level(owner, "storage.bytes")) == (1, len(data))
    assert level(owner, "storage.chunks") == document.chunks_total
    assert not QuotaCounter.objects.filter(user=uploader).exists()  # the owner holds it, not the uploader
    second = run_on_commit(document_upload, kb=kb, filename="b.txt", data=b"Seals wear out over time.").document
    assert (level(owner, "storage.documents"), level(owner, "storage.bytes")) == (2, len(data) + 25)
    run_on_commit(document_delete, document=document)
    second.refresh_from_db()
    assert (level(owner, "storage.documents"), level(owner, "storage.bytes")) == (1, 25)
    assert level(owner, "storage.chunks") == second.chunks_total
    run_on_commit(document_delete, document=second)
    assert (level(owner, "storage.documents"), level(owner, "storage.bytes"), level(owner, "storage.chunks")) == (
        0,
        0,
        0,
    )


def test_deleting_a_knowledge_base_gives_all_its_storage_back(make_user, run_on_commit):
    from apps.rag.services import knowledge_base_delete

    owner = make_user(role="user")
    kb = KnowledgeBaseFactory(owner=owner, name="Gone soon")
    run_on_commit(document_upload, kb=kb, filename="a.txt", data=b"Alpha words here.")
    run_on_commit(document_upload, kb=kb, filename="b.txt", data=b"Beta words there.")
    assert level(owner, "storage.documents") == 2 and level(owner, "storage.chunks") >= 2
    run_on_commit(knowledge_base_delete, kb=kb)
    assert (level(owner, "storage.documents"), level(owner, "storage.bytes"), level(owner, "storage.chunks")) == (
        0,
        0,
        0,
    )


def test_a_document_that_does_not_fit_is_429_and_written_nowhere(role_users, role_client, run_on_commit, media_path):
    owner = role_users["user"]
    on_plan(owner, ("storage.documents", "total", 1))
    kb = KnowledgeBaseFactory(owner=owner, name="Small")
    client = role_client("user")
    first = run_on_commit(
        client.post,
        "/api/v1/rag/documents/",
        {"knowledge_base": kb.pk, "files": [SimpleUploadedFile("a.txt", b"First document words.")]},
        format="multipart",
    )
    assert first.status_code == 202, first.content
    files_before = sorted(p.name for p in media_path.rglob("*") if p.is_file())
    over = client.post(
        "/api/v1/rag/documents/",
        {"knowledge_base": kb.pk, "files": [SimpleUploadedFile("b.txt", b"Second document words.")]},
        format="multipart",
    )
    error = assert_error_body(over, 429, "quota_exceeded")
    assert (error["details"]["meter"], error["details"]["period"], error["details"]["limit"]) == (
        "storage.documents",
        "total",
        "1",
    )
    assert Document.objects.filter(knowledge_base=kb).count() == 1
    assert sorted(p.name for p in media_path.rglob("*") if p.is_file()) == files_before
    assert level(owner, "storage.documents") == 1
    assert QuotaCounter.objects.get(user=owner, meter="storage.documents").reserved == 0


def test_a_bytes_limit_refuses_a_document_too_large(make_user):
    owner = make_user(role="user")
    on_plan(owner, ("storage.bytes", "total", 10))
    kb = KnowledgeBaseFactory(owner=owner, name="Tiny")
    with pytest.raises(QuotaExceeded) as info:
        document_upload(kb=kb, filename="big.txt", data=b"eleven byte")
    assert info.value.details["meter"] == "storage.bytes"
    assert not Document.objects.exists()


@pytest.fixture
def media_path(settings):
    return Path(settings.MEDIA_ROOT)


# --- stock research ---------------------------------------------------------------------------------------------------


@pytest.fixture
def index_2006(db):
    bars_import(
        source=INDEX_2006, symbol="IDX", timeframe="1d", options={"columns": {"adj_close": "", "volume": "Volume"}}
    )


def test_a_backtest_records_cpu_seconds_for_its_owner(role_users, role_client, index_2006, run_on_commit):
    owner = role_users["user"]
    response = run_on_commit(
        role_client("user").post, "/api/v1/stock/backtests/", {"symbol": "IDX", "kind": "buy_and_hold"}, format="json"
    )
    assert response.status_code == 202, response.content
    assert BacktestRun.objects.get().status == "succeeded"
    [row] = UsageDaily.objects.filter(meter="compute.cpu_seconds")
    assert row.user == owner and row.events == 1 and row.quantity >= 0
    assert row.dimension  # the kind of work
    assert QuotaCounter.objects.filter(user=owner, meter="compute.cpu_seconds", period="month").exists()


def test_no_cpu_time_left_refuses_creating_a_backtest(role_users, role_client, index_2006):
    owner = role_users["user"]
    on_plan(owner, ("compute.cpu_seconds", "month", 0))
    response = role_client("user").post(
        "/api/v1/stock/backtests/", {"symbol": "IDX", "kind": "buy_and_hold"}, format="json"
    )
    error = assert_error_body(response, 429, "quota_exceeded")
    assert error["details"]["meter"] == "compute.cpu_seconds" and int(response["Retry-After"]) > 0
    assert not BacktestRun.objects.exists()
    # another user is not limited by it
    assert (
        role_client("manager")
        .post("/api/v1/stock/backtests/", {"symbol": "IDX", "kind": "buy_and_hold"}, format="json")
        .status_code
        == 202
    )


def test_cpu_time_used_up_refuses_the_next_backtest(role_users, role_client, index_2006):
    owner = role_users["user"]
    on_plan(owner, ("compute.cpu_seconds", "day", 5))
    meter_record(meter="compute.cpu_seconds", quantity=5, user=owner)
    response = role_client("user").post(
        "/api/v1/stock/backtests/", {"symbol": "IDX", "kind": "buy_and_hold"}, format="json"
    )
    assert_error_body(response, 429, "quota_exceeded")


# --- the API-call meter -----------------------------------------------------------------------------------------------


def test_authenticated_requests_are_counted_and_anonymous_ones_not(role_users, client_for, make_api_key, api_client):
    user = role_users["guest"]
    client_for(user).get("/api/v1/erp/customers/")
    client_for(user).get("/api/v1/resources/meters/")
    raw = make_api_key(user)
    key_client = api_client
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[1]}")
    assert key_client.get("/api/v1/erp/products/").status_code == 200
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/erp/customers/").status_code == 401
    assert APIClient().get("/api/v1/resources/meters/").status_code == 401
    assert api_calls_flush()["requests"] == 3
    rows = {r.api_key_id: r.quantity for r in UsageDaily.objects.filter(meter="api.calls")}
    assert rows == {None: 2, raw[0].pk: 1}
    assert set(UsageDaily.objects.values_list("user_id", flat=True)) == {user.pk}
    counter = QuotaCounter.objects.get(user=user, meter="api.calls", period="month")
    assert counter.used == 3


def test_the_meter_can_be_switched_off(role_users, client_for, settings):
    settings.RESOURCES_METER_API_CALLS = False
    client_for(role_users["user"]).get("/api/v1/resources/meters/")
    assert api_calls_flush()["requests"] == 0


def test_a_monthly_limit_of_five_api_calls_gives_five_then_429(role_users, client_for):
    user = role_users["user"]
    on_plan(user, ("api.calls", "month", 5))
    client = client_for(user)
    statuses = [client.get("/api/v1/erp/customers/").status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = client.get("/api/v1/resources/my-quota/")
    error = assert_error_body(refused, 429, "quota_exceeded")
    assert (error["details"]["meter"], error["details"]["limit"]) == ("api.calls", "5")
    assert int(refused["Retry-After"]) > 0
    assert_error_body(client.get("/api/v1/erp/customers/"), 429, "quota_exceeded")
    assert client_for(role_users["manager"]).get("/api/v1/erp/customers/").status_code == 200
    assert api_calls_flush()["requests"] == 6  # five of the user, one of the manager
    assert QuotaCounter.objects.get(user=user, meter="api.calls", period="month").used == 5


def test_the_api_calls_limit_on_v1_models_has_the_openai_error_shape(role_users, make_api_key, api_client):
    user = role_users["user"]
    on_plan(user, ("api.calls", "day", 1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(user)[1]}")
    assert api_client.get("/v1/models").status_code == 200
    response = api_client.get("/v1/models")
    assert response.status_code == 429, response.content[:300]
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error)
    assert error["code"] == "quota_exceeded" and error["type"] == "rate_limit_error"
    assert int(response["Retry-After"]) > 0


# --- the back office --------------------------------------------------------------------------------------------------


def test_the_usage_changelist_renders_the_chart(admin_client, make_user):
    user = make_user(role="user")
    meter_record(meter="llm.tokens", quantity=1200, user=user)
    meter_record(meter="ai.calls", quantity=3, user=user)
    response = admin_client.get("/admin/resources/usagedaily/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Usage of the last 30 days" in html
    assert "LLM tokens (in and out)" in html and "AI calls" in html
    labels = [series["label"] for series in response.context["chart_series"]]
    assert set(labels) == {"LLM tokens (in and out)", "AI calls"}
    assert all(len(series["bars"]) == 30 for series in response.context["chart_series"])
    tokens = next(s for s in response.context["chart_series"] if s["label"] == "LLM tokens (in and out)")
    assert tokens["bars"][-1]["height"] == 100 and tokens["bars"][0]["height"] == 0  # today is the peak
    assert tokens["bars"][-1]["title"].endswith(": 1200")  # a plain number, not 1.2E+3


def test_the_usage_changelist_without_usage_says_so(admin_client):
    response = admin_client.get("/admin/resources/usagedaily/")
    assert response.status_code == 200 and "Nothing recorded in this period yet." in response.content.decode()


def test_the_counter_changelist_shows_a_bar_of_the_limit(admin_client, make_user):
    user = make_user(role="user", username="bar-user")
    on_plan(user, ("ai.calls", "month", 10))
    QuotaCounterFactory(user=user, meter="ai.calls", period="month", used=Decimal(5))
    QuotaCounterFactory(user=user, meter="llm.tokens", period="month", used=Decimal(7))
    html = admin_client.get("/admin/resources/quotacounter/").content.decode()
    assert "width:50%" in html and "5 / 10<" in html  # plain numbers, not 1E+1
    assert "no limit" in html  # llm.tokens is unlimited on the plan


def test_a_plan_is_added_with_a_limit_inline(admin_client):
    response = admin_client.post(
        "/admin/resources/plan/add/",
        {
            "code": "team",
            "name": "Team",
            "tier": "custom",
            "description": "",
            "active": "on",
            "limits-TOTAL_FORMS": "1",
            "limits-INITIAL_FORMS": "0",
            "limits-MIN_NUM_FORMS": "0",
            "limits-MAX_NUM_FORMS": "1000",
            "limits-0-meter": "ai.calls",
            "limits-0-period": "month",
            "limits-0-limit": "250",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    limit = PlanLimit.objects.get(plan__code="team")
    assert (limit.meter, limit.period, limit.limit) == ("ai.calls", "month", 250)


def test_a_plan_limit_inline_on_the_wrong_period_is_refused(admin_client):
    response = admin_client.post(
        "/admin/resources/plan/add/",
        {
            "code": "bad",
            "name": "Bad",
            "tier": "custom",
            "active": "on",
            "limits-TOTAL_FORMS": "1",
            "limits-INITIAL_FORMS": "0",
            "limits-MIN_NUM_FORMS": "0",
            "limits-MAX_NUM_FORMS": "1000",
            "limits-0-meter": "storage.bytes",
            "limits-0-period": "month",
            "limits-0-limit": "250",
        },
    )
    assert response.status_code == 200 and "can be limited over" in response.content.decode()
    assert not PlanLimit.objects.filter(plan__code="bad").exists()


def test_an_override_above_the_plan_shows_the_error_in_the_admin(admin_client, make_user):
    user = make_user(role="user")
    on_plan(user, ("ai.calls", "month", 10))
    response = admin_client.post(
        "/admin/resources/quotaoverride/add/",
        {"user": user.pk, "meter": "ai.calls", "period": "month", "limit": "500", "reason": "please"},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("needs an approval" in m for m in messages), messages
    assert not QuotaOverride.objects.exists()
    within = admin_client.post(
        "/admin/resources/quotaoverride/add/",
        {"user": user.pk, "meter": "ai.calls", "period": "month", "limit": "5", "reason": ""},
    )
    assert within.status_code == 302 and QuotaOverride.objects.get().limit == 5
