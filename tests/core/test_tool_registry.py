"""The tool registry: registration rules, arguments checked against the schema before the handler runs, the caller's
permission checked like the REST API (API-key scopes included), and every run audited."""

import json
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import ProgrammingError, connection

from apps.core.choices import AuditAction, AuditOutcome
from apps.core.exceptions import Forbidden, NotFound, ValidationFailed
from apps.core.models import AuditLog
from apps.core.permissions import request_has_perm, user_has_perm
from apps.core.roles import ROLES
from apps.core.tools import (
    ToolFailed,
    arguments_summary,
    get_tool,
    register_tool,
    registered_tools,
    tool_run,
    tools_available_to,
    unregister_tool,
)

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "minLength": 1},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "required": ["code"],
    "additionalProperties": False,
}


@pytest.fixture
def temporary_tools():
    """Register tools for one test; they are removed afterwards."""
    names = []

    def _register(**kwargs):
        kwargs.setdefault("description", "A tool of the tests.")
        kwargs.setdefault("parameters", SCHEMA)
        kwargs.setdefault("permission", "erp.approve")
        kwargs.setdefault("handler", lambda ctx, args: args)
        tool = register_tool(**kwargs)
        names.append(tool.name)
        return tool

    yield _register
    for name in names:
        unregister_tool(name)


@pytest.fixture
def probe(temporary_tools):
    """A tool needing erp.approve whose handler records each call (who ran it and with what)."""
    calls = []

    def handler(ctx, args):
        calls.append({"user": ctx.user, "api_key": ctx.api_key, "args": args})
        if args["code"] == "missing":
            raise NotFound("No such record.", code="no_record", details={"code": args["code"]})
        if args["code"] == "crash":
            raise RuntimeError("boom")
        return {"code": args["code"], "count": args.get("count", 1)}

    temporary_tools(name="probe", handler=handler)
    return calls


def tool_audits(name="probe"):
    return list(AuditLog.objects.filter(target_type="tool", target_id=name).order_by("id"))


# --- registration ---------------------------------------------------------------------------------------------------


def test_the_suites_tools_are_registered_by_the_apps_that_own_them():
    owners = {tool.name: (tool.handler.__module__, tool.permission) for tool in registered_tools()}
    assert owners == {
        "erp_lookup": ("apps.erp.tools", "erp.read"),
        "resources_my_quota": ("apps.resources.tools", "chat.use"),
        "resources_usage_summary": ("apps.resources.tools", "resources.manage"),
        "search_knowledge": ("apps.rag.tools", "rag.read"),
        "stock_latest_bars": ("apps.stock.tools", "stock.read"),
        "stock_quote": ("apps.stock.tools", "stock.read"),
    }
    assert [t.name for t in registered_tools()] == sorted(owners)


def test_registration_returns_the_tool_and_its_openai_spec(temporary_tools):
    tool = temporary_tools(name="spec-me", description="  Shows a spec.  ")
    assert get_tool("spec-me") is tool and tool.permissions == ("erp.approve",)
    assert tool.spec() == {
        "type": "function",
        "function": {"name": "spec-me", "description": "Shows a spec.", "parameters": SCHEMA},
    }
    unregister_tool("spec-me")
    assert get_tool("spec-me") is None


def test_a_duplicate_name_is_refused_and_the_first_tool_kept(temporary_tools):
    first = temporary_tools(name="once")
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        register_tool(name="once", description="Again.", parameters=SCHEMA, permission="erp.read", handler=print)
    assert get_tool("once") is first
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        register_tool(name="erp_lookup", description="Mine.", parameters=SCHEMA, permission="erp.read", handler=print)
    assert get_tool("erp_lookup").handler.__module__ == "apps.erp.tools"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"permission": "erp.delete_everything"}, "not one"),
        ({"permission": "erp"}, "not one"),
        ({"permission": ""}, "not one"),
        ({"name": "has space"}, "letters, digits"),
        ({"name": ""}, "letters, digits"),
        ({"name": "x" * 65}, "letters, digits"),
        ({"description": "  "}, "description"),
        ({"handler": "not callable"}, "not callable"),
        ({"parameters": {"type": "string"}}, "schema of an object"),
        ({"parameters": []}, "schema of an object"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "no-such-type"}}}}, "not a valid JSON schema"),
        ({"parameters": {"type": "object", "required": "code"}}, "not a valid JSON schema"),
    ],
)
def test_invalid_registrations_are_refused(overrides, message):
    fields = {
        "name": "bad_tool",
        "description": "A tool.",
        "parameters": SCHEMA,
        "permission": "erp.read",
        "handler": lambda ctx, args: None,
        **overrides,
    }
    with pytest.raises(ImproperlyConfigured, match=message):
        register_tool(**fields)
    assert get_tool(fields["name"]) is None


