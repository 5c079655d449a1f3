"""Back-office chat API: roles per endpoint, own conversations only, sending turns, feedback, usage."""

import json
from decimal import Decimal

import pytest

from apps.chat.models import Feedback, Message, Provider
from apps.core.models import AuditLog
from apps.core.testing import assert_error_body, assert_role_access
from apps.core.testing.fake_llm import error, streamed
from apps.core.tools import get_tool, register_tool, unregister_tool
from tests.chat.factories import ChatModelFactory, ConversationFactory, MessageFactory, ProviderFactory

pytestmark = pytest.mark.django_db
CHAT_ROLES = {"admin", "manager", "user"}
MANAGERS = {"admin", "manager"}  # resources.manage: providers, models, everyone's usage


def test_role_access_per_endpoint(role_client, role_users, chat_model):
    provider = chat_model.provider
    assert_role_access(role_client, "get", "/api/v1/chat/providers/", MANAGERS)
    assert_role_access(role_client, "get", f"/api/v1/chat/providers/{provider.pk}/", MANAGERS)
    assert_role_access(
        role_client,
        "post",
        "/api/v1/chat/providers/",
        MANAGERS,
        data=lambda role: {"name": f"P {role}", "base_url": "http://127.0.0.1:9/v1"},
    )
    assert_role_access(role_client, "get", "/api/v1/chat/models/", CHAT_ROLES)
    assert_role_access(
        role_client,
        "post",
        "/api/v1/chat/models/",
        MANAGERS,
        data=lambda role: {"slug": f"m-{role}", "display_name": "M", "provider_id": provider.pk},
    )
    assert_role_access(role_client, "get", "/api/v1/chat/conversations/", CHAT_ROLES)
    assert_role_access(role_client, "post", "/api/v1/chat/conversations/", CHAT_ROLES, data={"model_id": chat_model.pk})
    assert_role_access(role_client, "get", "/api/v1/chat/usage/", CHAT_ROLES)
    assert_role_access(role_client, "get", "/api/v1/chat/tools/", CHAT_ROLES)
    message = MessageFactory(conversation=ConversationFactory(owner=role_users["user"], model=chat_model))
    url = f"/api/v1/chat/messages/{message.pk}/feedback/"
    assert_error_body(role_client("guest").post(url, {"rating": "up"}, format="json"), 403, "permission_denied")
    for role in ("admin", "manager"):  # other people's messages do not exist for them
        assert_error_body(role_client(role).post(url, {"rating": "up"}, format="json"), 404)
    assert role_client("user").post(url, {"rating": "up"}, format="json").status_code == 200


