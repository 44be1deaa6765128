"""`portal bench disclosure|audit|workflow`: scratch databases only."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from portal.cli.errors import BAD_INPUT, OK, CommandError
from portal.cli.parsing import (
    command,
    group,
    scratch_prefix,
    seconds,
    whole_number,
    whole_numbers,
)
from portal.cli.serve import MOST_WORKERS

SCRATCH = " (never the node's database: each run makes and drops scratch databases)"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _scratch_options(parser, prefix: str) -> None:
    """Where the scratch databases are made, the same for every benchmark."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PORTAL_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="server to create (and drop) the scratch database on (PORTAL_BENCH_POSTGRES_URL); "
        "'' to skip PostgreSQL",
    )
    parser.add_argument(
        "--scratch-prefix",
        type=scratch_prefix,
        default=prefix,
        help="how the scratch databases' names begin (each gets a random suffix): lower-case "
        "letters, digits and '_'",
    )


def add_commands(commands):
    bench = group(commands, "bench", "benchmarks on scratch databases", dest="bench_command")
    disclosure = command(
        bench,
        "disclosure",
        "case summary and disclosure point" + SCRATCH,
        uses=None,
        run=cmd_bench_disclosure,
    )
    disclosure.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which databases to measure on",
    )
    disclosure.add_argument(
        "--cases", type=whole_number(1), default=10_000, help="MDT cases generated"
    )
    disclosure.add_argument(
        "--agencies", type=whole_number(1), default=30, help="agencies generated"
    )
    disclosure.add_argument(
        "--audit-entries", type=whole_number(0), default=100_000, help="audit entries generated"
    )
    disclosure.add_argument("--runs", type=whole_number(1), default=50, help="measured runs")
    disclosure.add_argument(
        "--connections",
        type=whole_numbers,
        default="1,8,32",
        help="concurrency run: numbers of connections, comma-separated ('' to skip)",
    )
    disclosure.add_argument(
        "--seconds", type=seconds, default=4.0, help="concurrency run: seconds per level and round"
    )
    disclosure.add_argument(
        "--rounds", type=whole_number(1), default=3, help="concurrency run: rounds"
    )
    disclosure.add_argument(
        "--users",
        type=whole_number(0),
        default=50,
        help="mixed users (pages and writes); 0 to skip",
    )
    disclosure.add_argument(
        "--users-seconds", type=seconds, default=60.0, help="how long the mixed users run"
    )
    disclosure.add_argument(
        "--workers",
        type=whole_number(1, MOST_WORKERS),
        default=None,
        help="server processes (portal serve --workers); default: as served in production "
        "on this two-core machine (2, one per core; ops/README.md)",
    )
    disclosure.add_argument(
        "--request-threads",
        type=whole_number(1),
        default=None,
        help="requests each worker admits at once (PORTAL_REQUEST_THREADS); default: the "
        "setting's default, as served in production",
    )
    _scratch_options(disclosure, "portal_bench")

    audit = command(
        bench,
        "audit",
        "audit appends per second beside the raw driver's floor" + SCRATCH,
        uses=None,
        run=cmd_bench_audit,
    )
    audit.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which databases to measure on",
    )
    audit.add_argument(
        "--existing", type=whole_number(0), default=100_000, help="entries in the log before timing"
    )
    audit.add_argument(
        "--appends", type=whole_number(1), default=2_000, help="appends timed per figure"
    )
    audit.add_argument("--writers", type=whole_number(1), default=4, help="concurrent writers")
    audit.add_argument(
        "--process-seconds",
        type=seconds,
        default=4.0,
        help="how long two processes write at once (as two workers do)",
    )
    _scratch_options(audit, "portal_bench_audit")

    workflow = command(
        bench,
        "workflow",
        "coordinator dashboard and my tasks at scale" + SCRATCH,
        uses=None,
        run=cmd_bench_workflow,
    )
    workflow.add_argument(
        "--cases", type=whole_number(1), default=100_000, help="cases at the large size"
    )
    workflow.add_argument(
        "--tasks", type=whole_number(0), default=500_000, help="tasks at the large size"
    )
    workflow.add_argument(
        "--small-cases", type=whole_number(1), default=1_000, help="cases at the small size"
    )
    workflow.add_argument(
        "--small-tasks", type=whole_number(0), default=5_000, help="tasks at the small size"
    )
    workflow.add_argument(
        "--repeat",
        type=whole_number(1),
        default=200,
        help="measured runs per page, after warm-up runs",
    )
    _scratch_options(workflow, "portal_bench_workflow")
    federation = command(
        bench,
        "federation",
        "case summary with 6 owners on 3 nodes over loopback, against one node; signature "
        "checks per second" + SCRATCH,
        uses=None,
        run=cmd_bench_federation,
    )
    federation.add_argument(
        "--runs", type=whole_number(1), default=50, help="measured page loads each"
    )
    federation.add_argument(
        "--warmup", type=whole_number(0), default=5, help="page loads not measured"
    )
    return bench