# --- arguments ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "paths"),
    [
        ({}, [""]),  # code is required
        ({"code": ""}, ["code"]),
        ({"code": 7}, ["code"]),
        ({"code": "A", "count": 0}, ["count"]),
        ({"code": "A", "count": "3"}, ["count"]),
        ({"code": "A", "extra": True}, [""]),
        ({"code": 1, "count": 99}, ["code", "count"]),  # every error is reported
        ('{"code": "A", "count": 11}', ["count"]),
        ("{not json", [""]),
        ("[1, 2]", [""]),
        (["code"], [""]),
        ("", [""]),  # no arguments at all: code is still required
        (None, [""]),
    ],
)
def test_arguments_are_validated_before_the_handler_runs(probe, make_user, arguments, paths):
    with pytest.raises(ValidationFailed) as caught:
        tool_run(name="probe", arguments=arguments, user=make_user(role="manager"))
    assert probe == []  # the handler never ran
    error = caught.value
    assert error.code == "invalid_arguments" and error.status_code == 400
    assert [d["path"] for d in error.details] == paths and all(d["message"] for d in error.details)
    [audit] = tool_audits()
    assert (audit.action, audit.outcome, audit.message) == (
        AuditAction.ACTION,
        AuditOutcome.FAILURE,
        "tool probe: refused: invalid arguments",
    )


def test_valid_arguments_reach_the_handler_as_a_dict_from_json_text_or_a_dict(probe, make_user):
    manager = make_user(role="manager")
    assert tool_run(name="probe", arguments='{"code": "A", "count": 3}', user=manager) == {"code": "A", "count": 3}
    assert tool_run(name="probe", arguments={"code": "B"}, user=manager) == {"code": "B", "count": 1}
    assert [call["args"] for call in probe] == [{"code": "A", "count": 3}, {"code": "B"}]
    assert all(call["user"] == manager and call["api_key"] is None for call in probe)


def test_an_unknown_tool_is_a_404_and_audited(make_user):
    user = make_user(role="admin")
    with pytest.raises(NotFound) as caught:
        tool_run(name="no_such_tool", arguments={"q": 1}, user=user)
    assert caught.value.code == "unknown_tool" and caught.value.status_code == 404
    [audit] = tool_audits("no_such_tool")
    assert (audit.actor, audit.outcome, audit.changes["arguments"]) == (user, AuditOutcome.FAILURE, {"q": 1})


def test_a_domain_error_of_the_handler_keeps_its_code_and_details(probe, make_user):
    with pytest.raises(ToolFailed) as caught:
        tool_run(name="probe", arguments={"code": "missing"}, user=make_user(role="admin"))
    error = caught.value
    assert (error.status_code, error.code, error.message, error.details) == (
        400,
        "no_record",
        "No such record.",
        {"code": "missing"},
    )
    [audit] = tool_audits()
    assert (audit.outcome, audit.message) == (AuditOutcome.FAILURE, "tool probe: failed: no_record")


def test_a_crashing_handler_is_audited_and_the_error_not_hidden(probe, make_user):
    with pytest.raises(RuntimeError):
        tool_run(name="probe", arguments={"code": "crash"}, user=make_user(role="admin"))
    [audit] = tool_audits()
    assert (audit.outcome, audit.message) == (AuditOutcome.FAILURE, "tool probe: failed: RuntimeError")


def test_a_database_error_of_the_handler_is_not_masked_by_the_audit(temporary_tools, make_user):
    """The failed query aborts the transaction, so the audit row cannot be written; the caller still gets the
    handler's own error, not the audit's."""

    def broken(ctx, args):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_of_tools")

    temporary_tools(name="broken", handler=broken, parameters={"type": "object"}, permission="erp.read")
    with pytest.raises(ProgrammingError, match="no_such_table_of_tools"):
        tool_run(name="broken", arguments={}, user=make_user(role="user"))


# --- permissions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_runs_the_tool_only_with_its_permission(probe, make_user, role):
    """The probe needs erp.approve: admins and managers hold it, users and guests do not."""
    user = make_user(role=role)
    allowed = "erp.approve" in ROLES[role]
    assert allowed == (role in ("admin", "manager"))
    assert [t.name for t in tools_available_to(user=user) if t.name == "probe"] == (["probe"] if allowed else [])
    if allowed:
        assert tool_run(name="probe", arguments={"code": "A"}, user=user)["code"] == "A"
        assert tool_audits()[0].outcome == AuditOutcome.SUCCESS
    else:
        with pytest.raises(Forbidden) as caught:
            tool_run(name="probe", arguments={"code": "A"}, user=user)
        assert caught.value.status_code == 403 and "needs erp.approve" in caught.value.message
        assert probe == []
        [audit] = tool_audits()
        assert (audit.actor, audit.outcome, audit.message) == (
            user,
            AuditOutcome.DENIED,
            "tool probe: refused: needs erp.approve",
        )


