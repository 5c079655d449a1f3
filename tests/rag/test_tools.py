"""search_knowledge, the knowledge base's tool: registered by the RAG app, run with the caller's permissions, and
narrowed to the bases the caller may read."""

import pytest

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.models import AuditLog
from apps.core.roles import ROLES
from apps.core.tools import ToolFailed, get_tool, tool_run, tools_available_to
from tests.rag.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bases(make_user, ingest):
    owner = make_user(role="user")
    public = KnowledgeBaseFactory(owner=owner, name="Manuals", visibility="everyone")
    ingest(public, title="Pump manual", text="The pump pressure is 6 bar. The seal lasts two years.")
    private = KnowledgeBaseFactory(owner=owner, name="Owner notes")
    ingest(private, title="Secret memo", text="The pump pressure secret is kept in the vault.")
    return {"owner": owner, "public": public, "private": private}


def run(user, arguments, api_key=None):
    return tool_run(name="search_knowledge", arguments=arguments, user=user, api_key=api_key)


def test_it_is_the_rag_apps_tool_needing_rag_read():
    tool = get_tool("search_knowledge")
    assert tool.handler.__module__ == "apps.rag.tools" and tool.permission == "rag.read"
    assert tool.parameters["required"] == ["query"]


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_searches_the_bases_it_may_read(bases, make_user, role):
    """All four roles hold rag.read; none of them sees another user's private base."""
    user = make_user(role=role)
    assert "search_knowledge" in {t.name for t in tools_available_to(user=user)}
    passages = run(user, {"query": "pump pressure"})
    assert [p["title"] for p in passages] == ["Pump manual"]
    assert passages[0]["knowledge_base"] == "Manuals" and "6 bar" in passages[0]["text"]


def test_the_owner_also_finds_their_private_base(bases):
    titles = {p["title"] for p in run(bases["owner"], '{"query": "pump pressure", "k": 5}')}
    assert titles == {"Pump manual", "Secret memo"}


def test_without_rag_read_or_its_scope_nothing_is_searched(bases, make_user, make_api_key):
    roleless = make_user()
    assert "search_knowledge" not in {t.name for t in tools_available_to(user=roleless)}
    with pytest.raises(Forbidden):
        run(roleless, {"query": "pump"})
    chat_only, _ = make_api_key(bases["owner"], scopes=["chat.use", "erp.read"])
    assert "search_knowledge" not in {t.name for t in tools_available_to(user=bases["owner"], api_key=chat_only)}
    with pytest.raises(Forbidden):
        run(bases["owner"], {"query": "pump"}, api_key=chat_only)
    with_scope, _ = make_api_key(bases["owner"], scopes=["rag.read"])
    assert len(run(bases["owner"], {"query": "pump pressure"}, api_key=with_scope)) == 2
    assert AuditLog.objects.filter(target_type="tool", target_id="search_knowledge", outcome="denied").count() == 2


@pytest.mark.parametrize(
    "arguments",
    [{}, {"query": ""}, {"query": "pump", "k": 0}, {"query": "pump", "k": 21}, {"query": "pump", "k": "5"}, {"q": "x"}],
)
def test_bad_arguments_are_refused_by_the_schema(bases, arguments):
    with pytest.raises(ValidationFailed) as caught:
        run(bases["owner"], arguments)
    assert caught.value.code == "invalid_arguments"


def test_a_blank_query_is_the_search_services_refusal(bases):
    with pytest.raises(ToolFailed) as caught:
        run(bases["owner"], {"query": "   "})
    assert caught.value.code == "empty_query"
