"""The architecture stays as drawn in the README: the import-linter contracts of pyproject.toml hold (layers, the
independence of the domain systems, no tests imported by the apps, no cycles between the parts of an app), no two
modules of an app import each other directly or through others (a function-level import counts), and a service queues
its app's task by name instead of importing the tasks module."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest
from celery import current_app
from django.conf import settings

from apps.core.queueing import enqueue_on_commit, registered_task
from apps.rag.tasks import ingest_document

APPS = ("core", "resources", "chat", "rag", "erp", "stock", "trend", "content", "agents", "learning")

# Cycles that remain in modules being reworked elsewhere; each is removed from here when its cycle ends (the test
# fails on an entry that no longer matches, so the list only shrinks).
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_cycles(graph: grimp.ImportGraph, package: str) -> list[frozenset[str]]:
    """The strongly connected components (two modules or more) of the imports between the modules of ``package``:
    each is a set of modules that import one another, directly or through other modules of the package."""
    modules = sorted({package, *graph.find_descendants(package)})
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative (deep packages do not hit the recursion limit)
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def _cycle_text(graph: grimp.ImportGraph, cycle: Iterable[str]) -> str:
    members = set(cycle)
    lines = []
    for importer in sorted(members):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer}:{detail['line_number']}  {detail['line_contents']}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def apps_graph() -> grimp.ImportGraph:
    return grimp.build_graph("apps", cache_dir=None)


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("app", APPS)
def test_no_import_cycle_inside_an_app(apps_graph: grimp.ImportGraph, app: str) -> None:
    cycles = [c for c in module_cycles(apps_graph, f"apps.{app}") if c not in KNOWN_CYCLES]
    assert not cycles, "Modules that import each other:\n" + "\n\n".join(_cycle_text(apps_graph, c) for c in cycles)


def test_known_cycles_still_exist(apps_graph: grimp.ImportGraph) -> None:
    """An entry of KNOWN_CYCLES whose cycle has ended is to be deleted, so that the cycle cannot come back unseen."""
    present = {c for app in APPS for c in module_cycles(apps_graph, f"apps.{app}")}
    assert KNOWN_CYCLES <= present, f"No longer cycles, remove from KNOWN_CYCLES: {KNOWN_CYCLES - present}"


def test_cycle_detection_sees_function_level_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text("VALUE = 1\n")
    (package / "services.py").write_text("from .base import VALUE\n\n\ndef run():\n    from .tasks import job\n")
    (package / "tasks.py").write_text(textwrap.dedent("from . import services\n\n\ndef job():\n    services.run()\n"))
    (package / "leaf.py").write_text("from .services import run\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    graph = grimp.build_graph("cyclepkg", cache_dir=None)

    assert module_cycles(graph, "cyclepkg") == [frozenset({"cyclepkg.services", "cyclepkg.tasks"})]
    assert "cyclepkg.services:5  from .tasks import job" in _cycle_text(graph, {"cyclepkg.services", "cyclepkg.tasks"})


def test_cycle_detection_finds_longer_cycles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "ringpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("from . import c\n")
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    graph = grimp.build_graph("ringpkg", cache_dir=None)

    assert module_cycles(graph, "ringpkg") == [frozenset({"ringpkg.a", "ringpkg.b", "ringpkg.c"})]


def test_a_task_is_found_by_its_registered_name() -> None:
    task = registered_task("rag.ingest_document")

    assert task.name == ingest_document.name == "rag.ingest_document"
    assert task.run is ingest_document.run
    assert registered_task("stock.match_orders").name == "stock.match_orders"
    with pytest.raises(KeyError):
        registered_task("rag.no_such_task")


@pytest.mark.django_db
def test_a_task_queued_by_name_runs_after_the_commit(django_capture_on_commit_callbacks) -> None:
    calls: list[tuple[int, str]] = []

    @current_app.task(name="tests.architecture_probe")
    def probe(number: int, *, word: str) -> None:
        calls.append((number, word))

    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            enqueue_on_commit("tests.architecture_probe", 7, word="seven")
            assert calls == []
        assert len(callbacks) == 1
        callbacks[0]()
        assert calls == [(7, "seven")]
    finally:
        current_app.tasks.unregister("tests.architecture_probe")
