"""The AI gateway (apps.chat.gateway): quota policies before the call, one usage ledger for every call, plain,
streamed, with tools and embeddings, against the fake LLM on loopback."""

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from apps.chat import gateway
from apps.chat.client import UpstreamError
from apps.chat.models import UsageRecord
from apps.chat.services import Completion
from apps.chat.tools import ToolContext
from apps.core.exceptions import QuotaExceeded, ValidationFailed
from apps.core.testing.fake_llm import completion, error, streamed, tool_call
from tests.chat.factories import BuiltinProviderFactory, ChatModelFactory

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "Hello there"}]


def calls(purpose, outcome):
    return REGISTRY.get_sample_value("ai_gateway_calls_total", {"purpose": purpose, "outcome": outcome}) or 0


def test_a_completion_is_recorded_once_with_tokens_cost_latency_and_outcome(
    upstream, chat_model, make_user, make_api_key
):
    user = make_user(role="user")
    key = make_api_key(user)[0]
    upstream.script(completion("Hi.", prompt=1000, completion_tokens=2000))
    before = calls("content.generate", "ok")
    result = gateway.complete(
        user=user, model=chat_model, messages=HI, purpose="content.generate", api_key=key, temperature=0.2
    )
    assert (result.content, result.finish_reason, result.usage_reported) == ("Hi.", "stop", True)
    assert result.cost == Decimal("3.500000")  # 1k in at 0.5 + 2k out at 1.5
    sent = upstream.chat_requests[0]["json"]
    assert (sent["model"], sent["temperature"], sent["stream"]) == ("up-model", 0.2, False)
    assert "tools" not in sent
    [record] = UsageRecord.objects.all()
    assert (record.user, record.api_key, record.model, record.model_name) == (user, key, chat_model, "gpt-fake")
    assert (record.purpose, record.kind, record.outcome) == ("content.generate", "completion", "ok")
    assert (record.prompt_tokens, record.completion_tokens, record.cost) == (1000, 2000, Decimal("3.500000"))
    assert record.latency_ms >= 0 and not record.tokens_estimated
    assert result.record == record
    assert calls("content.generate", "ok") == before + 1


def test_tools_are_offered_and_tool_calls_returned(upstream, chat_model, make_user):
    upstream.script(tool_call("lookup", {"code": "A1"}, call_id="c7"))
    spec = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    result = gateway.complete(
        user=make_user(role="user"), model=chat_model, messages=HI, purpose="agents.run", tools=[spec],
        tool_choice="auto",
    )  # fmt: skip
    assert result.tool_calls == [
        {"id": "c7", "type": "function", "function": {"name": "lookup", "arguments": '{"code": "A1"}'}}
    ]
    assert result.finish_reason == "tool_calls"
    sent = upstream.chat_requests[0]["json"]
    assert sent["tools"] == [spec] and sent["tool_choice"] == "auto"


def test_tokens_are_estimated_when_the_upstream_reports_none(upstream, chat_model, make_user):
    upstream.script(completion("12345678", usage=False))
    result = gateway.complete(user=make_user(role="user"), model=chat_model, messages=HI, purpose="chat")
    assert (result.prompt_tokens, result.completion_tokens, result.usage_reported) == (3, 2, False)
    record = UsageRecord.objects.get()
    assert record.tokens_estimated and (record.prompt_tokens, record.completion_tokens) == (3, 2)


def test_a_failed_call_is_recorded_with_its_error_code(upstream, chat_model, make_user, settings):
    settings.HTTP_RETRY_ATTEMPTS = 2
    upstream.script(error(500), error(503))
    before = calls("chat", "upstream_error")
    with pytest.raises(UpstreamError):
        gateway.complete(user=make_user(role="user"), model=chat_model, messages=HI, purpose="chat")
    record = UsageRecord.objects.get()
    assert (record.outcome, record.prompt_tokens, record.completion_tokens) == ("upstream_error", 0, 0)
    assert len(upstream.chat_requests) == 2
    assert calls("chat", "upstream_error") == before + 1


