"""The outbound HTTP retry helper (apps.core.http) against a real server on loopback."""

import socket
from email.utils import format_datetime

import httpx
import pytest

from apps.core import http, net
from apps.core.testing.fake_llm import SLOW, FakeLLM, completion, error

CHAT = "/chat/completions"


@pytest.fixture
def server():
    with FakeLLM() as fake:
        yield fake


def post(server, policy, **kwargs):
    with http.client() as client:
        return http.send(client, "POST", server.base_url + CHAT, json={"model": "m"}, policy=policy, **kwargs)


def policy(**kwargs):
    return http.RetryPolicy(**{"attempts": 3, "backoff": 0.0, "budget": 30.0, "jitter": False, **kwargs})


def test_5xx_and_429_are_retried_until_an_answer(server):
    server.script(error(500), error(503), completion("ok"))
    response = post(server, policy())
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "ok"
    assert http.attempts_of(response) == 3 and len(server.posts) == 3


def test_the_last_retryable_answer_is_returned_when_the_attempts_are_used_up(server):
    server.script(error(502), error(502))
    response = post(server, policy(attempts=2))
    assert response.status_code == 502 and http.attempts_of(response) == 2
    assert response.json()["error"]["message"] == "upstream trouble"  # read before it is returned


def test_client_errors_and_redirects_are_not_retried(server):
    server.script(error(400, "bad request"))
    response = post(server, policy())
    assert response.status_code == 400 and len(server.posts) == 1


def test_retry_after_replaces_the_backoff(server):
    # a backoff of 100 s would not fit the 5 s budget: only the Retry-After of 0 lets the retry happen
    server.script(error(429, headers={"Retry-After": "0"}), completion("ok"))
    assert post(server, policy(backoff=100.0, budget=5.0)).status_code == 200
    assert len(server.posts) == 2


def test_a_retry_after_beyond_the_budget_gives_up_at_once(server):
    server.script(error(429, headers={"Retry-After": "3600"}), completion("never asked"))
    response = post(server, policy(budget=5.0))
    assert response.status_code == 429 and len(server.posts) == 1


def test_retry_after_as_an_http_date():
    from datetime import UTC, datetime, timedelta

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = http.retry_after(httpx.Response(429, headers={"Retry-After": later}))
    assert 100 < seconds <= 120
    assert http.retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert http.retry_after(httpx.Response(429)) is None


def test_backoff_is_exponential_capped_and_jittered():
    exact = http.RetryPolicy(backoff=0.5, max_delay=3.0, jitter=False)
    assert [exact.delay(n, None) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert exact.delay(0, 7.0) == 7.0
    jittered = http.RetryPolicy(backoff=0.5, max_delay=3.0)
    for n in range(5):
        assert all(0.0 <= jittered.delay(n, None) <= min(3.0, 0.5 * 2**n) for _ in range(50))


def test_no_connection_is_request_failed():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with http.client() as client, pytest.raises(http.RequestFailed) as info:
        http.send(client, "GET", f"http://127.0.0.1:{port}/", policy=policy(attempts=2))
    assert (info.value.attempts, info.value.timed_out) == (2, False)
    assert isinstance(info.value.cause, httpx.ConnectError)


def test_a_slow_server_times_out_on_every_attempt(server):
    server.script(SLOW, SLOW)
    with pytest.raises(http.RequestFailed) as info:
        post(server, policy(attempts=2), timeout=0.2)
    assert (info.value.attempts, info.value.timed_out) == (2, True)
    assert len(server.posts) == 2


def test_a_streamed_answer_is_left_unread(server):
    server.script(completion("streamed body"))
    with http.client() as client:
        response = http.send(client, "POST", server.base_url + CHAT, json={}, policy=policy(), stream=True)
        try:
            assert not response.is_closed
            response.read()
        finally:
            response.close()
    assert response.json()["choices"][0]["message"]["content"] == "streamed body"


def test_the_settings_are_the_default_policy(settings):
    settings.HTTP_RETRY_ATTEMPTS, settings.HTTP_RETRY_BACKOFF = 5, 0.25
    settings.HTTP_RETRY_MAX_DELAY, settings.HTTP_RETRY_BUDGET_SECONDS = 4.0, 9.0
    assert http.RetryPolicy.from_settings() == http.RetryPolicy(attempts=5, backoff=0.25, max_delay=4.0, budget=9.0)
    assert http.RetryPolicy.from_settings(attempts=1, backoff=None).attempts == 1
    settings.HTTP_RETRY_ATTEMPTS = 0
    assert http.RetryPolicy.from_settings().attempts == 1  # at least one attempt


def test_a_guard_refuses_before_anything_is_sent(server):
    with pytest.raises(net.URLRefused) as info:
        post(server, policy(), guard=net.Guard())
    assert info.value.code == "url_refused" and server.requests == []
    # allowed, the connection goes to the checked address with the original Host header
    assert post(server, policy(), guard=net.Guard(allow_private=True)).status_code == 200
    assert server.posts[0]["headers"]["Host"] == server.base_url.split("/")[2]


def _settings_in_a_fresh_process(**env):
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.HTTP_RETRY_ATTEMPTS, s.HTTP_RETRY_BACKOFF, s.HTTP_RETRY_BUDGET_SECONDS)"
    )
    names = ("HTTP_RETRY_ATTEMPTS", "HTTP_RETRY_BACKOFF", "HTTP_RETRY_BUDGET_SECONDS", "CHAT_RETRY_ATTEMPTS")
    clean = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("CHAT_RE")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**clean, "DJANGO_SETTINGS_MODULE": "aistack.settings", "DJANGO_ENV": "test", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_the_former_chat_retry_variables_still_work():
    old = {"CHAT_RETRY_ATTEMPTS": "7", "CHAT_RETRY_BACKOFF": "0.25", "CHAT_REQUEST_BUDGET_SECONDS": "30"}
    assert _settings_in_a_fresh_process(**old) == ["7", "0.25", "30.0"]
    assert _settings_in_a_fresh_process(**old, HTTP_RETRY_ATTEMPTS="2") == ["2", "0.25", "30.0"]
