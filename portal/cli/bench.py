"""`portal bench disclosure|workflow` (audit's is in cli/audit.py): scratch databases only."""

from __future__ import annotations

import argparse
import os

from portal.cli.errors import OK
from portal.cli.parsing import command, group

SCRATCH = " (never the node's database: each run makes and drops scratch databases)"


def add_commands(commands):
    """Returns the `portal bench` group, to which other areas add their own benchmark."""
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
        "--postgres-url",
        default=os.environ.get(
            "PORTAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="server to create (and drop) the scratch database on (PORTAL_BENCH_POSTGRES_URL)",
    )

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
    workflow.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PORTAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
        ),
        help="server to create (and drop) the scratch database on; '' to skip PostgreSQL",
    )
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

    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    disclosure.run(
        backends=backends,
        cases_n=args.cases,
        agencies_n=args.agencies,
        audit_n=args.audit_entries,
        runs=args.runs,
        postgres_url=args.postgres_url,
    )
    return OK


def cmd_bench_workflow(args: argparse.Namespace) -> int:
    from portal.bench import workflow

    workflow.run(
        sizes=[(args.small_cases, args.small_tasks), (args.cases, args.tasks)],
        postgres_url=args.postgres_url or None,
        repeat=args.repeat,
    )
    return OK
