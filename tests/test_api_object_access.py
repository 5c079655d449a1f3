"""Object-level access through the API: no endpoint lets one user reach another user's private objects.

The URL conf is walked like the permission walk of tests/test_project.py. Every DRF endpoint whose model has an
owner-like field (a foreign key to the user) or is reached through an owned object (a knowledge base's documents and
chunks, a portfolio's orders, positions and fills, a conversation's messages) is found; the discovery is pinned, so a
new owned endpoint cannot be skipped silently: it must be declared below as owned (with a builder and the way its owner
shares it) or as company-wide (with the reason).

For every route and method of an owned endpoint: user A (role user) owns a private object; user B (role user, the same
permissions, no share) gets 404 from retrieve, update, partial update, delete and every detail action, does not find it
in the list (plain, searched, filtered by every filter that finds it for A), and nothing in the database changes. Then
A shares it with B for reading (through the product's own service): B reads it (retrieve, list, read actions) and is
still refused every write with a 403, and nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import get_resolver
from guardian.models import GroupObjectPermission, UserObjectPermission
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from apps.chat.models import Conversation
from apps.core.choices import AuditAction
from apps.core.models import ApiKey, AuditLog
from apps.core.services import object_share, object_unshare
from apps.rag.models import Chunk, Document, KnowledgeBase
from apps.rag.services import document_create_text, knowledge_base_share, knowledge_base_unshare
from apps.stock.models import AutoTrader, BacktestRun, Fill, Order, Portfolio, Strategy, Sweep
from apps.stock.services.paper import portfolio_share
from tests.chat.factories import MessageFactory
from tests.core.factories import UserFactory
from tests.resources.factories import QuotaCounterFactory, QuotaNoticeFactory, UsageDailyFactory
from tests.resources.factories_pools import ApprovalRequestFactory
from tests.stock.factories import InstrumentFactory, PortfolioFactory, PositionFactory, StrategyFactory
from tests.test_admin_roles import OBJECTS
from tests.test_project import drf_view_class, is_format_suffix_route, iter_url_patterns, route_methods

User = get_user_model()

# --- Discovery ------------------------------------------------------------------------------------------------------

# Names of a foreign key to the user that make its row the user's own (the roots that are shared).
OWNER_FIELDS = ("owner", "asked_by", "user")
_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>")


def _view_model(cls: type[APIView]) -> type[models.Model] | None:
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model  # type: ignore[no-any-return]
    meta = getattr(getattr(cls, "serializer_class", None), "Meta", None)
    return getattr(meta, "model", None)


def _user_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is User]


def _is_owned_root(model: type[models.Model]) -> bool:
    return any(name in OWNER_FIELDS for name in _user_fields(model))


def _reaches_owned(model: type[models.Model], depth: int = 2) -> list[str]:
    """Paths ("portfolio", "order.portfolio", "knowledge_bases") from ``model`` to an owned root."""
    paths = []
    relations = [f for f in model._meta.get_fields() if f.is_relation and f.concrete and f.related_model]
    for field in relations:
        target = field.related_model
        if target is User or target is model:
            continue
        if _is_owned_root(target):
            paths.append(field.name)
        elif depth > 1:
            paths.extend(f"{field.name}.{rest}" for rest in _reaches_owned(target, depth - 1))
    return paths


def _ownership(model: type[models.Model] | None) -> str | None:
    """Why rows of ``model`` may belong to someone ("owner", "created_by", "via portfolio"), or None."""
    if model is None:
        return None
    reasons = [*_user_fields(model), *(f"via {path}" for path in _reaches_owned(model))]
    return ", ".join(reasons) or None


def _clean_route(route: str) -> str:
    return _PARAM.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", route).replace("^", "").replace("$", "")


def _route_params(route: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _PARAM.finditer(route)]


@dataclass(frozen=True)
class Endpoint:
    route: str
    method: str
    action: str | None
    view: type[APIView]

    @property
    def detail(self) -> bool:
        return "pk" in _route_params(self.route)

    @property
    def writes(self) -> bool:
        return self.method != "get"

    def path(self, pk: Any) -> str:
        return "/" + _PARAM.sub(str(pk), self.route).replace("^", "").replace("$", "")

    def __str__(self) -> str:
        action = f".{self.action}" if self.action else ""
        return f"{self.method.upper()} /{_clean_route(self.route)} ({self.view.__name__}{action})"


def api_endpoints() -> list[Endpoint]:
    endpoints = []
    for route, pattern in iter_url_patterns(get_resolver("aistack.urls").url_patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None or is_format_suffix_route(route):
            continue
        for method, action in route_methods(pattern.callback).items():
            endpoints.append(Endpoint(route, method, action, cls))
    return endpoints


def discover_owned_views() -> dict[str, str]:
    """View name -> why its objects may belong to someone: every viewset whose model has a foreign key to the user
    or reaches an owned root, and every other API view that takes an object id in its path."""
    found: dict[str, str] = {}
    for endpoint in api_endpoints():
        cls = endpoint.view
        if hasattr(cls, "get_extra_actions"):  # a viewset
            reason = _ownership(_view_model(cls))
            if reason:
                found[cls.__name__] = reason
        elif _route_params(endpoint.route):
            found[cls.__name__] = f"path parameters {_route_params(endpoint.route)}"
    return found


# --- Declarations ---------------------------------------------------------------------------------------------------

# Rows that name a user but are company-wide: who made them is recorded, everyone holding the system's permission sees
# them. Listed so that the discovery test fails on anything new.
COMPANY_WIDE: dict[str, str] = {
    "AuditLogViewSet": "the audit log: read by holders of core.audit only, who see every entry",
    "StockMoveViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "SalesOrderViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "DeliveryViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "PurchaseOrderViewSet": "ERP records (created_by, approved_by): company-wide data for erp.read",
    "ReceiptViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "ProductionOrderViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "JournalEntryViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "InvoiceViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "PaymentViewSet": "ERP records (created_by is the author): company-wide data for erp.read",
    "ChatModelViewSet": "chat models are suite resources (managed with resources.manage); their knowledge bases are "
    "chosen by the manager",
    "ToolRunView": "the path names a tool, not an object",
    "ModelDetailView": "the path names a chat model (a suite resource, listed per models_usable_by)",
    "PlanAssignmentViewSet": "who has which plan: read and changed with resources.manage only",
    "QuotaOverrideViewSet": "per-user limits: read and changed with resources.manage only",
    "UserQuotaView": "the path names a user whose quota status a holder of resources.manage reads",
    # --- resources: pools and reservations ---
    "ReservationViewSet": "allocations of shared compute made by operators (resources.manage, who see them all); a "
    "user reads only those held on their behalf, and nobody but an operator writes them (no sharing)",
}


def _share_object(root: models.Model, to: Any, owner: Any, level: str = "view") -> None:
    object_share(obj=root, to=to, level=level, actor=owner)


def _share_knowledge_base(root: models.Model, to: Any, owner: Any, level: str = "view") -> None:
    knowledge_base_share(kb=root, to=to, level=level, actor=owner)  # type: ignore[arg-type]


def _share_portfolio(root: models.Model, to: Any, owner: Any, level: str = "view") -> None:
    portfolio_share(portfolio=root, to=to, level=level, actor=owner)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Owned:
    """How to build a private object of an owned endpoint, which object its owner shares, and how."""

    build: Callable[[Any], models.Model]
    root: Callable[[Any], models.Model] = lambda obj: obj
    share: Callable[..., None] = _share_object
    # What a reader (view share) gets from a write: 403, unless the endpoint deliberately answers otherwise.
    shared_write_status: int = 403
    # Whether a change grant lets the grantee edit the object (PATCH), where the endpoint edits at all.
    change_grant_edits: bool = True


OWNED: dict[str, Owned] = {
    "ApiKeyViewSet": Owned(OBJECTS[ApiKey]),
    # Conversations are changed by their owner only, whatever the grant.
    "ConversationViewSet": Owned(OBJECTS[Conversation], change_grant_edits=False),
    # Feedback is the conversation owner's: for anyone else (a reader included) the message is not found.
    "MessageFeedbackView": Owned(
        lambda owner: MessageFactory(conversation__owner=owner),
        root=lambda message: message.conversation,
        shared_write_status=404,
    ),
    "KnowledgeBaseViewSet": Owned(OBJECTS[KnowledgeBase], share=_share_knowledge_base),
    "DocumentViewSet": Owned(OBJECTS[Document], root=lambda d: d.knowledge_base, share=_share_knowledge_base),
    "ChunkViewSet": Owned(OBJECTS[Chunk], root=lambda c: c.knowledge_base, share=_share_knowledge_base),
    "StrategyViewSet": Owned(OBJECTS[Strategy]),
    "BacktestRunViewSet": Owned(OBJECTS[BacktestRun]),
    "SweepViewSet": Owned(OBJECTS[Sweep]),
    "AutoTraderViewSet": Owned(OBJECTS[AutoTrader]),
    "PortfolioViewSet": Owned(OBJECTS[Portfolio], share=_share_portfolio),
    "OrderViewSet": Owned(OBJECTS[Order], root=lambda o: o.portfolio, share=_share_portfolio),
    "PositionViewSet": Owned(
        lambda owner: PositionFactory(portfolio__owner=owner), root=lambda p: p.portfolio, share=_share_portfolio
    ),
    "FillViewSet": Owned(OBJECTS[Fill], root=lambda f: f.portfolio, share=_share_portfolio),
    # metered usage, quota counters and notices are the user's own (everyone's for resources.manage)
    "UsageViewSet": Owned(lambda owner: UsageDailyFactory(user=owner)),
    "QuotaCounterViewSet": Owned(lambda owner: QuotaCounterFactory(user=owner)),
    "QuotaNoticeViewSet": Owned(lambda owner: QuotaNoticeFactory(user=owner)),
    # --- resources: approvals are their requester's; deciding needs resources.manage (a reader gets 403) ---
    "ApprovalRequestViewSet": Owned(lambda owner: ApprovalRequestFactory(requester=owner)),
}

# Collection routes of owned views that name no existing object (they create a new one of the caller's own, or take
# a chat model or a symbol).
NO_REFERENCE = {
    "POST /api/v1/chat/conversations/ (ConversationViewSet.create)",
    "POST /api/v1/core/api-keys/ (ApiKeyViewSet.create)",
    "POST /api/v1/rag/knowledge-bases/ (KnowledgeBaseViewSet.create)",
    "POST /api/v1/stock/orders/match/ (OrderViewSet.match)",
    "POST /api/v1/stock/portfolios/ (PortfolioViewSet.create)",
    "POST /api/v1/stock/strategies/ (StrategyViewSet.create)",
    "POST /api/v1/stock/sweeps/ (SweepViewSet.create)",
    "GET /api/v1/resources/usage/summary/ (UsageViewSet.summary)",
    "POST /api/v1/resources/approvals/ (ApprovalRequestViewSet.create)",  # names company-wide pools, queues, users
}


# (endpoint as printed, phase) -> the exact bug, for cases that fail today. Each is a strict xfail: fixing the bug
# makes the case pass and the entry must then be removed.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def owned_endpoints() -> list[Endpoint]:
    return [e for e in api_endpoints() if e.view.__name__ in OWNED]


def _params(phase: str, *, skip: Callable[[Endpoint], bool] = lambda e: False) -> list[Any]:
    params = []
    for endpoint in owned_endpoints():
        if skip(endpoint):
            continue
        bug = KNOWN_BUGS.get((str(endpoint), phase))
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        params.append(pytest.param(endpoint, id=str(endpoint), marks=marks))
    return params


def _is_object_endpoint(endpoint: Endpoint) -> bool:
    return endpoint.detail or endpoint.action == "list"


def test_discovery_finds_every_owned_endpoint() -> None:
    """Every endpoint whose rows may belong to someone is either tested below as owned or declared company-wide."""
    found = discover_owned_views()
    assert set(found) == set(OWNED) | set(COMPANY_WIDE), {
        "not declared": {name: found[name] for name in set(found) - set(OWNED) - set(COMPANY_WIDE)},
        "declared but not found": sorted((set(OWNED) | set(COMPANY_WIDE)) - set(found)),
    }
    assert not set(OWNED) & set(COMPANY_WIDE)
    assert found["PortfolioViewSet"] == "owner"
    assert found["FillViewSet"] == "via order.portfolio, via portfolio"
    assert found["ChunkViewSet"] == "via knowledge_base, via document.knowledge_base"


def test_every_owned_object_endpoint_is_covered() -> None:
    """Every owned view has a detail route; every one of its routes and methods that takes an object id in the path is
    parametrized below; every collection route that takes one in the body is in REFERENCES, and the rest take none."""
    endpoints = owned_endpoints()
    views = {e.view.__name__ for e in endpoints}
    assert views == set(OWNED)
    for name in views:
        assert any(e.view.__name__ == name and e.detail for e in endpoints), f"{name} has no detail route"
    collection = {str(e) for e in endpoints if not _is_object_endpoint(e)}
    assert collection - set(REFERENCES) == NO_REFERENCE
    assert set(REFERENCES) <= {str(e) for e in api_endpoints()}
    assert len([e for e in endpoints if _is_object_endpoint(e)]) >= 40


# --- Helpers --------------------------------------------------------------------------------------------------------


def _client(user: Any) -> APIClient:
    """A client sending a real JWT access token for ``user``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _request(client: APIClient, endpoint: Endpoint, pk: Any, query: dict[str, Any] | None = None) -> Any:
    if endpoint.method == "get":
        return client.get(endpoint.path(pk), query or {})
    return getattr(client, endpoint.method)(endpoint.path(pk), {}, format="json")


