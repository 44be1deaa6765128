"""`portal audit verify|checkpoint` and `portal bench audit`: the audit log's commands."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import Session, or_, select

from portal.db import make_engine, unit_of_work
from portal.settings import from_environment


def add_commands(commands, bench) -> None:
    """`bench` is the shared `portal bench` group: each area adds its own benchmark."""
    audit = commands.add_parser("audit", help="the hash-chained audit log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify", help="walk every log (or one agency's) and report the first break"
    )
    verify.add_argument("agency", nargs="?", help="agency name or public id ('node': node log)")
    verify.set_defaults(run=cmd_verify)
    checkpoint = audit.add_parser(
        "checkpoint", help="sign a checkpoint of every agency's log (or one agency's) now"
    )
    checkpoint.add_argument("agency", nargs="?", help="agency name or public id")
    checkpoint.set_defaults(run=cmd_checkpoint)

    audit_bench = bench.add_parser(
        "audit", help="audit appends per second on scratch SQLite and PostgreSQL databases"
    )
    audit_bench.add_argument("--existing", type=int, default=100_000)
    audit_bench.add_argument("--appends", type=int, default=2_000)
    audit_bench.add_argument("--writers", type=int, default=4)
    audit_bench.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where the bench may create and drop a scratch database ('' to skip)",
    )
    audit_bench.set_defaults(run=cmd_bench_audit)


def _agency(db: Session, name_or_id: str):
    from portal.models import Agency

    return db.exec(
        select(Agency).where(or_(Agency.name == name_or_id, Agency.public_id == name_or_id))
    ).first()


def cmd_verify(args: argparse.Namespace) -> int:
    from portal.audit import verify
    from portal.models import NODE_LOG

    engine = make_engine(from_environment().database_url)
    with Session(engine) as db:
        # Read in short transactions: a long walk must not shut writers out (SQLite).
        pause = db.rollback
        if args.agency is None:
            reports = verify.verify_all(db, pause=pause)
        elif args.agency == NODE_LOG:
            reports = [verify.verify_log(db, NODE_LOG, pause=pause)]
        else:
            agency = _agency(db, args.agency)
            if agency is None:
                print(f"error: no agency named {args.agency!r}", file=sys.stderr)
                return 2
            reports = [verify.verify_log(db, agency.public_id, pause=pause)]
        db.rollback()
    for report in reports:
        print(report.line())
    if not reports:
        print("no audit logs yet")
    return 0 if all(r.ok for r in reports) else 1


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from portal.audit.checkpoints import CheckpointSigner
    from portal.crypto import KeyWrapper
    from portal.models import Agency
    from portal.services import audit_log

    settings = from_environment()
    keys = KeyWrapper(settings.secrets.kek_bytes())
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        if args.agency is None:
            targets = list(db.exec(select(Agency).order_by(Agency.name)).all())
        else:
            agency = _agency(db, args.agency)
            if agency is None:
                print(f"error: no agency named {args.agency!r}", file=sys.stderr)
                return 2
            targets = [agency]
        for agency in targets:
            checkpoint = audit_log.checkpoint_log(
                db, agency, keys=keys, actor=None, at=settings.clock()
            )
            print(f"signed {agency.name} at entry {checkpoint.seq}")
    return 0


def cmd_bench_audit(args: argparse.Namespace) -> int:
    from portal.bench import audit as bench

    return bench.run(
        existing=args.existing,
        appends=args.appends,
        writers=args.writers,
        postgres_url=args.postgres_url,
    )
