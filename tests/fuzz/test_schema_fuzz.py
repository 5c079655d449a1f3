"""Every operation of the OpenAPI schema, fuzzed with schemathesis as each role and as a scoped API key.

For each operation and caller, schemathesis generates requests from the schema (valid ones and, as many, ones the
schema forbids), with the path parameter mostly an object the caller can see. Each response must:
- not be a server error (5xx);
- conform to the schema: a documented status code, a documented content type, a body matching its schema;
- never accept a write (2xx on POST, PUT, PATCH, DELETE) from a caller that lacks the permission the view declares
  (tests/fuzz/operations.py reads it from the view; the caller's permissions are its role's, narrowed by the key's
  scopes).

Budget and seed: FUZZ_EXAMPLES examples per operation and caller (default 4), FUZZ_SEED (default 0). `make fuzz`.
Not part of `make test` (the `fuzz` marker is deselected by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.operations import WRITE_METHODS, operation_gates, route_key
from tests.fuzz.world import API_KEY_OWNER
from tests.test_project import drf_view_class, is_format_suffix_route, iter_url_patterns, route_methods

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "0"))
CALLERS = ["admin", "manager", "user", "guest", "apikey"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Headers that carry an identity: the caller's own replace whatever the generator put there.
AUTH_HEADERS = ("Authorization", "X-API-Key", "Cookie")
assert API_KEY_OWNER in CALLERS


def _api_operations() -> list[str]:
    """Every documented API route and method, from the URL conf (the schema's own list is checked against it)."""
    from django.urls import get_resolver

    keys = []
    for route, pattern in iter_url_patterns(get_resolver("aistack.urls").url_patterns):
        cls = drf_view_class(pattern.callback)
        if cls is None or is_format_suffix_route(route) or not route.startswith("api/v1/"):
            continue
        methods = [m for m in route_methods(pattern.callback) if m in cls.http_method_names]  # others answer 405
        keys.extend(route_key(method, route) for method in methods)
    return sorted(set(keys))


OPERATIONS = _api_operations()


class _Captured(logging.Handler):
    """Server-side errors logged while a request runs (the traceback behind a 500)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s: %(message)s")
        return "\n".join(formatter.format(r) for r in self.records)


@contextmanager
def _isolated() -> Iterator[_Captured]:
    """One request's world: a savepoint rolled back afterwards, an empty cache, its server errors captured."""
    captured = _Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        with transaction.atomic():
            yield captured
            transaction.set_rollback(True)
    finally:
        root.removeHandler(captured)
        cache.clear()


def test_every_schema_operation_is_fuzzed(fuzz) -> None:
    """The schema served at /api/schema/ documents exactly the API routes of the URL conf, and each has a gate."""
    assert sorted(fuzz.operations) == OPERATIONS
    assert set(OPERATIONS) <= set(operation_gates())
    assert len(OPERATIONS) >= 200


@pytest.mark.parametrize("caller_name", CALLERS)
@pytest.mark.parametrize("key", OPERATIONS)
def test_fuzz_operation(fuzz, key: str, caller_name: str) -> None:
    operation = fuzz.operations[key]
    gate = fuzz.gates[key]
    caller = fuzz.callers[caller_name]
    values = fuzz.values_for(caller_name, operation)
    parameters = [p.name for p in operation.path_parameters]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    picks = st.sampled_from([None, *values]) if values and parameters else st.none()
    may_write = gate.admits(caller.identity)

    @seed(FUZZ_SEED)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=cases, pick=picks)
    def run(case: Any, pick: Any) -> None:
        if pick is not None:
            case.path_parameters = {**(case.path_parameters or {}), parameters[0]: pick}
        if case.headers:
            for name in AUTH_HEADERS:
                case.headers.pop(name, None)
        if case.cookies:  # the session cookie of the cookieAuth scheme: no operation takes other cookies
            case.cookies = {}
        with _isolated() as captured:
            response = case.call(headers=caller.headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=caller.headers)
            if operation.method.upper() in WRITE_METHODS and not may_write:
                assert not 200 <= response.status_code < 300, (
                    f"{key} accepted a write ({response.status_code}) from {caller_name}, who lacks "
                    f"{sorted(gate.permissions - caller.identity.permissions) or sorted(gate.roles or ())}"
                )
        except BaseException as exc:
            if captured.records:
                exc.add_note(f"Server log:\n{captured.text()}")
            raise

    run()