def _error_code(response: Any) -> str | None:
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    return (response.json().get("error") or {}).get("code")


def _row(obj: models.Model) -> dict[str, str] | None:
    row = type(obj)._default_manager.filter(pk=obj.pk).values().first()
    return {key: repr(value) for key, value in row.items()} if row else None


def _state(obj: models.Model, root: models.Model) -> dict[str, Any]:
    """The object and its shared root row by row, the row count of every model of their apps, the audit trail
    (refusals aside: they are audited) and every object grant: a refused request changes none of it."""
    labels = {obj._meta.app_label, root._meta.app_label}
    counts = {
        model._meta.label: model._default_manager.count()
        for label in sorted(labels)
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and model is not AuditLog
    }
    counts["core.AuditLog"] = AuditLog.objects.exclude(action=AuditAction.PERMISSION_DENIED).count()
    grants = (UserObjectPermission.objects.count(), GroupObjectPermission.objects.count())
    return {"object": _row(obj), "root": _row(root), "counts": counts, "grants": grants}


def _listed_ids(response: Any) -> set[Any]:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {row["id"] for row in rows}


def _attr(obj: models.Model, path: str) -> Any:
    value: Any = obj
    for part in path.split("__"):
        value = getattr(value, part, None)
        if isinstance(value, models.Manager):  # a to-many relation: the first related row stands for all
            value = value.order_by("pk").first()
    return value


