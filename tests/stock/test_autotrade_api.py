"""Auto-trader endpoints: roles, owner-only portfolios, enable/disable with audit, bad input, query count."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.testing import assert_error_body, assert_role_access
from apps.stock.models import AutoTrader
from apps.stock.services import autotrade, paper

from .factories import StrategyFactory

API = "/api/v1/stock/autotraders"
ALL = [ADMIN, MANAGER, USER, GUEST]
TRADERS = [ADMIN, MANAGER, USER]


@pytest.fixture
def owned(role_users, index_2006):
    """A portfolio and a strategy for each role's user."""
    return {
        role: (
            paper.portfolio_create(owner=user, name=f"{role} auto", cash=Decimal("10000")),
            StrategyFactory(owner=user, kind="close_vs_sma", params={"period": 5}),
        )
        for role, user in role_users.items()
    }


def payload(owned, role: str, **extra):
    portfolio, strategy = owned[role]
    return {"portfolio_id": portfolio.pk, "strategy_id": strategy.pk, "symbol": "IDX", "quantity": "2", **extra}


def test_roles_create_list_and_disabled_by_default(role_client, owned) -> None:
    assert_role_access(role_client, "post", f"{API}/", TRADERS, data=lambda role: payload(owned, role))
    assert_role_access(role_client, "get", f"{API}/", ALL)
    trader = AutoTrader.objects.get(portfolio=owned[USER][0])
    assert trader.enabled is False
    assert AuditLog.objects.filter(target_type="stock.autotrader", message="Auto-trader created").count() == 3
    body = role_client(USER).get(f"{API}/").json()
    assert [row["id"] for row in body["results"]] == [trader.pk]  # only your own


def test_enable_disable_by_owner_only(role_client, role_users, owned, index_2006) -> None:
    traders = {
        role: autotrade.autotrader_create(
            actor=role_users[role],
            portfolio=owned[role][0],
            strategy=owned[role][1],
            instrument=index_2006,
            quantity=1,
        )
        for role in ALL
    }
    for role in ALL:
        response = role_client(role).post(f"{API}/{traders[role].pk}/enable/")
        if role in TRADERS:
            assert response.status_code == 200, response.content
            assert response.json()["enabled"] is True
        else:
            assert_error_body(response, 403, "permission_denied")
    user_trader = traders[USER]
    assert_error_body(role_client(MANAGER).post(f"{API}/{user_trader.pk}/disable/"), 404, "not_found")
    response = role_client(USER).post(f"{API}/{user_trader.pk}/disable/")
    assert response.json()["enabled"] is False
    messages = AuditLog.objects.filter(target_type="stock.autotrader", target_id=str(user_trader.pk))
    assert set(messages.values_list("message", flat=True)) >= {"Auto-trader enabled", "Auto-trader disabled"}


def test_bad_input_writes_nothing(role_client, role_users, owned) -> None:
    client = role_client(USER)
    cases = [
        (payload(owned, USER, quantity="0"), 400, "invalid"),
        (payload(owned, USER, symbol="NOPE"), 404, None),
        ({**payload(owned, USER), "portfolio_id": owned[MANAGER][0].pk}, 404, "not_found"),
        ({**payload(owned, USER), "strategy_id": owned[MANAGER][1].pk}, 404, "not_found"),
        ({"portfolio_id": "x"}, 400, None),
    ]
    for data, status, code in cases:
        response = client.post(f"{API}/", data, format="json")
        assert response.status_code == status, (data, response.content)
        if code:
            assert response.json()["error"]["code"] == code
    assert client.post(f"{API}/", payload(owned, USER), format="json").status_code == 201
    assert_error_body(client.post(f"{API}/", payload(owned, USER), format="json"), 400, "duplicate_autotrader")
    assert AutoTrader.objects.count() == 1


def test_shared_portfolio_cannot_get_an_autotrader(role_client, role_users, owned) -> None:
    portfolio = owned[MANAGER][0]
    paper.portfolio_share(portfolio=portfolio, to=role_users[USER], actor=role_users[MANAGER])
    data = {**payload(owned, USER), "portfolio_id": portfolio.pk}
    assert_error_body(role_client(USER).post(f"{API}/", data, format="json"), 403, "permission_denied")
    assert not AutoTrader.objects.exists()


def test_list_query_count(role_client, role_users, owned, index_2006, django_assert_max_num_queries) -> None:
    user = role_users[USER]
    for n in range(4):
        autotrade.autotrader_create(
            actor=user,
            portfolio=owned[USER][0],
            strategy=StrategyFactory(owner=user, kind="close_vs_sma", params={"period": 5 + n}),
            instrument=index_2006,
            quantity=1,
        )
    with django_assert_max_num_queries(8):
        assert role_client(USER).get(f"{API}/").status_code == 200