def test_a_stream_is_recorded_when_it_ends(upstream, chat_model, make_user):
    upstream.script(streamed(["Hel", "lo"], prompt=7, completion_tokens=2))
    stream = gateway.stream(user=make_user(role="user"), model=chat_model, messages=HI, purpose="chat")
    assert not UsageRecord.objects.exists()  # nothing is sent before the stream is read
    assert list(stream) == ["Hel", "lo"]
    assert (stream.result.content, stream.result.prompt_tokens, stream.result.completion_tokens) == ("Hello", 7, 2)
    record = UsageRecord.objects.get()
    assert (record.kind, record.outcome, record.prompt_tokens, record.completion_tokens) == ("stream", "ok", 7, 2)


def test_a_stream_closed_early_or_broken_is_recorded_too(upstream, chat_model, make_user):
    user = make_user(role="user")
    upstream.script(streamed(["One ", "two ", "three"]), streamed(["Part", "ial"], broken=True))
    stream = gateway.stream(user=user, model=chat_model, messages=HI, purpose="chat")
    assert next(stream) == "One "
    stream.close()
    broken = gateway.stream(user=user, model=chat_model, messages=HI, purpose="chat")
    pieces = []
    with pytest.raises(UpstreamError):
        pieces.extend(broken)
    assert pieces == ["Part", "ial"]
    closed, failed = UsageRecord.objects.order_by("id")
    assert closed.outcome == "client_closed" and closed.tokens_estimated and closed.completion_tokens == 1
    assert failed.outcome == "stream_broken" and failed.completion_tokens == 2  # "Partial", estimated


def test_embeddings_in_order_and_metered(upstream, make_user):
    upstream.reverse_embeddings = True
    user = make_user(role="user")
    target = gateway.Upstream(base_url=upstream.base_url, label="Embedder")
    result = gateway.embed(user=user, texts=["a b", "c"], purpose="rag.embed", upstream=target, upstream_model="e")
    assert result.vectors == [upstream.vector("a b", 8), upstream.vector("c", 8)]
    assert (result.prompt_tokens, result.usage_reported) == (3, True)
    record = UsageRecord.objects.get()
    assert (record.user, record.kind, record.model_name, record.model, record.prompt_tokens) == (
        user,
        "embedding",
        "e",
        None,
        3,
    )


def test_a_call_needs_a_model_or_an_upstream_and_its_model(make_user):
    with pytest.raises(ValidationFailed):
        gateway.complete(user=make_user(role="user"), messages=HI, purpose="chat")
    with pytest.raises(ValidationFailed) as info:
        gateway.complete(
            user=None, messages=HI, purpose="chat", model=ChatModelFactory(provider=BuiltinProviderFactory())
        )
    assert info.value.code == "no_upstream"


def test_the_daily_quota_is_the_default_plans_token_limit_and_counts_every_purpose(
    upstream, chat_model, make_user, settings
):
    """CHAT_USER_DAILY_TOKEN_QUOTA is the default plan's daily llm.tokens limit (apps.resources), enforced by the
    gateway's reservation before anything is sent; every purpose's tokens count, system calls count for nobody."""
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 100
    user = make_user(role="user")
    gateway.record_usage(user=user, purpose="rag.ask", model_name="m", prompt_tokens=60, completion_tokens=40)
    gateway.record_usage(user=None, purpose="rag.embed", model_name="m", prompt_tokens=500)
    with pytest.raises(QuotaExceeded) as info:
        gateway.complete(user=user, model=chat_model, messages=HI, purpose="chat")
    details = info.value.details
    assert (details["meter"], details["period"], details["limit"], details["used"]) == (
        "llm.tokens",
        "day",
        "100",
        "100",
    )
    assert details["source"] == "setting" and details["resets_at"].endswith("+00:00")
    assert int(info.value.headers["Retry-After"]) <= 86401
    with pytest.raises(QuotaExceeded):
        gateway.stream(user=user, model=chat_model, messages=HI, purpose="chat")
    assert upstream.requests == [] and UsageRecord.objects.count() == 2  # refused before anything was sent
    gateway.complete(user=make_user(role="user"), model=chat_model, messages=HI, purpose="chat")


