"""The OpenAI-compatible client against a real HTTP upstream on loopback."""

import pytest

from apps.chat.client import (
    OpenAIClient,
    StreamResult,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from apps.core.testing.fake_llm import SLOW, completion, error, streamed


def make_client(upstream, **kwargs):
    options = {"timeout": 2.0, "attempts": 3, "backoff": 0.0, "budget": 10.0}
    return OpenAIClient(base_url=upstream.base_url, api_key="sk-up", headers={"X-Team": "a"}, **{**options, **kwargs})


def test_plain_completion_sends_key_headers_and_payload(upstream):
    upstream.script(completion("Hi there."))
    body = make_client(upstream).chat({"model": "up-model", "messages": [{"role": "user", "content": "hi"}]})
    assert body["choices"][0]["message"]["content"] == "Hi there."
    sent = upstream.posts[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-up"
    assert sent["headers"]["X-Team"] == "a"
    assert sent["json"]["stream"] is False


def test_streamed_completion_yields_deltas_and_collects_usage(upstream):
    upstream.script(streamed(["Hel", "lo"], prompt=7, completion_tokens=2))
    result = StreamResult()
    pieces = list(make_client(upstream).chat_stream({"model": "m", "messages": []}, result))
    assert pieces == ["Hel", "lo"]
    assert (result.content, result.finish_reason, result.complete) == ("Hello", "stop", True)
    assert result.usage == {"prompt_tokens": 7, "completion_tokens": 2}
    assert upstream.posts[0]["json"]["stream_options"] == {"include_usage": True}


def test_streamed_tool_call_deltas_are_merged(upstream):
    call = {"id": "c1", "type": "function", "function": {"name": "search_knowledge", "arguments": '{"query": "x"}'}}
    upstream.script(streamed([], tool_calls=[call]))
    result = StreamResult()
    list(make_client(upstream).chat_stream({"model": "m", "messages": []}, result))
    assert result.tool_calls == [call]
    assert result.finish_reason == "tool_calls"


def test_429_then_success_is_retried(upstream):
    upstream.script(error(429, "slow down", {"Retry-After": "0"}), completion("ok"))
    body = make_client(upstream).chat({"model": "m", "messages": []})
    assert body["choices"][0]["message"]["content"] == "ok"
    assert len(upstream.posts) == 2


def test_persistent_500_is_reported_after_the_attempts(upstream):
    upstream.script(error(500), error(502), error(503))
    with pytest.raises(UpstreamError) as info:
        make_client(upstream).chat({"model": "m", "messages": []})
    assert info.value.status_code == 502
    assert "503" in info.value.message
    assert len(upstream.posts) == 3


def test_persistent_429_is_a_rate_limit(upstream):
    upstream.script(error(429), error(429))
    with pytest.raises(UpstreamRateLimited) as info:
        make_client(upstream, attempts=2).chat({"model": "m", "messages": []})
    assert info.value.status_code == 429


def test_client_errors_are_not_retried(upstream):
    upstream.script(error(400, "tools are not supported"))
    with pytest.raises(UpstreamRejected) as info:
        make_client(upstream).chat({"model": "m", "messages": []})
    assert info.value.upstream_status == 400
    assert "tools are not supported" in info.value.message
    assert len(upstream.posts) == 1


def test_slow_upstream_times_out_after_retries(upstream):
    upstream.script(SLOW, SLOW)
    with pytest.raises(UpstreamTimeout) as info:
        make_client(upstream, timeout=0.2, attempts=2).chat({"model": "m", "messages": []})
    assert info.value.status_code == 504
    assert len(upstream.posts) == 2


def test_unreachable_upstream_is_a_clear_error():
    client = OpenAIClient(base_url="http://127.0.0.1:9/v1", attempts=2, backoff=0.0, timeout=1.0, budget=5.0)
    with pytest.raises(UpstreamError) as info:
        client.list_models()
    assert info.value.code == "upstream_down"
    assert "unreachable" in info.value.message


def test_stream_broken_midway_raises_after_partial_content(upstream):
    upstream.script(streamed(["Part", "ial"], broken=True))
    result = StreamResult()
    pieces = []
    with pytest.raises(UpstreamError):
        for piece in make_client(upstream).chat_stream({"model": "m", "messages": []}, result):
            pieces.append(piece)
    assert pieces == ["Part", "ial"]
    assert result.content == "Partial" and not result.complete


def test_list_models(upstream):
    assert make_client(upstream).list_models() == ["other-model", "up-model"]
