"""Input the API must refuse with a 400 and the error body: numbers out of their documented range (apps/core/
serializers.py), numbers written with other than ASCII digits, text that is not UTF-8 in any format (JSON, form,
multipart), NUL characters, lone surrogates, NaN/Infinity and absurd nesting."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from rest_framework import serializers
from rest_framework.test import APIClient

from apps.core.models import ApiKey
from apps.core.serializers import MONEY_MAX, AsciiNumberMixin
from apps.stock.models import Portfolio

KEYS = "/api/v1/core/api-keys/"
PORTFOLIOS = "/api/v1/stock/portfolios/"
pytestmark = pytest.mark.django_db
NUMERIC = (serializers.DecimalField, serializers.IntegerField, serializers.FloatField)


# --- Every numeric field of every serializer is bounded -------------------------------------------------------------


def _serializer_classes() -> Iterator[type[serializers.BaseSerializer[Any]]]:
    """Every serializer class defined in an app's api package (its modules imported)."""
    seen: set[type] = set()
    for config in django_apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        try:
            package = importlib.import_module(f"{config.name}.api")
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, serializers.BaseSerializer)
                    and value.__module__ == module.__name__
                    and value not in seen
                ):
                    seen.add(value)
                    yield value


def _numeric_fields(serializer: serializers.BaseSerializer[Any], where: str) -> Iterator[tuple[str, Any]]:
    for name, field in serializer.fields.items():
        yield from _numeric(field, f"{where}.{name}")


def _numeric(field: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(field, serializers.ListSerializer | serializers.ListField | serializers.DictField):
        yield from _numeric(field.child, f"{where}[]")
    elif isinstance(field, serializers.BaseSerializer):
        yield from _numeric_fields(field, where)
    elif isinstance(field, NUMERIC) and not field.read_only:
        yield where, field


def all_numeric_fields() -> list[tuple[str, Any]]:
    found = []
    for cls in _serializer_classes():
        try:
            instance = cls()
        except TypeError:  # a serializer that needs arguments to be built
            continue
        found.extend(_numeric_fields(instance, f"{cls.__module__}.{cls.__name__}"))
    return found


def test_the_walk_finds_the_fields_the_probe_named():
    names = {where for where, _field in all_numeric_fields()}
    assert "apps.stock.api.serializers.PortfolioSerializer.max_order_value" in names
    assert "apps.stock.api.serializers.BacktestCreateSerializer.initial_cash" in names
    assert len(names) > 100


def test_every_numeric_field_has_bounds_and_reads_ascii_digits_only():
    """A new Decimal/Integer/Float field without a range, or built from DRF's classes instead of apps.core's, fails
    here: declare it with apps.core.serializers' fields (or subclass BaseModelSerializer) and give its range."""
    offenders = [
        where
        for where, field in all_numeric_fields()
        if field.min_value is None or field.max_value is None or not isinstance(field, AsciiNumberMixin)
    ]
    assert offenders == []


def test_money_fields_stay_within_the_documented_maximum():
    too_wide = [
        where
        for where, field in all_numeric_fields()
        if isinstance(field, serializers.DecimalField)
        and field.decimal_places == 2
        and (field.max_value > MONEY_MAX or field.min_value < -MONEY_MAX)
    ]
    assert too_wide == []


# --- The probe's cases ----------------------------------------------------------------------------------------------


@pytest.fixture
def trader(role_client) -> APIClient:
    return role_client("user")


def _invalid(response: Any, field: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["details"], error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_order_value", "-1"),
        ("cash", "-0.01"),
        ("cash", "1000000000000.00"),
        ("cash", "\uff11\uff12\uff13"),  # full-width 123
        ("max_order_value", "\u0661\u0662"),  # Arabic-Indic 12
        ("max_position_pct", "\uff15"),
    ],
)
def test_portfolio_numbers_out_of_range_or_not_ascii_are_a_400(trader, field, value):
    response = trader.post(PORTFOLIOS, {"name": "p", "cash": "100.00", field: value}, format="json")
    _invalid(response, field)
    assert not Portfolio.objects.exists()


def test_portfolio_with_sane_numbers_is_created(trader):
    response = trader.post(PORTFOLIOS, {"name": "p", "cash": "123.45", "max_order_value": "0"}, format="json")
    assert response.status_code == 201, response.content


def test_portfolio_update_refuses_a_negative_limit(trader):
    created = trader.post(PORTFOLIOS, {"name": "p", "cash": "100.00"}, format="json").json()
    response = trader.patch(f"{PORTFOLIOS}{created['id']}/", {"max_order_value": "-1"}, format="json")
    _invalid(response, "max_order_value")


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial_cash", 1e308), ("initial_cash", -5), ("initial_cash", 0), ("slippage_bps", -1), ("slippage_bps", 1e9)],
)
def test_backtest_settings_out_of_range_are_a_400(trader, field, value):
    body = {"symbol": "ORCL", "kind": "sma_cross", field: value}
    _invalid(trader.post("/api/v1/stock/backtests/", body, format="json"), field)


