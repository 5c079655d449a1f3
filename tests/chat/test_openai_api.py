"""The OpenAI-compatible API at /v1/: the official openai client against a live server, raw SSE, errors."""

import asyncio
import json

import openai
import pytest

from apps.chat.models import Conversation, Message
from apps.core.testing.fake_llm import SLOW, completion, error, streamed
from tests.chat.factories import ChatModelFactory

URLS = pytest.mark.urls("tests.chat.urls")
pytestmark = [pytest.mark.django_db, URLS]


@pytest.fixture
def key_of(make_api_key):
    def _key(user, **kwargs):
        return make_api_key(user, **kwargs)[1]

    return _key


@pytest.fixture
def bearer(api_client, make_user, key_of):
    user = make_user(role="user")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_of(user)}")
    api_client.user = user
    return api_client


def _openai_error(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error)
    if code:
        assert error["code"] == code
    return error


def test_models_lists_what_the_caller_may_use(bearer, chat_model, django_assert_max_num_queries):
    from django.contrib.auth.models import Group

    hidden = ChatModelFactory(slug="managers-only", provider=chat_model.provider)
    hidden.visible_to_groups.add(Group.objects.get(name="manager"))
    ChatModelFactory(slug="switched-off", provider=chat_model.provider, enabled=False)
    with django_assert_max_num_queries(8):
        body = bearer.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-fake"]
    assert bearer.get("/v1/models/gpt-fake").json()["id"] == "gpt-fake"
    _openai_error(bearer.get("/v1/models/managers-only"), 404, "model_not_found")


def test_errors_have_the_openai_shape_and_status(bearer, chat_model, make_user, key_of, upstream, settings):
    from rest_framework.test import APIClient

    api_client = APIClient()
    _openai_error(api_client.get("/v1/models"), 401)
    guest = make_user(role="guest")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_of(guest)}")
    _openai_error(api_client.get("/v1/models"), 403, "permission_denied")
    hi = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    _openai_error(bearer.post("/v1/chat/completions", {**hi, "model": "nope"}, format="json"), 404, "model_not_found")
    _openai_error(bearer.post("/v1/chat/completions", {**hi, "messages": []}, format="json"), 400, "invalid")
    _openai_error(bearer.post("/v1/chat/completions", {**hi, "temperature": 9}, format="json"), 400, "invalid")
    settings.HTTP_RETRY_ATTEMPTS = 1
    upstream.script(error(500))
    _openai_error(bearer.post("/v1/chat/completions", hi, format="json"), 502, "upstream_error")
    upstream.script(error(429))
    _openai_error(bearer.post("/v1/chat/completions", hi, format="json"), 429, "rate_limited")
    chat_model.provider.timeout = 0.2
    chat_model.provider.save()
    upstream.script(SLOW)
    _openai_error(bearer.post("/v1/chat/completions", hi, format="json"), 504, "upstream_timeout")
    chat_model.provider.base_url = "http://127.0.0.1:9/v1"
    chat_model.provider.save()
    _openai_error(bearer.post("/v1/chat/completions", hi, format="json"), 502, "upstream_down")
    # every failed call is still on record for the caller
    assert Message.objects.filter(role="assistant").exclude(error="").count() == 4


def test_malformed_message_roles_are_a_400(bearer, chat_model):
    for role in ({}, ["user"], 1, None, "robot"):
        body = {"model": "gpt-fake", "messages": [{"role": role, "content": "hi"}]}
        error = _openai_error(bearer.post("/v1/chat/completions", body, format="json"), 400, "invalid")
        assert "role" in error["message"]
    assert not Message.objects.exists()


