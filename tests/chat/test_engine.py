"""Completions end to end: upstream replies, tools, knowledge, metering and recording."""

import json
from decimal import Decimal

import pytest

from apps.chat.models import Conversation, Message
from apps.chat.services import Completion, api_call_record, conversation_create, conversation_send
from apps.chat.services.engine import NO_KNOWLEDGE, TOOLS_SKIPPED
from apps.chat.tools import ToolContext
from apps.core.models import AuditLog
from apps.core.testing.fake_llm import completion, error, streamed, tool_call
from apps.rag.services import document_create_text
from tests.chat.factories import BuiltinProviderFactory, ChatModelFactory
from tests.rag.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "What is the pump pressure?"}]


@pytest.fixture
def knowledge(make_user, django_capture_on_commit_callbacks):
    kb = KnowledgeBaseFactory(owner=make_user(role="user"), name="Manuals", visibility="everyone")
    with django_capture_on_commit_callbacks(execute=True):
        document_create_text(kb=kb, title="Pump manual", text="The pump pressure is 6 bar. The seal lasts two years.")
    return kb


def run(model, user, messages=HI, **kwargs):
    completion_ = Completion(ctx=ToolContext(user=user), model=model, messages=messages, **kwargs)
    completion_.run()
    return completion_


def test_plain_completion_is_recorded_with_tokens_and_cost(upstream, chat_model, make_user):
    user = make_user(role="user")
    chat_model.system_prompt = "Be brief."
    chat_model.save()
    upstream.script(completion("Six bar.", prompt=1000, completion_tokens=2000))
    done = run(chat_model, user)
    assert done.result.content == "Six bar."
    sent = upstream.posts[0]["json"]
    assert sent["model"] == "up-model"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    message = api_call_record(completion=done)
    assert (message.prompt_tokens, message.completion_tokens) == (1000, 2000)
    assert message.cost == Decimal("3.500000")  # 1 * 0.5 + 2 * 1.5
    conversation = message.conversation
    assert conversation.owner == user and conversation.title == "What is the pump pressure?"
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]


def test_api_calls_of_one_chat_are_grouped(upstream, chat_model, make_user):
    user = make_user(role="user")
    first = api_call_record(completion=run(chat_model, user))
    follow_up = [*HI, {"role": "assistant", "content": "Hello from upstream."}, {"role": "user", "content": "And?"}]
    second = api_call_record(completion=run(chat_model, user, follow_up))
    other = api_call_record(completion=run(chat_model, user, [{"role": "user", "content": "New topic"}]))
    assert first.conversation_id == second.conversation_id != other.conversation_id
    assert second.conversation.messages.filter(role="user").last().content == "And?"


def test_streamed_completion_yields_pieces(upstream, chat_model, make_user):
    upstream.script(streamed(["Six", " bar."], prompt=3, completion_tokens=2))
    done = Completion(ctx=ToolContext(user=make_user(role="user")), model=chat_model, messages=HI, stream=True)
    assert list(done.events()) == ["Six", " bar."]
    assert (done.result.prompt_tokens, done.result.completion_tokens) == (3, 2)


def test_tool_call_loop_runs_the_tool_with_the_users_permissions(upstream, chat_model, make_user, knowledge):
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(
        tool_call("search_knowledge", {"query": "pump pressure"}, prompt=10, completion_tokens=3),
        completion("It is 6 bar [1].", prompt=20, completion_tokens=5),
    )
    done = run(chat_model, make_user(role="user"))
    assert done.result.content == "It is 6 bar [1]."
    assert [t["function"]["name"] for t in upstream.posts[0]["json"]["tools"]] == ["search_knowledge"]
    tool_message = upstream.posts[1]["json"]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert "6 bar" in json.loads(tool_message["content"])["result"][0]["text"]
    message = api_call_record(completion=done)
    assert message.tool_calls[0]["name"] == "search_knowledge"
    assert message.tool_calls[0]["output"]["result"][0]["title"] == "Pump manual"
    assert (message.prompt_tokens, message.completion_tokens) == (30, 8)