def _query_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def _list_queries(view: type[APIView], obj: models.Model) -> list[dict[str, str]]:
    """The plain list, a search for the object's text, and every filter of the list set to the object's value."""
    queries: list[dict[str, str]] = [{"page_size": "200"}]
    for field in (getattr(view, "search_fields", None) or [])[:1]:
        if value := _query_value(_attr(obj, field)):
            queries.append({"search": value[:40]})
    filterset = getattr(view, "filterset_class", None)
    if filterset is not None:
        filters = {name: f.field_name for name, f in filterset.base_filters.items()}
        q_fields = getattr(filterset, "q_fields", ())
        if "q" in filters and q_fields and (value := _query_value(_attr(obj, q_fields[0]))):
            queries.append({"q": value[:40]})
        filters.pop("q", None)
    else:
        filters = {name: name for name in getattr(view, "filterset_fields", None) or []}
    for name, field_name in filters.items():
        if value := _query_value(_attr(obj, field_name)):
            queries.append({name: value})
    return queries


@pytest.fixture
def users(db) -> tuple[Any, Any]:
    return UserFactory(username="owner-a", role="user"), UserFactory(username="stranger-b", role="user")


# --- A stranger ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", _params("stranger", skip=lambda e: not _is_object_endpoint(e)))
def test_stranger_cannot_reach_a_private_object(users, endpoint: Endpoint) -> None:
    owner, stranger = users
    spec = OWNED[endpoint.view.__name__]
    obj = spec.build(owner)
    root = spec.root(obj)
    before = _state(obj, root)

    if endpoint.action == "list":
        queries = _list_queries(endpoint.view, obj)
        if getattr(endpoint.view, "filterset_class", None) or getattr(endpoint.view, "search_fields", None):
            assert len(queries) >= 2, "the list searches or filters, but no query was built for the object"
        owner_client, stranger_client = _client(owner), _client(stranger)
        for query in queries:
            # the owner finds it with this query (so the query is meaningful); the stranger does not
            assert obj.pk in _listed_ids(_request(owner_client, endpoint, None, query)), f"owner, {query}"
            assert obj.pk not in _listed_ids(_request(stranger_client, endpoint, None, query)), f"listed: {query}"
    else:
        response = _request(_client(stranger), endpoint, obj.pk)
        assert response.status_code == 404, (response.status_code, response.content[:300])
        assert _error_code(response) == "not_found", response.content[:300]

    assert _state(obj, root) == before