@pytest.mark.parametrize("value", [10**30, -(10**30), "\uff11"])
def test_ids_out_of_range_or_not_ascii_are_a_400_not_a_database_error(role_client, value):
    response = role_client("user").post(
        "/api/v1/rag/search/", {"query": "x", "knowledge_bases": [value]}, format="json"
    )
    _invalid(response, "knowledge_bases")


# --- One decoding rule: JSON, forms and multipart -------------------------------------------------------------------


def _parse_error(response: Any) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response.json()["error"]["code"] == "parse_error"


def test_invalid_utf8_in_a_form_is_a_400_like_in_json(trader):
    _parse_error(trader.generic("POST", KEYS, b"name=%ff%fe", content_type="application/x-www-form-urlencoded"))
    _parse_error(trader.generic("POST", KEYS, b"name=\xff\xfe", content_type="application/x-www-form-urlencoded"))
    _parse_error(trader.generic("POST", KEYS, b'{"name": "\xff\xfe"}', content_type="application/json"))
    assert not ApiKey.objects.exists()


def test_valid_utf8_in_a_form_is_stored_as_sent(trader):
    response = trader.generic(
        "POST", KEYS, b"name=caf%C3%A9+%E2%9C%93", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 201, response.content
    assert ApiKey.objects.get().name == "café ✓"


def _multipart(name_value: bytes) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'.encode()
        + name_value
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_invalid_utf8_in_a_multipart_text_field_is_a_400(trader):
    body, content_type = _multipart(b"\xff\xfe")
    _parse_error(trader.generic("POST", KEYS, body, content_type=content_type))
    body, content_type = _multipart("naïve".encode())
    assert trader.generic("POST", KEYS, body, content_type=content_type).status_code == 201
    assert ApiKey.objects.get().name == "naïve"


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b'{"name": "a\\u0000b"}', "application/json", "name"),
        (b"name=a%00b", "application/x-www-form-urlencoded", "name"),
        (b'{"name": "\\ud800"}', "application/json", "name"),
        (b'{"name": "x", "\\udfff": 1}', "application/json", "\\udfff"),
        (b'{"name": "x", "scopes": ["ok", "\\u0000"]}', "application/json", "scopes[1]"),
    ],
    ids=["json-nul", "form-nul", "json-lone-surrogate", "json-surrogate-key", "json-nested-nul"],
)
def test_nul_and_lone_surrogates_are_a_400_naming_the_field(trader, body, content_type, field):
    response = trader.generic("POST", KEYS, body, content_type=content_type)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["details"], error
    assert not ApiKey.objects.exists()


def test_nul_in_a_json_document_field_never_reaches_the_database(trader):
    body = {"symbol": "ORCL", "kind": "sma_cross", "params": {"note": "a\u0000b"}}
    response = trader.generic("POST", "/api/v1/stock/backtests/", json.dumps(body), content_type="application/json")
    _invalid(response, "params.note")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_a_400(trader, literal):
    body = b'{"symbol": "ORCL", "kind": "sma_cross", "initial_cash": ' + literal + b"}"
    _parse_error(trader.generic("POST", "/api/v1/stock/backtests/", body, content_type="application/json"))


def test_nesting_ten_thousand_deep_is_a_400(trader):
    body = b'{"name": "x", "scopes": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = trader.generic("POST", KEYS, body, content_type="application/json")
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


# --- Login and access that must keep working ------------------------------------------------------------------------


def test_a_lockout_is_per_user_and_address(api_client, make_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    victim, bystander = make_user(), make_user()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert (
            api_client.post("/api/v1/auth/token/", {"username": victim.username, "password": "no"}).status_code == 401
        )
    fifth = api_client.post("/api/v1/auth/token/", {"username": victim.username, "password": "no"})
    assert fifth.status_code == 429 and fifth.json()["error"]["code"] == "locked_out"
    ok = api_client.post("/api/v1/auth/token/", {"username": bystander.username, "password": "pass-word-123"})
    assert ok.status_code == 200  # same address, another user: unaffected


def test_a_demoted_users_api_key_loses_the_permission_on_the_next_request(make_user, make_api_key):
    owner = make_user(role="manager")
    _key, secret = make_api_key(owner)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert client.get("/api/v1/chat/providers/").status_code == 200
    owner.groups.remove(Group.objects.get(name="manager"))
    owner.groups.add(Group.objects.get(name="user"))
    assert client.get("/api/v1/chat/providers/").status_code == 403
    owner.is_active = False
    owner.save()
    assert client.get("/api/v1/auth/me/").status_code == 401