def test_tool_is_denied_without_the_permission(upstream, chat_model, make_user, make_api_key, knowledge):
    """A key scoped to chat.use alone cannot reach the knowledge base through a tool, even if the model calls it."""
    user = make_user(role="user")
    key, _ = make_api_key(user, scopes=["chat.use"])
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(tool_call("search_knowledge", {"query": "pump"}), completion("I cannot see it."))
    done = Completion(ctx=ToolContext(user=user, api_key=key), model=chat_model, messages=HI)
    done.run()
    assert "tools" not in upstream.posts[0]["json"]  # not offered
    output = done.result.tool_log[0]["output"]
    assert "Permission denied" in output["error"]
    assert "6 bar" not in json.dumps(upstream.posts[1]["json"])


def test_arguments_off_the_schema_are_sent_back_to_the_model_and_nothing_runs(
    upstream, chat_model, make_user, knowledge
):
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(tool_call("search_knowledge", {"query": "pump pressure", "k": 50}), completion("Let me retry."))
    done = run(chat_model, make_user(role="user"))
    output = done.result.tool_log[0]["output"]
    assert output["code"] == "invalid_arguments" and [d["path"] for d in output["details"]] == ["k"]
    sent_back = json.loads(upstream.posts[1]["json"]["messages"][-1]["content"])
    assert sent_back == output and "6 bar" not in json.dumps(upstream.posts[1]["json"])
    audit = AuditLog.objects.get(target_type="tool", target_id="search_knowledge")
    assert audit.message == "tool search_knowledge: refused: invalid arguments"


def test_upstream_without_tool_support_answers_without_tools(upstream, chat_model, make_user):
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(error(400, "this model does not support tools"), completion("Plain answer."))
    done = run(chat_model, make_user(role="user"))
    assert done.result.error is None and done.result.content == "Plain answer."
    assert done.result.notes == [TOOLS_SKIPPED]
    assert "tools" in upstream.posts[0]["json"] and "tools" not in upstream.posts[1]["json"]