# --- A reader -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", _params("reader", skip=lambda e: not _is_object_endpoint(e)))
def test_reader_reads_a_shared_object_but_cannot_change_it(users, endpoint: Endpoint) -> None:
    owner, reader = users
    spec = OWNED[endpoint.view.__name__]
    obj = spec.build(owner)
    root = spec.root(obj)
    spec.share(root, reader, owner)
    before = _state(obj, root)
    client = _client(reader)

    if endpoint.action == "list":
        assert obj.pk in _listed_ids(_request(client, endpoint, None, {"page_size": "200"})), "shared but not listed"
    elif not endpoint.writes:
        response = _request(client, endpoint, obj.pk)
        assert response.status_code == 200, (response.status_code, response.content[:300])
        if endpoint.action == "retrieve":
            assert response.json()["id"] == obj.pk
    else:
        response = _request(client, endpoint, obj.pk)
        assert response.status_code == spec.shared_write_status, (response.status_code, response.content[:300])
        expected_code = "permission_denied" if spec.shared_write_status == 403 else "not_found"
        assert _error_code(response) == expected_code, response.content[:300]

    assert _state(obj, root) == before


# --- Object ids in request bodies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A collection route that names an existing object in its body: ``target`` picks the referenced object of the
    owner from the scene, ``body`` builds the request. ``reader_status`` is what a reader (view share of the target)
    gets; None where reading the target is all the request needs."""

    target: str
    body: Callable[[dict[str, Any]], dict[str, Any]]
    format: str = "json"
    reader_status: int | None = 403


def _upload(scene: dict[str, Any]) -> dict[str, Any]:
    upload = SimpleUploadedFile("notes.txt", b"Private notes of someone else.", content_type="text/plain")
    return {"knowledge_base": scene["kb"].pk, "files": [upload]}


REFERENCES: dict[str, Reference] = {
    "POST /api/v1/rag/documents/ (DocumentViewSet.create)": Reference("kb", _upload, format="multipart"),
    "POST /api/v1/rag/documents/text/ (DocumentViewSet.text)": Reference(
        "kb", lambda s: {"knowledge_base": s["kb"].pk, "title": "planted", "text": "Planted text."}
    ),
    "POST /api/v1/rag/documents/url/ (DocumentViewSet.url)": Reference(
        "kb", lambda s: {"knowledge_base": s["kb"].pk, "url": "https://example.com/planted"}
    ),
    "POST /api/v1/rag/search/ (SearchView)": Reference(
        "kb", lambda s: {"query": "notes", "knowledge_bases": [s["kb"].pk]}, reader_status=None
    ),
    "POST /api/v1/rag/ask/ (AskView)": Reference(
        "kb", lambda s: {"question": "What do the notes say?", "knowledge_bases": [s["kb"].pk]}, reader_status=None
    ),
    "POST /api/v1/stock/orders/ (OrderViewSet.create)": Reference(
        "portfolio",
        lambda s: {"portfolio_id": s["portfolio"].pk, "symbol": s["symbol"], "side": "buy", "quantity": "1"},
    ),
    "POST /api/v1/stock/autotraders/ (AutoTraderViewSet.create)": Reference(
        "portfolio",
        lambda s: {
            "portfolio_id": s["portfolio"].pk,
            "strategy_id": s["own_strategy"].pk,
            "symbol": s["symbol"],
            "quantity": "1",
        },
    ),
    "POST /api/v1/stock/backtests/ (BacktestRunViewSet.create)": Reference(
        "strategy", lambda s: {"strategy_id": s["strategy"].pk, "symbol": s["symbol"]}, reader_status=None
    ),
}
# The auto-trader route names two objects: the other user's strategy on the caller's own portfolio is refused too.
STRATEGY_ON_OWN_PORTFOLIO = Reference(
    "strategy",
    lambda s: {
        "portfolio_id": s["own_portfolio"].pk,
        "strategy_id": s["strategy"].pk,
        "symbol": s["symbol"],
        "quantity": "1",
    },
    reader_status=None,
)

_SHARE_TARGET = {"kb": _share_knowledge_base, "portfolio": _share_portfolio, "strategy": _share_object}


def _scene(owner: Any, caller: Any) -> dict[str, Any]:
    return {
        "kb": OBJECTS[KnowledgeBase](owner),
        "portfolio": PortfolioFactory(owner=owner),
        "strategy": StrategyFactory(owner=owner),
        "own_portfolio": PortfolioFactory(owner=caller),
        "own_strategy": StrategyFactory(owner=caller),
        "symbol": InstrumentFactory().symbol,
    }


def _reference_params(*, reader: bool) -> list[Any]:
    cases = [*REFERENCES.items(), ("POST /api/v1/stock/autotraders/ (own portfolio)", STRATEGY_ON_OWN_PORTFOLIO)]
    return [
        pytest.param(reference, id=name, marks=_bug_marks(name, "reader" if reader else "stranger"))
        for name, reference in cases
        if not reader or reference.reader_status is not None
    ]


def _bug_marks(name: str, phase: str) -> list[Any]:
    bug = KNOWN_BUGS.get((name, phase))
    return [pytest.mark.xfail(strict=True, reason=bug)] if bug else []


def _post_reference(client: APIClient, name: str, reference: Reference, scene: dict[str, Any]) -> Any:
    path = re.search(r"POST (\S+)", name).group(1)  # type: ignore[union-attr]
    return client.post(path, reference.body(scene), format=reference.format)


@pytest.mark.parametrize("reference", _reference_params(reader=False))
def test_stranger_cannot_name_a_private_object_in_a_request(users, request, reference: Reference) -> None:
    """Naming another user's private object in a body is a 404, like naming it in the path, and writes nothing."""
    owner, stranger = users
    name = request.node.callspec.id
    scene = _scene(owner, stranger)
    target = scene[reference.target]
    before = _state(target, scene["own_portfolio"])
    response = _post_reference(_client(stranger), name, reference, scene)
    assert response.status_code == 404, (response.status_code, response.content[:300])
    assert _error_code(response) == "not_found", response.content[:300]
    assert _state(target, scene["own_portfolio"]) == before