def test_permission_is_checked_before_the_arguments(probe, make_user):
    """A caller who may not run the tool learns nothing about its schema."""
    with pytest.raises(Forbidden):
        tool_run(name="probe", arguments="{not json", user=make_user(role="user"))


def test_an_api_key_with_a_subset_of_scopes_narrows_the_owner(probe, make_user, make_api_key):
    manager = make_user(role="manager")
    chat_only, _ = make_api_key(manager, scopes=["chat.use", "erp.read"])
    approving, _ = make_api_key(manager, scopes=["erp.approve"])
    unscoped, _ = make_api_key(manager)

    with pytest.raises(Forbidden):
        tool_run(name="probe", arguments={"code": "A"}, user=manager, api_key=chat_only)
    assert probe == []
    assert tool_audits()[0].api_key_id == chat_only.pk

    assert tool_run(name="probe", arguments={"code": "A"}, user=manager, api_key=approving)["code"] == "A"
    assert tool_run(name="probe", arguments={"code": "B"}, user=manager, api_key=unscoped)["code"] == "B"
    assert [call["api_key"] for call in probe] == [approving, unscoped]
    assert [a.api_key_id for a in tool_audits()[1:]] == [approving.pk, unscoped.pk]

    # the list agrees with the runs, for the suite's tools too
    names = {t.name for t in tools_available_to(user=manager, api_key=chat_only)}
    assert names == {"erp_lookup", "resources_my_quota"}
    assert {t.name for t in tools_available_to(user=manager, api_key=approving)} == {"probe"}


def test_a_scope_never_widens_the_owner(probe, make_user, make_api_key):
    user = make_user(role="user")
    key, _ = make_api_key(user, scopes=["erp.read"])
    key.scopes = ["erp.approve"]  # even a key that somehow carries a scope its owner lacks
    with pytest.raises(Forbidden):
        tool_run(name="probe", arguments={"code": "A"}, user=user, api_key=key)


def test_inactive_anonymous_and_roleless_callers_run_nothing(probe, make_user):
    from django.contrib.auth.models import AnonymousUser

    inactive = make_user(role="admin", is_active=False)
    for caller in (inactive, AnonymousUser(), make_user()):
        assert tools_available_to(user=caller) == []
        with pytest.raises(Forbidden):
            tool_run(name="probe", arguments={"code": "A"}, user=caller)
    assert probe == []
    assert [a.actor for a in tool_audits()][:2] == [inactive, None]


def test_the_request_form_reads_the_user_and_the_key(probe, make_user, make_api_key):
    manager = make_user(role="manager")
    key, _ = make_api_key(manager, scopes=["erp.read"])
    assert {t.name for t in tools_available_to(SimpleNamespace(user=manager, auth=key))} == {"erp_lookup"}
    jwt_request = SimpleNamespace(user=manager, auth=object())  # a JWT: not an API key, no scopes
    assert "probe" in {t.name for t in tools_available_to(jwt_request)}


def test_the_user_and_key_rule_is_the_request_rule(make_user, make_api_key):
    manager = make_user(role="manager")
    key, _ = make_api_key(manager, scopes=["erp.read"])
    for perm in ("erp.read", "erp.approve", "core.audit"):
        for auth in (None, key):
            request = SimpleNamespace(user=manager, auth=auth)
            assert request_has_perm(request, perm) == user_has_perm(manager, perm, api_key=auth)


# --- audit ----------------------------------------------------------------------------------------------------------


def test_a_successful_run_is_audited_with_the_tool_and_its_arguments(probe, make_user, make_api_key):
    admin = make_user(role="admin")
    key, _ = make_api_key(admin)
    tool_run(name="probe", arguments=json.dumps({"code": "A", "count": 2}), user=admin, api_key=key)
    [audit] = tool_audits()
    assert (audit.action, audit.outcome, audit.actor, audit.api_key_id) == (
        AuditAction.ACTION,
        AuditOutcome.SUCCESS,
        admin,
        key.pk,
    )
    assert audit.message == "tool probe: ran"
    assert audit.changes == {"tool": "probe", "arguments": {"code": "A", "count": 2}}


def test_the_arguments_summary_is_short_and_hides_secrets():
    summary = arguments_summary(
        {"query": "x" * 500, "password": "hunter2", "api_key": "ask_x", "nested": {"a": [1, 2]}, "n": 3, "ok": True}
    )
    assert summary["query"] == "x" * 200 + "..."
    assert summary["password"] == summary["api_key"] == "********"
    assert (summary["nested"], summary["n"], summary["ok"]) == ('{"a": [1, 2]}', 3, True)
    many = arguments_summary({f"k{i}": i for i in range(25)})
    assert len(many) == 21 and many["..."] == "5 more"
    assert arguments_summary("{broken" + "y" * 300) == {"raw": ("{broken" + "y" * 300)[:200]}
