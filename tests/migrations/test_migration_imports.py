"""Migrations import nothing from the portal (STYLE.md: a migration is the schema as it
was, not as the models are now). They are not a package, so import-linter cannot see
them: their import statements are read here."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.resources import MIGRATIONS_DIR


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_migrations_import_nothing_from_the_portal():
    files = sorted(MIGRATIONS_DIR.rglob("*.py"))
    assert len(files) > 10  # env.py and every revision
    for path in files:
        for name in imported_names(path):
            assert name.split(".")[0] not in {"portal", "consent", ""}, (path.name, name)


def test_the_reader_sees_every_spelling_of_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, portal.models as m\nfrom portal import db\nfrom . import x\n"
        "def f():\n    from consent import canonical\n"
    )
    assert imported_names(sample) == {"os", "portal.models", "portal", ".", "consent"}