@pytest.mark.parametrize("reference", _reference_params(reader=True))
def test_reader_cannot_write_into_a_shared_object(users, request, reference: Reference) -> None:
    """A reader may name the shared object but not write into it (upload to the base, trade in the portfolio)."""
    owner, reader = users
    name = request.node.callspec.id
    scene = _scene(owner, reader)
    target = scene[reference.target]
    _SHARE_TARGET[reference.target](target, reader, owner)
    before = _state(target, scene["own_portfolio"])
    response = _post_reference(_client(reader), name, reference, scene)
    assert response.status_code == reference.reader_status, (response.status_code, response.content[:300])
    assert _error_code(response) == "permission_denied", response.content[:300]
    assert _state(target, scene["own_portfolio"]) == before


# --- An editor ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", _params("editor", skip=lambda e: e.action != "partial_update"))
def test_change_grant_edits_but_does_not_delete(users, endpoint: Endpoint) -> None:
    """A change grant lets the grantee edit (where the endpoint allows grantees to edit at all); deleting needs the
    owner or a manage grant."""
    owner, editor = users
    spec = OWNED[endpoint.view.__name__]
    obj = spec.build(owner)
    spec.share(spec.root(obj), editor, owner, level="change")
    client = _client(editor)

    response = client.patch(endpoint.path(obj.pk), {}, format="json")
    assert response.status_code == (200 if spec.change_grant_edits else 403), response.content[:300]
    response = client.delete(endpoint.path(obj.pk))
    assert response.status_code == 403, response.content[:300]
    assert _error_code(response) == "permission_denied"
    assert type(obj)._default_manager.filter(pk=obj.pk).exists()


