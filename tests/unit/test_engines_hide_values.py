"""Every engine the project makes over a node's database keeps a refused statement's values
out of its error (`hide_parameters`): an error is logged whole, and a value can be what
staff typed about a survivor. `portal.db.make_engine` sets it; the few engines made
elsewhere are checked here, by reading the source, so that a new one cannot forget it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Engines on no node's data: the server's own database, to make and drop scratch ones.
NO_NODE_DATA = {
    "portal/scratch_db.py",  # CREATE / DROP DATABASE for the benchmarks and tests
    "portal/cli/bench.py",  # asks the server whether it answers, before a benchmark
}


def _engines_made(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "create_engine"
    ]


def _hides(call: ast.Call) -> bool:
    return any(
        k.arg == "hide_parameters" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    ) or any(k.arg is None for k in call.keywords)  # **kwargs: make_engine's own, set first


def test_every_engine_over_a_nodes_database_hides_the_values_of_a_refused_statement():
    unhidden = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for folder in ("portal", "migrations", "ops")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in NO_NODE_DATA
        for call in _engines_made(path)
        if not _hides(call)
    ]
    assert unhidden == []