@pytest.fixture
def policy():
    """A policy another app would register from its AppConfig.ready(): no content generation for guests."""
    seen = []

    def no_content_for_guests(*, user, purpose, model):
        seen.append((user, purpose, model))
        if purpose.startswith("content.") and user.groups.filter(name="guest").exists():
            raise QuotaExceeded("Guests do not generate content.", code="budget_exhausted")

    gateway.register_quota_policy("test.guests", no_content_for_guests)
    yield seen
    gateway.unregister_quota_policy("test.guests")
    assert "test.guests" not in gateway.quota_policies()


def test_registered_policies_are_asked_before_every_call(upstream, chat_model, make_user, policy):
    guest, user = make_user(role="guest"), make_user(role="user")
    before = calls("content.generate", "budget_exhausted")
    with pytest.raises(QuotaExceeded) as info:
        gateway.complete(user=guest, model=chat_model, messages=HI, purpose="content.generate")
    assert info.value.code == "budget_exhausted" and upstream.requests == []
    assert calls("content.generate", "budget_exhausted") == before + 1
    gateway.complete(user=guest, model=chat_model, messages=HI, purpose="chat")
    gateway.complete(user=user, model=chat_model, messages=HI, purpose="content.generate")
    assert [(u, p, m) for u, p, m in policy] == [
        (guest, "content.generate", chat_model),
        (guest, "chat", chat_model),
        (user, "content.generate", chat_model),
    ]


def test_chat_completions_record_one_row_per_upstream_round(upstream, chat_model, make_user, settings):
    """A turn with a tool round is two upstream calls: two ledger rows, summing to the turn's tokens."""
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    user = make_user(role="user")
    upstream.script(
        tool_call("search_knowledge", {"query": "pump"}, prompt=30, completion_tokens=3),
        completion("Six bar.", prompt=50, completion_tokens=4),
    )
    done = Completion(ctx=ToolContext(user=user), model=chat_model, messages=HI)
    done.run()
    rows = list(UsageRecord.objects.order_by("id").values_list("purpose", "prompt_tokens", "completion_tokens"))
    assert rows == [("chat", 30, 3), ("chat", 50, 4)]
    assert (done.result.prompt_tokens, done.result.completion_tokens) == (80, 7)


def test_the_built_in_engine_is_metered_too(make_user):
    model = ChatModelFactory(provider=BuiltinProviderFactory(), upstream_model="")
    user = make_user(role="user")
    done = Completion(ctx=ToolContext(user=user), model=model, messages=HI)
    done.run()
    record = UsageRecord.objects.get()
    assert (record.user, record.model, record.kind, record.outcome) == (user, model, "builtin", "ok")
    assert record.tokens_estimated and record.completion_tokens == done.result.completion_tokens > 0


def test_v1_embeddings_with_a_provider_backed_embedder_are_metered_for_the_caller(
    fake_llm, settings, make_user, client_for
):
    settings.RAG_EMBEDDING_BACKEND, settings.RAG_EMBEDDING_MODEL = "openai", "nomic"
    settings.RAG_EMBEDDING_DIMENSION, settings.RAG_OPENAI_BASE_URL = 8, fake_llm.base_url
    user = make_user(role="user")
    response = client_for(user).post("/v1/embeddings", {"input": ["pump", "seal"]}, format="json")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["model"] == "nomic" and len(body["data"]) == 2 and len(body["data"][0]["embedding"]) == 8
    [call] = fake_llm.embedding_requests
    assert call["json"] == {"model": "nomic", "input": ["pump", "seal"]}
    record = UsageRecord.objects.get()
    assert (record.user, record.purpose, record.kind, record.prompt_tokens) == (user, "api.embed", "embedding", 2)
