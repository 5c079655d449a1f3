"""The load test's locustfile stays in step with the URL conf: its user classes exist, carry tasks and a demo role,
and every path they request resolves to a view accepting that method. No load is generated here.

Importing locust monkey-patches the standard library (gevent), so the locustfile is imported in a child process that
describes it as JSON; the paths are resolved here against the project's URL conf."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")

DESCRIBE = """
import importlib.util, inspect, json, sys
sys.dont_write_bytecode = True
from locust import User
spec = importlib.util.spec_from_file_location("locustfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
users = {}
for name, cls in vars(module).items():
    if inspect.isclass(cls) and issubclass(cls, User) and cls.__module__ == module.__name__ and not cls.abstract:
        tasks = [t.__name__ for t in cls.tasks]
        users[name] = {"role": getattr(cls, "role", None), "weight": cls.weight, "tasks": tasks}
constants = sorted(v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and v.startswith("/"))
print(json.dumps({"users": users, "paths": module.PATHS, "constants": constants}))
"""


@pytest.fixture(scope="module")
def locustfile() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", DESCRIBE, str(LOCUSTFILE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_user_classes_per_role(locustfile):
    users = locustfile["users"]
    assert {"GuestBrowser", "SalesClerk", "Researcher", "Manager"} <= set(users)
    for name, user in users.items():
        assert user["role"] in {"admin", "manager", "user", "guest"}, name
        assert user["tasks"], f"{name} has no tasks"
        assert user["weight"] >= 1, name
    assert {user["role"] for user in users.values()} >= {"guest", "user", "manager"}


def test_every_requested_path_is_listed(locustfile):
    listed = {path for paths in locustfile["paths"].values() for path in paths}
    assert set(locustfile["constants"]) <= listed


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paths_resolve_to_views_accepting_the_method(locustfile, method):
    problems = []
    for path in locustfile["paths"].get(method, []):
        try:
            match = resolve(path)
        except Resolver404:
            problems.append(f"{method} {path}: no such URL")
            continue
        actions = getattr(match.func, "actions", None)
        view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
        if actions:
            accepted = method.lower() in actions
        else:
            accepted = view_class is not None and hasattr(view_class, method.lower())
        if not accepted:
            problems.append(f"{method} {path}: {match.view_name} does not accept {method}")
    assert not problems, problems
    assert locustfile["paths"].get(method)
