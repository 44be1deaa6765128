"""`portal bench` says a scratch server it cannot use in one line; a bug in the benchmark
(a constraint the benchmark's own data breaks) is not that, and must not be said as "give
a server and role that may create databases" (nor as the scratch SQLite database being
unusable): it is the "unexpected …; report it" line, with --verbose's traceback."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from portal.cli import main as cli

from databases import POSTGRES_URL, require_postgres


def _raises(error):
    def run(**_kwargs):
        raise error

    return run


@pytest.mark.parametrize(
    ("backend", "orig"),
    [
        (
            "postgresql",
            psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"),
        ),
        ("sqlite", sqlite3.IntegrityError("UNIQUE constraint failed: audit_entry.seq")),
    ],
)
def test_a_bug_in_the_benchmark_is_not_said_as_a_server_to_change(
    capsys, monkeypatch, backend, orig
):
    if backend == "postgresql":
        require_postgres()
    monkeypatch.setattr(
        "portal.bench.audit.run", _raises(IntegrityError("INSERT INTO audit_entry …", {}, orig))
    )
    status = cli.main(["bench", "audit", "--backend", backend, "--postgres-url", POSTGRES_URL])
    err = capsys.readouterr().err
    assert status == 3
    assert "create databases" not in err and "cannot use the benchmark's scratch" not in err, err
    assert "unexpected" in err and "report it" in err and "portal-demo.db" not in err


@pytest.mark.parametrize("prefix", ['i15"drop', "../../etc/x", "Upper", ""])
def test_a_scratch_prefix_that_is_no_plain_name_is_refused(capsys, prefix):
    # Before: a quote broke PostgreSQL's CREATE DATABASE ("unexpected SyntaxError … report
    # it"), and '../' made the SQLite scratch file outside the scratch folder.
    with pytest.raises(SystemExit) as refused:
        cli.main(["bench", "audit", "--backend", "sqlite", "--scratch-prefix", prefix])
    assert refused.value.code == 2
    assert "argument --scratch-prefix" in capsys.readouterr().err
