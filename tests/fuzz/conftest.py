"""The fuzzing session: the schema as the application serves it, the data, the callers and the object ids they see.

Requests go in-process through Django's WSGI handler (the whole middleware stack, as a server would run it) into
the PostgreSQL test database. The data is built once per run; every generated request then runs in a savepoint
that is rolled back, so each example sees the same database and a run is repeatable with its seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from werkzeug.test import Client

from tests.fuzz.operations import Gate, operation_gates, schema_key, view_models
from tests.fuzz.world import Caller, decode_json, harvest_ids, loopback_only, world_build

SCHEMA_URL = "/api/schema/"
# Path parameters that are not object ids, and the field of the list response that gives their values.
PATH_PARAMETER_FIELDS = {"name": "name"}
IDS_PER_CALLER = 5  # object ids tried per path: the first ones each caller's list shows, and a few it does not


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fuzzing runs only when asked for by marker (``-m fuzz``, as `make fuzz` does): pyproject's addopts
    deselect it, and so does this when another ``-m`` replaces those (``make test PYTEST_ARGS='-m "not redis"'``)."""
    if "fuzz" in (config.getoption("markexpr") or "").replace("not fuzz", ""):
        return
    kept = [item for item in items if item.get_closest_marker("fuzz") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("fuzz") is not None])
        items[:] = kept


@dataclass
class Fuzz:
    app: WSGIHandler
    schema: Any
    callers: dict[str, Caller]
    gates: dict[str, Gate]
    operations: dict[str, Any] = field(default_factory=dict)  # schema_key -> schemathesis APIOperation
    path_values: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (caller, path) -> values

    def values_for(self, caller: str, operation: Any) -> list[Any]:
        return self.path_values.get((caller, operation.path), [])


def _collection_path(path: str) -> str:
    """``/api/v1/chat/conversations/`` for ``/api/v1/chat/conversations/{id}/messages/``."""
    return path[: path.index("{")]


def _path_values(fuzz: Fuzz, client: Client, models: dict[str, Any]) -> None:
    """For every path with a parameter, per caller: the values its collection lists to that caller, then a few
    of every object of the view's model (so refusals are tried on real objects too)."""
    listed: dict[tuple[str, str], list[Any]] = {}
    for key, operation in fuzz.operations.items():
        if "{" not in operation.path or operation.path in {p for _, p in fuzz.path_values}:
            continue
        (parameter,) = [p.name for p in operation.path_parameters]
        collection = _collection_path(operation.path)
        model = models.get(key)
        fallback: list[Any] = []
        if model is not None and parameter not in PATH_PARAMETER_FIELDS:
            pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
            fallback = [*pks[:2], *pks[-2:]]
        for name, caller in fuzz.callers.items():
            if (name, collection) not in listed:
                response = client.get(f"{collection}?page_size=200", headers=caller.headers)
                body = decode_json(response.get_data()) if response.status_code == 200 else None
                listed[(name, collection)] = harvest_ids(body, PATH_PARAMETER_FIELDS.get(parameter, "id"))
            values = [*listed[(name, collection)][:IDS_PER_CALLER], *fallback]
            fuzz.path_values[(name, operation.path)] = list(dict.fromkeys(values))


@pytest.fixture(scope="session")
def fuzz(django_db_setup: None, django_db_blocker: Any) -> Iterator[Fuzz]:
    # As Django's test client does: a request must not close the test's database connection when it finishes.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with django_db_blocker.unblock(), loopback_only():
            app = WSGIHandler()
            callers = world_build()
            schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, app)
            fuzz = Fuzz(app=app, schema=schema, callers=callers, gates=operation_gates())
            for result in schema.get_all_operations():
                operation = result.ok()
                fuzz.operations[schema_key(operation.method, operation.path)] = operation
            _path_values(fuzz, Client(app), view_models())
            cache.clear()
            yield fuzz
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
