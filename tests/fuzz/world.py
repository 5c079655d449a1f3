"""The data the fuzzer runs against and the identities it runs as.

The demo data (``seed_demo``: one user per role made with the core services, then every system's demo data) plus,
for every role user, one object of each kind that belongs to someone (a conversation, a knowledge base with a
document and chunks, a portfolio with a position, an order and a fill, a strategy, a backtest, a sweep, an
autotrader, an API key), so that list and detail operations have objects to hit for every caller.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models
from rest_framework_simplejwt.tokens import RefreshToken

from apps.chat.choices import BUILTIN_EXTRACTIVE
from apps.chat.models import ChatModel
from apps.chat.services.conversations import conversation_create
from apps.core.models import ApiKey
from apps.core.roles import ROLES
from apps.core.services import api_key_create
from apps.erp import demo as erp_demo
from apps.rag.services import document_create_text, knowledge_base_create
from apps.stock.models import AutoTrader, BacktestRun, Fill, Order, Portfolio, Strategy, Sweep
from tests.chat.factories import MessageFactory
from tests.fuzz.operations import Identity
from tests.test_admin_roles import OBJECTS

ERP_DEMO_SCALE = 0.25
# The API key identity: the "user" role's user calling with a key limited to these scopes.
API_KEY_OWNER = "user"
API_KEY_SCOPES = ("erp.read", "chat.use")

# Built with the factories of the admin crawl (tests/test_admin_roles.py); conversations and knowledge bases are
# built below with the services, which keep their counters (documents, chunks, messages) consistent.
OWNED_MODELS: tuple[type[models.Model], ...] = (
    Portfolio,
    Order,
    Fill,
    Strategy,
    BacktestRun,
    Sweep,
    AutoTrader,
    ApiKey,
)


@dataclass(frozen=True)
class Caller:
    identity: Identity
    user: Any
    headers: dict[str, str]


def world_build() -> dict[str, Caller]:
    """Load the demo data and the owned objects; return the callers by name (the four roles and the API key)."""
    # The ERP demo at a quarter of its volume first (a year of activity at full volume is most of the set-up time);
    # seed_demo then creates the users and the other systems' demo data, and keeps the ERP data it finds.
    erp_demo.seed(stdout=io.StringIO(), scale=ERP_DEMO_SCALE)
    call_command("seed_demo", "--force", stdout=io.StringIO())
    users = {role: get_user_model().objects.get(username=role) for role in ROLES}
    builtin = ChatModel.objects.get(slug=BUILTIN_EXTRACTIVE)  # answers without an LLM upstream
    for user in users.values():
        for model in OWNED_MODELS:
            OBJECTS[model](user)
        conversation = conversation_create(owner=user, model=builtin, title=f"{user.username}'s conversation")
        MessageFactory(conversation=conversation)
        kb = knowledge_base_create(owner=user, name=f"{user.username}'s base")
        text = "Boundary layers and flutter of thin wings at supersonic speed. " * 20
        document_create_text(kb=kb, title=f"{user.username}'s notes", text=text, uploaded_by=user)
    callers = {
        role: Caller(
            identity=Identity(name=role, roles=frozenset({role}), superuser=user.is_superuser),
            user=user,
            headers={"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"},
        )
        for role, user in users.items()
    }
    owner = users[API_KEY_OWNER]
    _, secret = api_key_create(owner=owner, name="fuzz key", scopes=list(API_KEY_SCOPES))
    callers["apikey"] = Caller(
        identity=Identity(name="apikey", roles=frozenset({API_KEY_OWNER}), scopes=frozenset(API_KEY_SCOPES)),
        user=owner,
        headers={"X-API-Key": secret},
    )
    return callers


def harvest_ids(body: Any, field: str = "id") -> list[Any]:
    """The ``field`` values of the rows of a list response (paginated or not)."""
    rows = body.get("results", []) if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return []
    return [row[field] for row in rows if isinstance(row, dict) and row.get(field) is not None]


def decode_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


# --- No traffic off this machine ------------------------------------------------------------------------------------

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "testserver"}


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        import ipaddress

        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only() -> Iterator[None]:
    """While fuzzing, the server may only resolve and connect to loopback addresses.

    Generated input names arbitrary hosts (a knowledge-base document's URL, a provider's base URL); the product
    refuses private addresses but would reach public ones, and nothing may leave this machine. A name that is not a
    loopback one does not resolve (the product answers as it does for an unknown host) and a connection elsewhere is
    refused, so the outcome is the same on every machine."""
    real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo
    real_connect: Callable[..., Any] = socket.socket.connect
    real_connect_ex: Callable[..., Any] = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode("idna", "replace")
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (fuzzing: loopback only)")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"fuzzing: connection to {address[0]} refused (loopback only)")

    def connect(sock: socket.socket, address: Any) -> Any:
        _check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        _check(sock, address)
        return real_connect_ex(sock, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