def test_tool_rounds_are_limited(upstream, chat_model, make_user, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(
        tool_call("search_knowledge", {"query": "a"}),
        tool_call("search_knowledge", {"query": "b"}),
        completion("Done."),
    )
    done = run(chat_model, make_user(role="user"))
    assert done.result.content == "Done."
    assert "tools" not in upstream.posts[2]["json"]
    assert "Stopped calling tools after 2 rounds." in done.result.notes


def test_client_tools_are_passed_through_and_returned(upstream, chat_model, make_user):
    weather = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    upstream.script(tool_call("weather", {"city": "Oslo"}))
    done = run(chat_model, make_user(role="user"), client_tools=[weather])
    assert upstream.posts[0]["json"]["tools"] == [weather]
    assert done.result.finish_reason == "tool_calls"
    assert done.result.client_tool_calls[0]["function"]["name"] == "weather"


def test_failed_call_records_the_tokens_it_consumed(upstream, chat_model, make_user, settings):
    settings.HTTP_RETRY_ATTEMPTS = 2
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(
        tool_call("search_knowledge", {"query": "x"}, prompt=100, completion_tokens=10), error(500), error(500)
    )
    done = run(chat_model, make_user(role="user"))
    assert done.result.error is not None and done.result.error.status_code == 502
    message = api_call_record(completion=done)
    assert message.error.startswith("upstream_error")
    assert (message.prompt_tokens, message.completion_tokens) == (100, 10)
    assert message.cost == Decimal("0.065000")


def test_stream_broken_midway_stores_the_partial_answer_as_incomplete(upstream, chat_model, make_user):
    user = make_user(role="user")
    conversation = conversation_create(owner=user, model=chat_model)
    upstream.script(streamed(["Half an ", "answer"], broken=True))
    done, pieces = conversation_send(conversation=conversation, ctx=ToolContext(user=user), content="Hi", stream=True)
    assert list(pieces) == ["Half an ", "answer"]
    message = done.recorded
    assert message.incomplete and message.content == "Half an answer"
    assert message.error and message.completion_tokens > 0


def test_knowledge_backed_upstream_model_gets_sources_and_cites(upstream, chat_model, make_user, knowledge):
    chat_model.knowledge_bases.add(knowledge)
    upstream.script(completion("6 bar [1]."))
    done = run(chat_model, make_user(role="user"))
    system = upstream.posts[0]["json"]["messages"][0]["content"]
    assert "The pump pressure is 6 bar." in system
    assert done.result.citations[0]["document_title"] == "Pump manual"
    assert done.result.content.startswith("6 bar [1].\n\nSources:\n[1] Pump manual")


def test_extractive_model_answers_from_its_knowledge(make_user, knowledge):
    model = ChatModelFactory(slug="aistack-extractive", provider=BuiltinProviderFactory(), upstream_model="")
    model.knowledge_bases.add(knowledge)
    done = run(model, make_user(role="user"))
    assert "The pump pressure is 6 bar. [1]" in done.result.content
    assert "Sources:\n[1] Pump manual" in done.result.content
    assert done.result.citations[0]["document_title"] == "Pump manual"
    assert done.result.prompt_tokens > 0 and done.result.completion_tokens > 0


def test_extractive_model_without_knowledge_says_so(make_user):
    model = ChatModelFactory(slug="aistack-extractive", provider=BuiltinProviderFactory(), upstream_model="")
    done = run(model, make_user(role="user"))
    assert done.result.content == NO_KNOWLEDGE and done.result.error is None


def test_extractive_model_never_widens_knowledge_access(make_user, django_capture_on_commit_callbacks):
    private = KnowledgeBaseFactory(owner=make_user(role="user"), name="Private")
    with django_capture_on_commit_callbacks(execute=True):
        document_create_text(kb=private, title="Secret", text="The launch code is 1234.")
    model = ChatModelFactory(slug="aistack-extractive", provider=BuiltinProviderFactory(), upstream_model="")
    model.knowledge_bases.add(private)
    done = run(model, make_user(role="user"), [{"role": "user", "content": "launch code"}])
    assert done.result.content == NO_KNOWLEDGE


def test_conversation_send_uses_history_and_sets_title(upstream, chat_model, make_user):
    user = make_user(role="user")
    conversation = conversation_create(owner=user, model=chat_model)
    for text in ("First question", "Second question"):
        _done, pieces = conversation_send(conversation=conversation, ctx=ToolContext(user=user), content=text)
        list(pieces)
    sent = upstream.posts[1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    conversation.refresh_from_db()
    assert conversation.title == "First question"
    assert Message.objects.filter(conversation=conversation).count() == 4
    assert Conversation.objects.count() == 1


def test_a_guest_cannot_reach_erp_data_through_a_tool(upstream, chat_model, make_user, make_api_key, bearer_for):
    from tests.erp.factories import CustomerFactory

    CustomerFactory(code="ACME", name="Acme Secret Pricing Ltd")
    chat_model.tools = ["erp_lookup"]
    chat_model.save()
    ask = {"model": chat_model.slug, "messages": [{"role": "user", "content": "Who is ACME?"}]}
    # a guest has no chat.use: neither the chat nor the tool endpoint is open to them, and nothing reaches the upstream
    guest = bearer_for(make_user(role="guest"))
    assert guest.post("/v1/chat/completions", ask, format="json").status_code == 403
    run_url = "/api/v1/chat/tools/erp_lookup/run/"
    denied = guest.post(run_url, {"arguments": {"kind": "customer", "code": "ACME"}}, format="json")
    assert denied.status_code == 403
    assert upstream.posts == []
    # a chat user whose key lacks erp.read: the tool is not offered, and a call the model makes anyway is refused
    user = make_user(role="user")
    key, _ = make_api_key(user, scopes=["chat.use"])
    upstream.script(tool_call("erp_lookup", {"kind": "customer", "code": "ACME"}), completion("I cannot see it."))
    done = Completion(ctx=ToolContext(user=user, api_key=key), model=chat_model, messages=HI)
    done.run()
    assert "tools" not in upstream.posts[0]["json"]
    assert "Permission denied" in done.result.tool_log[0]["output"]["error"]
    assert "Acme Secret" not in json.dumps(upstream.posts[1]["json"])
    # with erp.read the same call returns the record
    upstream.script(tool_call("erp_lookup", {"kind": "customer", "code": "ACME"}), completion("Acme."))
    done = run(chat_model, user)
    assert done.result.tool_log[0]["output"]["result"]["name"] == "Acme Secret Pricing Ltd"
    assert "Acme Secret" in upstream.posts[-1]["json"]["messages"][-1]["content"]


def test_tool_calls_after_the_last_round_are_not_run(upstream, chat_model, make_user, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 1
    chat_model.tools = ["search_knowledge"]
    chat_model.save()
    upstream.script(
        tool_call("search_knowledge", {"query": "a"}),
        tool_call("search_knowledge", {"query": "b"}, call_id="call_2"),
        completion("never asked"),
    )
    done = run(chat_model, make_user(role="user"))
    assert len(upstream.posts) == 2 and "tools" not in upstream.posts[1]["json"]
    assert done.result.error is None and done.result.finish_reason == "stop"
    assert [t["type"] for t in done.result.tool_log] == ["function", "note", "note"]
    assert done.result.tool_log[-1]["calls"][0]["id"] == "call_2"


def test_sampling_options_are_passed_to_the_upstream(upstream, chat_model, make_user):
    options = {"top_p": 0.5, "stop": ["END"], "seed": 7, "user": "someone", "frequency_penalty": None}
    run(chat_model, make_user(role="user"), temperature=0.1, max_tokens=50, options=options)
    sent = upstream.posts[0]["json"]
    assert (sent["top_p"], sent["stop"], sent["seed"], sent["temperature"], sent["max_tokens"]) == (
        0.5,
        ["END"],
        7,
        0.1,
        50,
    )
    assert "user" not in sent and "frequency_penalty" not in sent


def test_daily_token_quota(upstream, chat_model, make_user, settings):
    from apps.core.exceptions import QuotaExceeded

    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 20
    user = make_user(role="user")
    upstream.script(completion("ok", prompt=15, completion_tokens=5))
    api_call_record(completion=run(chat_model, user))
    with pytest.raises(QuotaExceeded) as info:
        run(chat_model, user)
    assert info.value.status_code == 429
    assert (info.value.details["meter"], info.value.details["limit"], info.value.details["used"]) == (
        "llm.tokens",
        "20",
        "20",
    )
    assert len(upstream.posts) == 1
    run(chat_model, make_user(role="user"))  # another user's quota is their own


def test_conversation_history_is_fitted_to_the_context_window(upstream, chat_model, make_user):
    from apps.chat.services.conversations import history_fit

    chat_model.context_window = 256
    chat_model.max_tokens = 100
    chat_model.save()
    long = "word " * 100  # about 125 tokens
    history = [
        {"role": "user", "content": long},
        {"role": "assistant", "content": long},
        {"role": "user", "content": "short question"},
    ]
    assert history_fit(model=chat_model, messages=history) == [history[2]]
    chat_model.context_window = 8192
    assert history_fit(model=chat_model, messages=history) == history
    # the newest turn is kept even when it alone is too long
    assert history_fit(model=ChatModelFactory.build(context_window=256, max_tokens=250), messages=history[:1]) == [
        history[0]
    ]

    user = make_user(role="user")
    conversation = conversation_create(owner=user, model=chat_model)
    chat_model.context_window = 300
    chat_model.save()
    for text in ("word " * 200, "Second question"):  # the first turn is about 250 tokens
        _done, pieces = conversation_send(conversation=conversation, ctx=ToolContext(user=user), content=text)
        list(pieces)
    assert [m["content"] for m in upstream.posts[1]["json"]["messages"]] == ["Second question"]