def test_provider_api_key_is_write_only_and_encrypted(role_client):
    client = role_client("admin")
    response = client.post(
        "/api/v1/chat/providers/",
        {"name": "OpenAI", "base_url": "https://api.openai.com/v1", "api_key": "sk-secret"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "api_key" not in response.json() and response.json()["has_api_key"] is True
    assert Provider.objects.get(name="OpenAI").api_key == "sk-secret"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM chat_provider WHERE name = 'OpenAI'")
        assert b"sk-secret" not in bytes(cursor.fetchone()[0])
    entry = AuditLog.objects.get(target_type="chat.provider", action="create")
    assert entry.changes["api_key"][1] == "********"
    bad = client.post("/api/v1/chat/providers/", {"name": "No URL", "kind": "openai-compatible"}, format="json")
    assert_error_body(bad, 400, "invalid")


def test_provider_connection_test_lists_upstream_models(role_client, provider):
    response = role_client("admin").post(f"/api/v1/chat/providers/{provider.pk}/test-connection/")
    assert response.json() == {"ok": True, "models": ["other-model", "up-model"], "error": ""}
    down = ProviderFactory(base_url="http://127.0.0.1:9/v1")
    body = role_client("admin").post(f"/api/v1/chat/providers/{down.pk}/test-connection/").json()
    assert body["ok"] is False and "unreachable" in body["error"]


def test_provider_headers_must_be_sendable_over_http(role_client, provider):
    client = role_client("admin")
    base = {"kind": "openai-compatible", "base_url": "https://llm.example.com/v1"}
    for name, extra in (
        ("Key", {"api_key": "sk-\u00e9t\u00e9"}),
        ("Value", {"extra_headers": {"X-Org": "\u00b7"}}),
        ("Name", {"extra_headers": {"X Org": "a"}}),
        ("Newline", {"extra_headers": {"X-Org": "a\r\nX-Injected: 1"}}),
    ):
        response = client.post("/api/v1/chat/providers/", {"name": name, **base, **extra}, format="json")
        assert_error_body(response, 400, "invalid")
        assert set(response.json()["error"]["details"]) & {"api_key", "extra_headers"}
    assert not Provider.objects.exclude(pk=provider.pk).exists()
    response = client.patch(f"/api/v1/chat/providers/{provider.pk}/", {"api_key": "\u00b7"}, format="json")
    assert_error_body(response, 400, "invalid")
    # a row saved before these checks: the connection test reports the problem instead of failing
    stored = ProviderFactory(api_key="sk-\u00e9t\u00e9")
    body = client.post(f"/api/v1/chat/providers/{stored.pk}/test-connection/").json()
    assert body["ok"] is False and "cannot be sent" in body["error"]


def test_unknown_tool_names_are_refused(role_client, provider):
    response = role_client("admin").post(
        "/api/v1/chat/models/",
        {"slug": "x", "display_name": "X", "provider_id": provider.pk, "tools": ["nope"]},
        format="json",
    )
    assert_error_body(response, 400, "invalid")


def test_conversations_are_private(role_client, role_users, chat_model, django_assert_max_num_queries):
    mine = ConversationFactory(owner=role_users["user"], model=chat_model)
    theirs = ConversationFactory(owner=role_users["manager"], model=chat_model)
    client = role_client("user")
    with django_assert_max_num_queries(10):
        listed = client.get("/api/v1/chat/conversations/").json()
    assert [c["id"] for c in listed["results"]] == [mine.pk]
    assert_error_body(client.get(f"/api/v1/chat/conversations/{theirs.pk}/"), 404)
    assert_error_body(client.get(f"/api/v1/chat/conversations/{theirs.pk}/messages/"), 404)
    assert_error_body(client.post(f"/api/v1/chat/conversations/{theirs.pk}/messages/", {"content": "hi"}), 404)
    # core.audit inspects, but does not write in others' conversations
    admin = role_client("admin")
    assert admin.get(f"/api/v1/chat/conversations/{theirs.pk}/messages/").status_code == 200
    assert_error_body(admin.post(f"/api/v1/chat/conversations/{theirs.pk}/messages/", {"content": "hi"}), 403)


def test_send_a_turn_and_give_feedback(role_client, role_users, chat_model, upstream):
    client = role_client("user")
    conversation = client.post("/api/v1/chat/conversations/", {"model_id": chat_model.pk}, format="json").json()
    response = client.post(
        f"/api/v1/chat/conversations/{conversation['id']}/messages/", {"content": "Hello there"}, format="json"
    )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["content"] == "Hello from upstream." and answer["model"] == "gpt-fake"
    assert Decimal(answer["cost"]) == Decimal("0.013500")  # 12 * 0.5/1000 + 5 * 1.5/1000
    detail = client.get(f"/api/v1/chat/conversations/{conversation['id']}/").json()
    assert detail["title"] == "Hello there"
    listed = client.get(f"/api/v1/chat/conversations/{conversation['id']}/messages/").json()
    assert [m["role"] for m in listed["results"]] == ["user", "assistant"]

    url = f"/api/v1/chat/messages/{answer['id']}/feedback/"
    assert client.post(url, {"rating": "down", "comment": "too short"}, format="json").status_code == 200
    assert client.post(url, {"rating": "up"}, format="json").json()["rating"] == "up"
    assert Feedback.objects.get().rating == "up"
    assert_error_body(client.post(url, {"rating": "meh"}, format="json"), 400)
    user_message = Message.objects.get(role="user")
    assert_error_body(
        client.post(f"/api/v1/chat/messages/{user_message.pk}/feedback/", {"rating": "up"}, format="json"),
        400,
        "not_assistant_message",
    )
    assert_error_body(role_client("manager").post(url, {"rating": "up"}, format="json"), 404)


def test_send_streamed_as_sse(role_client, role_users, chat_model, upstream):
    conversation = ConversationFactory(owner=role_users["user"], model=chat_model, title="")
    upstream.script(streamed(["Str", "eam"]))
    response = role_client("user").post(
        f"/api/v1/chat/conversations/{conversation.pk}/messages/", {"content": "Hi", "stream": True}, format="json"
    )
    assert response["Content-Type"] == "text/event-stream"
    events = [e for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    assert events[0] == 'event: delta\ndata: {"content": "Str"}'
    assert events[-1].startswith("event: done\n")
    assert json.loads(events[-1].split("data: ", 1)[1])["content"] == "Stream"


def test_upstream_failure_is_a_clear_error_and_still_recorded(role_client, role_users, chat_model, upstream, settings):
    settings.HTTP_RETRY_ATTEMPTS = 1
    conversation = ConversationFactory(owner=role_users["user"], model=chat_model)
    upstream.script(error(503))
    response = role_client("user").post(
        f"/api/v1/chat/conversations/{conversation.pk}/messages/", {"content": "x"}, format="json"
    )
    assert_error_body(response, 502, "upstream_error")
    assert Message.objects.get(role="assistant").error.startswith("upstream_error")


def test_models_list_shows_only_usable_models(role_client, chat_model):
    from django.contrib.auth.models import Group

    ChatModelFactory(slug="managers-only", provider=chat_model.provider).visible_to_groups.add(
        Group.objects.get(name="manager")
    )
    assert [m["slug"] for m in role_client("user").get("/api/v1/chat/models/").json()["results"]] == ["gpt-fake"]
    manager = [m["slug"] for m in role_client("manager").get("/api/v1/chat/models/").json()["results"]]
    assert manager == ["gpt-fake", "managers-only"]


def test_usage_summary(role_client, role_users, chat_model):
    mine = ConversationFactory(owner=role_users["user"], model=chat_model)
    MessageFactory(conversation=mine, prompt_tokens=100, completion_tokens=50, cost=Decimal("0.125"))
    MessageFactory(conversation=mine, prompt_tokens=10, completion_tokens=5, cost=Decimal("0.0125"), error="x")
    MessageFactory(
        conversation=ConversationFactory(owner=role_users["manager"], model=chat_model),
        prompt_tokens=1,
        completion_tokens=1,
        cost=Decimal("0.002"),
    )
    rows = role_client("user").get("/api/v1/chat/usage/").json()
    assert rows == [
        {
            "model": "gpt-fake",
            "messages": 2,
            "prompt_tokens": 110,
            "completion_tokens": 55,
            "total_tokens": 165,
            "cost": "0.137500",
            "errors": 1,
        }
    ]
    assert_error_body(role_client("user").get("/api/v1/chat/usage/?everyone=true"), 403)
    assert role_client("manager").get("/api/v1/chat/usage/?everyone=true").status_code == 200
    everyone = role_client("admin").get("/api/v1/chat/usage/?everyone=true&group_by=user").json()
    assert {r["user"]: r["total_tokens"] for r in everyone} == {"user-user": 165, "manager-user": 2}
    assert_error_body(role_client("user").get("/api/v1/chat/usage/?date_from=yesterday"), 400)


def test_tool_run_endpoint_enforces_the_tools_permission(role_client, make_user, make_api_key, api_client):
    user = make_user(role="user")
    _, raw = make_api_key(user, scopes=["chat.use"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.post("/api/v1/chat/tools/search_knowledge/run/", {"arguments": {"query": "x"}}, format="json")
    assert_error_body(response, 403, "permission_denied")
    assert_error_body(role_client("user").post("/api/v1/chat/tools/nope/run/", {}, format="json"), 404)
    ok = role_client("user").post(
        "/api/v1/chat/tools/search_knowledge/run/", {"arguments": {"query": "x"}}, format="json"
    )
    assert ok.status_code == 200 and ok.json() == {"tool": "search_knowledge", "result": []}


def test_tool_list_shows_only_the_tools_the_caller_may_run(role_client, make_user, make_api_key, api_client):
    everything = role_client("user").get("/api/v1/chat/tools/").json()
    assert [t["name"] for t in everything] == [
        "erp_lookup",
        "resources_my_quota",
        "search_knowledge",
        "stock_latest_bars",
        "stock_quote",
    ]
    for row in everything:
        tool = get_tool(row["name"])
        assert (row["parameters"], row["permissions"], row["description"]) == (
            tool.parameters,
            [tool.permission],
            tool.description,
        )
    user = make_user(role="user")
    for scopes, names in (
        (["chat.use", "erp.read"], ["erp_lookup", "resources_my_quota"]),
        (
            ["chat.use", "stock.read", "rag.read"],
            ["resources_my_quota", "search_knowledge", "stock_latest_bars", "stock_quote"],
        ),
        (["chat.use"], ["resources_my_quota"]),
    ):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(user, scopes=scopes)[1]}")
        assert [t["name"] for t in api_client.get("/api/v1/chat/tools/").json()] == names

    register_tool(
        name="audit_probe",
        description="Reads the audit log.",
        parameters={"type": "object"},
        permission="core.audit",
        handler=lambda ctx, args: "seen",
    )
    try:
        assert "audit_probe" in {t["name"] for t in role_client("admin").get("/api/v1/chat/tools/").json()}
        assert "audit_probe" not in {t["name"] for t in role_client("manager").get("/api/v1/chat/tools/").json()}
        assert role_client("admin").post("/api/v1/chat/tools/audit_probe/run/", {}, format="json").json() == {
            "tool": "audit_probe",
            "result": "seen",
        }
        denied = role_client("manager").post("/api/v1/chat/tools/audit_probe/run/", {}, format="json")
        assert "needs core.audit" in assert_error_body(denied, 403, "permission_denied")["message"]
    finally:
        unregister_tool("audit_probe")


def test_tool_run_endpoint_checks_the_arguments_against_the_schema(role_client):
    client = role_client("user")
    url = "/api/v1/chat/tools/erp_lookup/run/"
    bad = client.post(url, {"arguments": {"kind": "invoice", "code": "X", "extra": 1}}, format="json")
    error = assert_error_body(bad, 400, "invalid_arguments")
    assert sorted(d["path"] for d in error["details"]) == ["", "kind"]
    assert_error_body(client.post(url, {"arguments": [1]}, format="json"), 400, "invalid_arguments")
    assert_error_body(client.post(url, [1], format="json"), 400, "invalid")
    as_text = client.post(url, {"arguments": '{"kind": "customer", "code": "NOPE"}'}, format="json")
    assert_error_body(as_text, 400, "not_found")  # JSON text is accepted as the OpenAI protocol sends it
    audits = AuditLog.objects.filter(target_type="tool", target_id="erp_lookup").order_by("id")
    assert [a.message for a in audits] == [
        "tool erp_lookup: refused: invalid arguments",
        "tool erp_lookup: refused: invalid arguments",
        "tool erp_lookup: failed: not_found",
    ]
    assert audits[0].changes["arguments"] == {"kind": "invoice", "code": "X", "extra": 1}


def test_a_models_tools_are_checked_against_the_registry(role_client, provider):
    data = {"slug": "probe-model", "display_name": "P", "provider_id": provider.pk, "tools": ["probe_tool"]}
    assert_error_body(role_client("admin").post("/api/v1/chat/models/", data, format="json"), 400)
    register_tool(
        name="probe_tool", description="A probe.", parameters={"type": "object"}, permission="erp.read", handler=print
    )
    try:
        assert role_client("admin").post("/api/v1/chat/models/", data, format="json").status_code == 201
    finally:
        unregister_tool("probe_tool")


def test_deleting_a_provider_or_model_in_use_is_a_conflict(role_client, role_users, chat_model):
    client = role_client("admin")
    assert_error_body(client.delete(f"/api/v1/chat/providers/{chat_model.provider_id}/"), 409, "provider_in_use")
    ConversationFactory(owner=role_users["user"], model=chat_model)
    assert_error_body(client.delete(f"/api/v1/chat/models/{chat_model.pk}/"), 409, "model_in_use")
    unused = ChatModelFactory(provider=chat_model.provider)
    assert client.delete(f"/api/v1/chat/models/{unused.pk}/").status_code == 204
    assert AuditLog.objects.filter(target_type="chat.chatmodel", action="delete", target_id=str(unused.pk)).exists()


def test_usage_per_user_and_model_for_a_period(role_client, role_users, chat_model):
    other = ChatModelFactory(slug="other", provider=chat_model.provider)
    MessageFactory(conversation=ConversationFactory(owner=role_users["user"], model=chat_model), prompt_tokens=3)
    MessageFactory(conversation=ConversationFactory(owner=role_users["user"], model=other), prompt_tokens=5)
    MessageFactory(conversation=ConversationFactory(owner=role_users["manager"], model=other), prompt_tokens=7)
    admin = role_client("admin")
    rows = admin.get("/api/v1/chat/usage/?everyone=true&group_by=user_model").json()
    assert [(r["user"], r["model"], r["prompt_tokens"]) for r in rows] == [
        ("manager-user", "other", 7),
        ("user-user", "gpt-fake", 3),
        ("user-user", "other", 5),
    ]
    assert admin.get("/api/v1/chat/usage/?everyone=true&date_to=2000-01-01").json() == []
    assert_error_body(admin.get("/api/v1/chat/usage/?date_from=2026-02-01&date_to=2026-01-01"), 400, "invalid")


def test_streamed_turn_failing_before_the_first_token_is_a_plain_error(
    role_client, role_users, chat_model, upstream, settings
):
    settings.HTTP_RETRY_ATTEMPTS = 1
    conversation = ConversationFactory(owner=role_users["user"], model=chat_model)
    upstream.script(error(500))
    response = role_client("user").post(
        f"/api/v1/chat/conversations/{conversation.pk}/messages/", {"content": "Hi", "stream": True}, format="json"
    )
    assert_error_body(response, 502, "upstream_error")
    assert Message.objects.get(role="assistant").error.startswith("upstream_error")


def test_streamed_turn_broken_midway_ends_with_an_error_event(role_client, role_users, chat_model, upstream):
    conversation = ConversationFactory(owner=role_users["user"], model=chat_model)
    upstream.script(streamed(["Half ", "an answer"], broken=True))
    response = role_client("user").post(
        f"/api/v1/chat/conversations/{conversation.pk}/messages/", {"content": "Hi", "stream": True}, format="json"
    )
    events = [e for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    assert events[-1].startswith("event: error\n")
    error_data = json.loads(events[-1].split("data: ", 1)[1])
    stored = Message.objects.get(pk=error_data["message_id"])
    assert error_data["code"] == "stream_broken" and stored.incomplete and stored.content == "Half an answer"


def test_feedback_is_readable_for_the_learning_system(role_users, chat_model, django_assert_max_num_queries):
    from apps.chat.selectors import feedback_for_learning, question_of
    from apps.chat.services import feedback_set

    conversation = ConversationFactory(owner=role_users["user"], model=chat_model)
    MessageFactory(conversation=conversation, role="user", content="How hot may the pump run?")
    answer = MessageFactory(conversation=conversation, content="Up to 80 degrees.")
    MessageFactory(conversation=conversation, role="user", content="Thanks")
    feedback_set(message=answer, user=role_users["user"], rating="down", comment="It is 60.")
    with django_assert_max_num_queries(1):
        rows = [(f.rating, f.comment, f.message.content, f.message.model.slug) for f in feedback_for_learning()]
    assert rows == [("down", "It is 60.", "Up to 80 degrees.", "gpt-fake")]
    assert question_of(feedback_for_learning(rating="down").get()) == "How hot may the pump run?"
    assert not feedback_for_learning(rating="up").exists()