def test_raw_sse_bytes(bearer, chat_model, upstream):
    upstream.script(streamed(["Hel", "lo"], prompt=4, completion_tokens=2))
    response = bearer.post(
        "/v1/chat/completions",
        {
            "model": "gpt-fake",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        format="json",
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    raw = b"".join(response.streaming_content)
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: ") for e in events[:-1])
    chunks = [json.loads(e[6:]) for e in events[:-2]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 2,
        "total_tokens": 6,
    }
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    stored = Message.objects.get(role="assistant")
    assert (stored.content, stored.prompt_tokens, stored.conversation.owner) == ("Hello", 4, bearer.user)


def test_broken_stream_ends_with_an_error_event(bearer, chat_model, upstream):
    upstream.script(streamed(["Par", "tial"], broken=True))
    response = bearer.post(
        "/v1/chat/completions",
        {"model": "gpt-fake", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    )
    events = b"".join(response.streaming_content).split(b"\n\n")
    assert events[-2] == b"data: [DONE]"
    assert json.loads(events[-3][6:])["error"]["code"] == "stream_broken"
    stored = Message.objects.get(role="assistant")
    assert stored.incomplete and stored.content == "Partial"


def test_embeddings(bearer):
    body = bearer.post("/v1/embeddings", {"model": "any", "input": ["pump", "seal"]}, format="json").json()
    assert len(body["data"]) == 2 and len(body["data"][0]["embedding"]) == 384
    _openai_error(bearer.post("/v1/embeddings", {"input": 3}, format="json"), 400)


def test_jwt_works_too(role_client, chat_model):
    assert role_client("manager").get("/v1/models").status_code == 200


# --- the official client against a live server ---------------------------------------------------------------------


@pytest.fixture
def live(live_server, make_user, key_of, upstream):
    from tests.chat.factories import ProviderFactory

    provider = ProviderFactory(name="Live upstream", base_url=upstream.base_url)
    ChatModelFactory(slug="gpt-fake", provider=provider)
    user = make_user(role="user")
    return {"base_url": f"{live_server.url}/v1", "key": key_of(user), "user": user, "upstream": upstream}


def test_openai_client_sync(live):
    live["upstream"].script(completion("Hello, client.", prompt=5, completion_tokens=3))
    client = openai.OpenAI(base_url=live["base_url"], api_key=live["key"], max_retries=0)
    assert [m.id for m in client.models.list()] == ["gpt-fake"]
    answer = client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content == "Hello, client."
    assert answer.usage.total_tokens == 8
    assert Conversation.objects.get().owner == live["user"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live["base_url"], api_key="ask_wrong_key", max_retries=0).models.list()


def test_openai_client_streaming(live):
    live["upstream"].script(streamed(["Str", "eam", "ed"], prompt=6, completion_tokens=3))
    client = openai.OpenAI(base_url=live["base_url"], api_key=live["key"], max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Streamed"
    assert chunks[-1].usage.prompt_tokens == 6


def test_openai_client_async(live):
    live["upstream"].script(completion("Async hello."))

    async def ask():
        client = openai.AsyncOpenAI(base_url=live["base_url"], api_key=live["key"], max_retries=0)
        try:
            return await client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "Hi"}])
        finally:
            await client.close()

    assert asyncio.run(ask()).choices[0].message.content == "Async hello."


# --- streaming errors, knowledge, logging, quota, metrics ---------------------------------------------------------

STREAM_HI = {"model": "gpt-fake", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def test_stream_failing_before_the_first_token_gets_the_matching_status(bearer, chat_model, upstream, settings):
    settings.HTTP_RETRY_ATTEMPTS = 1
    upstream.script(error(429))
    _openai_error(bearer.post("/v1/chat/completions", STREAM_HI, format="json"), 429, "rate_limited")
    chat_model.provider.base_url = "http://127.0.0.1:9/v1"
    chat_model.provider.save()
    _openai_error(bearer.post("/v1/chat/completions", STREAM_HI, format="json"), 502, "upstream_down")
    assert list(Message.objects.filter(role="assistant").values_list("incomplete", flat=True)) == [False, False]
    assert Message.objects.filter(role="assistant").exclude(error="").count() == 2


def test_client_closing_the_stream_keeps_the_partial_answer(chat_model, upstream, make_user, make_api_key):
    """The server closes the response when the client goes away half-way: the partial answer is stored incomplete."""
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from rest_framework.test import APIRequestFactory

    from apps.chat.api.openai import ChatCompletionsView
    from apps.core import context

    upstream.script(streamed(["One ", "two ", "three"]))
    request = APIRequestFactory().post(
        "/v1/chat/completions",
        STREAM_HI,
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(make_user(role='user'))[1]}",
    )
    response = ChatCompletionsView.as_view()(request)
    content = iter(response.streaming_content)
    next(content), next(content)  # the role chunk and the first piece
    request_finished.disconnect(close_old_connections)  # keep the test's database connection
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
        context.clear()  # what the request middleware does at the end of a request
    stored = Message.objects.get(role="assistant")
    assert stored.incomplete and stored.content == "One " and stored.error.startswith("client_closed")


@pytest.fixture
def extractive(make_user, django_capture_on_commit_callbacks):
    from apps.rag.services import document_create_text
    from tests.chat.factories import BuiltinProviderFactory
    from tests.rag.factories import KnowledgeBaseFactory

    kb = KnowledgeBaseFactory(owner=make_user(role="user"), name="Manuals", visibility="everyone")
    with django_capture_on_commit_callbacks(execute=True):
        document_create_text(kb=kb, title="Pump manual", text="The pump pressure is 6 bar. The seal lasts two years.")
    model = ChatModelFactory(slug="aistack-extractive", provider=BuiltinProviderFactory(), upstream_model="")
    model.knowledge_bases.add(kb)
    return model


def test_knowledge_backed_model_cites_its_sources(bearer, extractive):
    ask = {"model": "aistack-extractive", "messages": [{"role": "user", "content": "What is the pump pressure?"}]}
    body = bearer.post("/v1/chat/completions", ask, format="json").json()
    answer = body["choices"][0]["message"]["content"]
    assert "6 bar" in answer and "\n\nSources:\n[1] Pump manual" in answer
    assert body["citations"][0]["document_title"] == "Pump manual" and body["usage"]["completion_tokens"] > 0
    response = bearer.post("/v1/chat/completions", {**ask, "stream": True}, format="json")
    chunks = [json.loads(e[6:]) for e in b"".join(response.streaming_content).split(b"\n\n")[:-2]]
    assert "Sources:\n[1] Pump manual" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["citations"][0]["document_title"] == "Pump manual"
    stored = Message.objects.filter(role="assistant").first()
    assert stored.citations[0]["document_title"] == "Pump manual"


def test_logging_of_api_calls_can_be_switched_off(bearer, chat_model, upstream, settings):
    settings.CHAT_LOG_API_CONVERSATIONS = False
    hi = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    assert bearer.post("/v1/chat/completions", hi, format="json").status_code == 200
    assert not Conversation.objects.exists()
    settings.CHAT_LOG_API_CONVERSATIONS = True
    bearer.post("/v1/chat/completions", hi, format="json")
    conversation = Conversation.objects.get()
    assert conversation.origin == "api" and conversation.owner == bearer.user
    from apps.core.models import AuditLog

    assert AuditLog.objects.filter(target_type="chat.conversation", action="create").count() == 1


def test_quota_exceeded_is_429(bearer, chat_model, upstream, settings):
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 10
    hi = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    assert bearer.post("/v1/chat/completions", hi, format="json").status_code == 200  # 17 tokens used
    _openai_error(bearer.post("/v1/chat/completions", hi, format="json"), 429, "quota_exceeded")
    _openai_error(bearer.post("/v1/chat/completions", {**hi, "stream": True}, format="json"), 429, "quota_exceeded")
    assert len(upstream.posts) == 1


def test_metrics_count_requests_tokens_latency_and_upstream_errors(bearer, chat_model, upstream, settings):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    before = {
        "ok": value("chat_requests_total", model="gpt-fake", outcome="ok"),
        "error": value("chat_requests_total", model="gpt-fake", outcome="error"),
        "in": value("chat_prompt_tokens_total", model="gpt-fake"),
        "out": value("chat_completion_tokens_total", model="gpt-fake"),
        "latency": value("chat_completion_seconds_count", model="gpt-fake"),
        "upstream": value(
            "chat_upstream_errors_total", provider="Fake upstream", model="gpt-fake", code="upstream_error"
        ),
    }
    settings.HTTP_RETRY_ATTEMPTS = 1
    hi = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    upstream.script(completion("ok", prompt=30, completion_tokens=7), error(500))
    bearer.post("/v1/chat/completions", hi, format="json")
    bearer.post("/v1/chat/completions", hi, format="json")
    assert value("chat_requests_total", model="gpt-fake", outcome="ok") - before["ok"] == 1
    assert value("chat_requests_total", model="gpt-fake", outcome="error") - before["error"] == 1
    assert value("chat_prompt_tokens_total", model="gpt-fake") - before["in"] == 30
    assert value("chat_completion_tokens_total", model="gpt-fake") - before["out"] == 7
    assert value("chat_completion_seconds_count", model="gpt-fake") - before["latency"] == 2
    upstream_errors = value(
        "chat_upstream_errors_total", provider="Fake upstream", model="gpt-fake", code="upstream_error"
    )
    assert upstream_errors - before["upstream"] == 1


def test_openai_client_sees_upstream_errors_as_api_errors(live):
    live["upstream"].script(error(429), error(429), error(429))
    client = openai.OpenAI(base_url=live["base_url"], api_key=live["key"], max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "Hi"}], stream=True)
    live["upstream"].script(streamed(["Part"], broken=True))
    stream = client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "Hi"}], stream=True)
    with pytest.raises(openai.APIError, match="broke off the stream"):
        for _chunk in stream:
            pass
