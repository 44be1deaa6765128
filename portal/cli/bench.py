"""`portal bench disclosure|audit|workflow`: scratch databases only."""

from __future__ import annotations

import argparse
import os

from portal.cli.errors import OK
from portal.cli.parsing import command, group

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
        default=prefix,
        help="how the scratch databases' names begin (each gets a random suffix)",
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
    disclosure.add_argument("--cases", type=int, default=10_000, help="MDT cases generated")
    disclosure.add_argument("--agencies", type=int, default=30, help="agencies generated")
    disclosure.add_argument(
        "--audit-entries", type=int, default=100_000, help="audit entries generated"
    )
    disclosure.add_argument("--runs", type=int, default=50, help="measured runs")
    disclosure.add_argument(
        "--connections",
        default="1,8,32",
        help="concurrency run: numbers of connections, comma-separated ('' to skip)",
    )
    disclosure.add_argument(
        "--seconds", type=float, default=4.0, help="concurrency run: seconds per level and round"
    )
    disclosure.add_argument("--rounds", type=int, default=3, help="concurrency run: rounds")
    disclosure.add_argument(
        "--users", type=int, default=50, help="mixed users (pages and writes); 0 to skip"
    )
    disclosure.add_argument(
        "--users-seconds", type=float, default=60.0, help="how long the mixed users run"
    )
    disclosure.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes (portal serve --workers); default: as served in production "
        "on this two-core machine (SQLite 1, PostgreSQL 2; ops/README.md)",
    )
    disclosure.add_argument(
        "--request-threads",
        type=int,
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
        "--existing", type=int, default=100_000, help="entries in the log before timing"
    )
    audit.add_argument("--appends", type=int, default=2_000, help="appends timed per figure")
    audit.add_argument("--writers", type=int, default=4, help="concurrent writers")
    _scratch_options(audit, "portal_bench_audit")

    workflow = command(
        bench,
        "workflow",
        "coordinator dashboard and my tasks at scale" + SCRATCH,
        uses=None,
        run=cmd_bench_workflow,
    )
    workflow.add_argument("--cases", type=int, default=100_000, help="cases at the large size")
    workflow.add_argument("--tasks", type=int, default=500_000, help="tasks at the large size")
    workflow.add_argument("--small-cases", type=int, default=1_000, help="cases at the small size")
    workflow.add_argument("--small-tasks", type=int, default=5_000, help="tasks at the small size")
    workflow.add_argument(
        "--repeat", type=int, default=200, help="measured runs per page, after warm-up runs"
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
    federation.add_argument("--runs", type=int, default=50, help="measured page loads each")
    federation.add_argument("--warmup", type=int, default=5, help="page loads not measured")
    return bench


def cmd_bench_federation(args: argparse.Namespace) -> int:
    from portal.bench import federation

    federation.run(runs=args.runs, warmup=args.warmup)
    return OK


def cmd_bench_disclosure(args: argparse.Namespace) -> int:
    from portal.bench import disclosure

    disclosure.run(
        backends=_backends(args),
        cases_n=args.cases,
        agencies_n=args.agencies,
        audit_n=args.audit_entries,
        runs=args.runs,
        postgres_url=args.postgres_url,
        prefix=args.scratch_prefix,
        levels=tuple(int(n) for n in args.connections.split(",") if n.strip()),
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

    audit.run(
        backends=_backends(args),
        existing=args.existing,
        appends=args.appends,
        writers=args.writers,
        postgres_url=args.postgres_url,
        prefix=args.scratch_prefix,
    )
    return OK


def _backends(args: argparse.Namespace) -> tuple[str, ...]:
    return ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)


def cmd_bench_workflow(args: argparse.Namespace) -> int:
    from portal.bench import workflow

    workflow.run(
        sizes=[(args.small_cases, args.small_tasks), (args.cases, args.tasks)],
        postgres_url=args.postgres_url or None,
        repeat=args.repeat,
        prefix=args.scratch_prefix,
    )
    return OK
