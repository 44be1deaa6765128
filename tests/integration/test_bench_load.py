"""The benchmarks' load generator: a server in its own process, kept-alive connections."""

import asyncio
import sqlite3

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from portal.bench import load
from portal.db import make_engine


def _tiny_app(path):
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("synthetic"))])
    app.state.engine = make_engine(f"sqlite:///{path}")  # whose write lock is asked
    return app


def test_the_load_runs_even_where_the_caller_already_runs_an_event_loop(tmp_path):
    """Under the whole suite a loop was already running in the test's thread, and the
    generator's asyncio.run() refused to start."""
    with load.serve_in_process(lambda: _tiny_app(tmp_path / "load.db")) as server:

        async def caller():
            return load.closed_loop(server, {}, "/", label="tiny", connections=2, seconds=0.3)

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # run alone: start a loop, and call from inside it
            run = asyncio.run(caller())
        else:  # under the whole suite the browser tests' loop already runs in this thread
            run = load.closed_loop(server, {}, "/", label="tiny", connections=2, seconds=0.3)
    assert run.latencies and run.errors == 0 and run.lock_waited == 0
    assert run.throughput > 0 and run.p50_ms <= run.p99_ms


def test_each_run_says_how_many_requests_each_worker_answered(tmp_path):
    with load.serve_in_process(lambda: _tiny_app(tmp_path / "load.db"), workers=2) as server:
        run = load.closed_loop(server, {}, "/", label="tiny", connections=8, seconds=0.3)
        again = load.closed_loop(server, {}, "/", label="tiny", connections=3, seconds=0.3)
    assert len(run.per_worker) == 2 and sum(run.per_worker) == len(run.latencies) + run.errors
    # counted afresh for each run
    assert sum(again.per_worker) == len(again.latencies) + again.errors


def test_no_server_is_forked_while_this_process_holds_the_sqlite_file_open(tmp_path):
    """A forked server takes SQLite's record of its parent's locks for its own: a connection
    the parent left open meanwhile can corrupt the file (SQLite's "do not carry an open
    connection across a fork"). Refused, saying what to do; served once it is closed."""
    path = tmp_path / "held.db"
    url = f"sqlite:///{path}"
    held = sqlite3.connect(path)
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("CREATE TABLE synthetic (x)")
    try:
        assert set(load.sqlite_files_held(url)) >= {str(path.resolve())}
        with (
            pytest.raises(RuntimeError, match=r"holds .*held\.db.* open.*dispose of every engine"),
            load.serve_in_process(lambda: _tiny_app(path), database_url=url),
        ):
            pass
    finally:
        held.close()
    assert load.sqlite_files_held(url) == []
    with load.serve_in_process(lambda: _tiny_app(path), database_url=url) as server:
        run = load.closed_loop(server, {}, "/", label="tiny", connections=1, seconds=0.2)
    assert run.latencies and run.errors == 0
