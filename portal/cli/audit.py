"""`portal audit verify|checkpoint` and `portal bench audit`: the audit log's commands."""

from __future__ import annotations

import argparse

from sqlmodel import Session, select

from portal.cli.database import chosen, node_settings, open_engine
from portal.cli.errors import NEGATIVE, OK
from portal.cli.parsing import command, group
from portal.cli.setup import find_agency
from portal.db import unit_of_work


def add_commands(commands, bench) -> None:
    """`bench` is the shared `portal bench` group: each area adds its own benchmark."""
    audit = group(commands, "audit", "the hash-chained audit log", dest="audit_command")
    verify = command(
        audit,
        "verify",
        "walk every log (or one agency's) and report the first break",
        description="Walk every log (or one agency's) and print one line per log: OK, or "
        "the first thing that does not hold. Exit status 1 when any log is broken.",
        run=cmd_verify,
    )
    verify.add_argument(
        "agency", nargs="?", help="agency name or public id ('node': the node's own log)"
    )
    checkpoint = command(
        audit,
        "checkpoint",
        "sign a checkpoint of every agency's log (or one agency's) now",
        run=cmd_checkpoint,
    )
    checkpoint.add_argument("agency", nargs="?", help="agency name or public id")

    audit_bench = command(
        bench,
        "audit",
        "audit appends per second on scratch SQLite and PostgreSQL databases",
        uses=None,
        run=cmd_bench_audit,
    )
    audit_bench.add_argument(
        "--existing", type=int, default=100_000, help="entries in the log before timing"
    )
    audit_bench.add_argument("--appends", type=int, default=2_000, help="appends timed")
    audit_bench.add_argument("--writers", type=int, default=4, help="concurrent writers")
    audit_bench.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where the bench may create and drop a scratch database ('' to skip)",
    )


def cmd_verify(args: argparse.Namespace) -> int:
    from portal.audit import verify
    from portal.models import NODE_LOG

    engine = open_engine(chosen())
    with Session(engine) as db:
        # Read in short transactions: a long walk must not shut writers out (SQLite).
        pause = db.rollback
        if args.agency is None:
            reports = verify.verify_all(db, pause=pause)
        elif args.agency == NODE_LOG:
            reports = [verify.verify_log(db, NODE_LOG, pause=pause)]
        else:
            agency = find_agency(db, args.agency)
            reports = [verify.verify_log(db, agency.public_id, pause=pause)]
        db.rollback()
    for report in reports:
        print(report.line())
    if not reports:
        print("no audit logs yet")
    return OK if all(r.ok for r in reports) else NEGATIVE


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from portal.audit.checkpoints import CheckpointSigner
    from portal.crypto import KeyWrapper
    from portal.models import Agency
    from portal.services import audit_log

    engine = open_engine(chosen())
    settings = node_settings(engine)
    keys = KeyWrapper(settings.secrets.kek_bytes())
    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        if args.agency is None:
            targets = list(db.exec(select(Agency).order_by(Agency.name)).all())
        else:
            targets = [find_agency(db, args.agency)]
        for agency in targets:
            checkpoint = audit_log.checkpoint_log(
                db, agency, keys=keys, actor=None, at=settings.clock()
            )
            print(f"signed {agency.name} at entry {checkpoint.seq}")
    return OK


def cmd_bench_audit(args: argparse.Namespace) -> int:
    from portal.bench import audit as bench

    return bench.run(
        existing=args.existing,
        appends=args.appends,
        writers=args.writers,
        postgres_url=args.postgres_url,
    )