def cmd_bench_federation(args: argparse.Namespace) -> int:
    from portal.bench import federation

    federation.run(runs=args.runs, warmup=args.warmup)
    return OK


def cmd_bench_disclosure(args: argparse.Namespace) -> int:
    from portal.bench import disclosure

    backends = _backends(args)
    with _scratch_errors(args):
        disclosure.run(
            backends=backends,
            cases_n=args.cases,
            agencies_n=args.agencies,
            audit_n=args.audit_entries,
            runs=args.runs,
            postgres_url=args.postgres_url,
            prefix=args.scratch_prefix,
            levels=args.connections,
            seconds=args.seconds,
            rounds=args.rounds,
            users=args.users,
            users_seconds=args.users_seconds,
            workers=args.workers,
            request_threads=args.request_threads,
        )
    return OK


def cmd_bench_audit(args: argparse.Namespace) -> int:
    from portal.bench import audit

    backends = _backends(args)
    with _scratch_errors(args):
        audit.run(
            backends=backends,
            existing=args.existing,
            appends=args.appends,
            writers=args.writers,
            process_seconds=args.process_seconds,
            postgres_url=args.postgres_url,
            prefix=args.scratch_prefix,
        )
    return OK


def _backends(args: argparse.Namespace) -> tuple[str, ...]:
    """The databases to measure on; PostgreSQL's server checked first, so that a server
    that does not answer is said before minutes of SQLite figures, not after them."""
    wanted = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if "postgresql" not in wanted:
        return wanted
    if not args.postgres_url:
        if args.backend == "postgresql":
            raise CommandError(
                "--backend postgresql needs a server: give --postgres-url "
                "(or PORTAL_BENCH_POSTGRES_URL)",
                BAD_INPUT,
            )
        print("PostgreSQL: skipped (--postgres-url is empty)")
        return ("sqlite",)
    _check_server(args.postgres_url)
    return wanted


def _check_server(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from portal.db import normalise_url

    try:
        engine = create_engine(normalise_url(postgres_url), connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except ArgumentError:
        raise CommandError(
            f"--postgres-url {postgres_url!r} is not a database URL "
            "(postgresql://USER@HOST:PORT/DATABASE)",
            BAD_INPUT,
        ) from None
    except DBAPIError as error:
        raise scratch_server_problem(error, postgres_url) from None


def scratch_server_problem(error, postgres_url: str) -> CommandError:
    """One line for the benchmark's PostgreSQL server failing (never the node's database,
    which benchmarks do not use)."""
    from sqlalchemy.engine import make_url

    from portal.cli.database import driver_reason

    reason = driver_reason(error)
    try:
        url = make_url(postgres_url)
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
    except Exception:
        where = "the server given"
    unreachable = "refused" in reason or "timeout" in reason.lower()
    fix = "is it running there? Or give" if unreachable else "give a server and role that may"
    return CommandError(
        f"cannot use PostgreSQL at {where} for the benchmark's scratch databases ({reason}); "
        f"{fix} {'one' if unreachable else 'create databases'} with --postgres-url "
        "(PORTAL_BENCH_POSTGRES_URL), or '' to skip PostgreSQL"
    )


@contextmanager
def _scratch_errors(args: argparse.Namespace) -> Iterator[None]:
    """A scratch database failing mid-run: said as the benchmark's problem, in one line."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import DBAPIError

    def the_servers(error) -> bool:
        # The server, the connection or the role: not a bug in the benchmark (a constraint,
        # a syntax error), which is said as unexpected, with --verbose's traceback.
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        return getattr(error, "sqlstate", None) == "42501"  # may not create databases

    try:
        yield
    except psycopg.Error as error:  # the benchmark's own connections (row-lock sampling)
        if not the_servers(error):
            raise
        raise scratch_server_problem(error, args.postgres_url) from None
    except DBAPIError as error:
        if isinstance(error.orig, psycopg.Error) and the_servers(error.orig):
            raise scratch_server_problem(error, args.postgres_url) from None
        if not isinstance(error.orig, sqlite3.OperationalError):
            # `portal`'s DBAPIError line names the node's database, never used here.
            raise error.orig from error
        from portal.cli.database import driver_reason

        raise CommandError(
            f"cannot use the benchmark's scratch SQLite database ({driver_reason(error)})"
        ) from None


def cmd_bench_workflow(args: argparse.Namespace) -> int:
    from portal.bench import workflow

    if args.postgres_url:
        _check_server(args.postgres_url)
    with _scratch_errors(args):
        workflow.run(
            sizes=[(args.small_cases, args.small_tasks), (args.cases, args.tasks)],
            postgres_url=args.postgres_url or None,
            repeat=args.repeat,
            prefix=args.scratch_prefix,
        )
    return OK
