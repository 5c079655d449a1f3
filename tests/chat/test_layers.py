"""Chat sits below the knowledge base: it never imports it, and the knowledge base imports chat at module level
(no function-level import dodging a cycle)."""

import ast
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level) of every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


@pytest.mark.parametrize("path", sorted(APPS.glob("chat/**/*.py")), ids=lambda p: str(p.relative_to(APPS)))
def test_chat_does_not_import_the_knowledge_base(path):
    assert [m for m, _ in _imports(path) if m == "apps.rag" or m.startswith("apps.rag.")] == []


@pytest.mark.parametrize("path", sorted(APPS.glob("rag/**/*.py")), ids=lambda p: str(p.relative_to(APPS)))
def test_the_knowledge_base_imports_chat_at_module_level(path):
    assert [m for m, top in _imports(path) if m.startswith("apps.chat") and not top] == []