# --- A former reader ------------------------------------------------------------------------------------------------


def _unshare(root: models.Model, to: Any, owner: Any) -> None:
    if isinstance(root, KnowledgeBase):
        knowledge_base_unshare(kb=root, to=to, actor=owner)
    else:
        object_unshare(obj=root, to=to, actor=owner)


@pytest.mark.parametrize("endpoint", _params("revoked", skip=lambda e: e.action != "retrieve"))
def test_revoked_share_closes_the_object_again(users, endpoint: Endpoint) -> None:
    """Once the owner removes the grant, the former reader gets 404 again, even right after reading it (nothing
    cached in between answers for the old rights)."""
    owner, reader = users
    spec = OWNED[endpoint.view.__name__]
    obj = spec.build(owner)
    root = spec.root(obj)
    spec.share(root, reader, owner)
    client = _client(reader)
    assert _request(client, endpoint, obj.pk).status_code == 200

    _unshare(root, reader, owner)
    response = _request(client, endpoint, obj.pk)
    assert response.status_code == 404, (response.status_code, response.content[:300])


def test_revoked_knowledge_base_share_closes_search(
    users, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    """Search never finds a private base's passages for a stranger, finds them once the base is shared, and once the
    grant is removed naming the base is a 404 again and a search of everything readable no longer finds them (the
    per-user caches of readable bases and of results do not outlive the grant)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    owner, reader = users
    kb = OBJECTS[KnowledgeBase](owner)
    with django_capture_on_commit_callbacks(execute=True):
        document_create_text(
            kb=kb, title="Quarterly plan", text="The zeppelin budget doubles next quarter.", tags=[], uploaded_by=owner
        )
    client = _client(reader)
    named = {"query": "zeppelin budget", "knowledge_bases": [kb.pk]}
    everywhere = {"query": "zeppelin budget"}
    assert client.post("/api/v1/rag/search/", named, format="json").status_code == 404
    assert client.post("/api/v1/rag/search/", everywhere, format="json").json()["results"] == []

    knowledge_base_share(kb=kb, to=reader, level="view", actor=owner)
    for body in (named, everywhere):
        response = client.post("/api/v1/rag/search/", body, format="json")
        assert response.status_code == 200, response.content[:300]
        assert {hit["knowledge_base_id"] for hit in response.json()["results"]} == {kb.pk}, body

    knowledge_base_unshare(kb=kb, to=reader, actor=owner)
    response = client.post("/api/v1/rag/search/", named, format="json")
    assert response.status_code == 404, response.content[:300]
    response = client.post("/api/v1/rag/search/", everywhere, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == []
