"""`portal bench …` as an operator meets it: a wrong option or a benchmark server that does
not answer is one line saying what to do, before anything is built; never a traceback,
and never a message about the node's own database, which benchmarks do not touch."""

from __future__ import annotations

import socket

import pytest

from portal.cli import main as cli

from databases import POSTGRES_URL, require_postgres


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = cli.main(list(argv))
    except SystemExit as exit_:  # argparse refuses an option before any command runs
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["disclosure", "--connections", "1,abc"], "--connections: 'abc' is not a whole number"),
        (["disclosure", "--connections", "1,0"], "--connections: 0 is too few: at least 1"),
        (["disclosure", "--runs", "0"], "--runs: 0 is too few: at least 1"),
        (["disclosure", "--seconds", "nan"], "--seconds: nan seconds: give more than 0"),
        (["audit", "--appends", "-5"], "--appends: -5 is too few: at least 1"),
        (["workflow", "--repeat", "ten"], "--repeat: 'ten' is not a whole number"),
    ],
)
def test_a_wrong_option_is_refused_in_one_line_before_anything_runs(capsys, argv, said):
    """Before, `--connections 1,abc` ran, built its data, and ended in 'unexpected
    ValueError'; `--runs 0` ended in 'unexpected StatisticsError' after building."""
    status, out, err = run(capsys, "bench", *argv)
    assert status == 2
    assert said in err.strip().splitlines()[-1]
    assert "data built" not in out and "Traceback" not in err


def test_a_benchmark_server_that_does_not_answer_is_named_as_such(capsys, monkeypatch):
    """Before, it was said as 'cannot use the SQLite database …/portal-demo.db': the node's
    database, which the benchmark never opens, and after the SQLite figures had run."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    server = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    for command in ("audit", "disclosure", "workflow"):
        status, out, err = run(capsys, "bench", command, "--postgres-url", server)
        (line,) = err.strip().splitlines()
        assert status == 3, err
        assert line.startswith("error: cannot use PostgreSQL at 127.0.0.1:")
        assert "benchmark's scratch databases" in line and "--postgres-url" in line
        assert "portal-demo.db" not in line and "SQLite" not in line
        assert out == ""  # said before any figure


def test_a_role_that_cannot_sign_in_is_said_with_what_to_give_instead(capsys):
    require_postgres()
    server = POSTGRES_URL.replace("postgres@", "no_such_bench_role@", 1)
    status, _out, err = run(capsys, "bench", "audit", "--postgres-url", server)
    (line,) = err.strip().splitlines()
    assert status == 3
    assert 'role "no_such_bench_role" does not exist' in line
    assert "a server and role that may create databases" in line


def test_postgresql_asked_for_without_a_server_is_bad_input(capsys):
    status, _out, err = run(
        capsys, "bench", "disclosure", "--backend", "postgresql", "--postgres-url", ""
    )
    assert status == 2
    assert err.strip() == (
        "error: --backend postgresql needs a server: give --postgres-url "
        "(or PORTAL_BENCH_POSTGRES_URL)"
    )


def test_a_postgres_url_that_is_not_a_url_is_bad_input(capsys):
    status, _out, err = run(capsys, "bench", "audit", "--postgres-url", "not-a-url")
    assert status == 2
    assert "--postgres-url 'not-a-url' is not a database URL" in err
