"""`portal audit verify|checkpoint` and `portal bench audit`: the audit log's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a signed checkpoint kept elsewhere (the lead's download, or journal lines): "
        "check that the log still holds what it signed",
    )
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
    from portal.audit import journal, verify
    from portal.models import NODE_LOG

    settings = from_environment()
    if args.checkpoint is not None:
        return _verify_against_file(settings, args.checkpoint)
    engine = make_engine(settings.database_url)
    kept = journal.Journal(settings.audit_journal) if settings.audit_journal else None
    lines, unreadable = kept.read() if kept is not None else ([], [])
    with Session(engine) as db:
        # Read in short transactions: a long walk must not shut writers out (SQLite).
        pause = db.rollback
        if args.agency is None:
            reports = verify.verify_all(db, pause=pause)
            findings = journal.cross_check(db, lines)
        elif args.agency == NODE_LOG:
            reports, findings = [verify.verify_log(db, NODE_LOG, pause=pause)], []
        else:
            agency = _agency(db, args.agency)
            if agency is None:
                print(f"error: no agency named {args.agency!r}", file=sys.stderr)
                return 2
            reports = [verify.verify_log(db, agency.public_id, pause=pause)]
            findings = journal.cross_check(
                db, [line for line in lines if line["log"] == agency.public_id]
            )
            findings = [f for f in findings if f.log_key == agency.public_id]
        db.rollback()
    broken = {f.log_key for f in findings}
    for report in reports:
        if report.log_key not in broken or not report.ok:
            print(report.line())
    for finding in findings:
        print(finding.line())
    for problem in unreadable:
        print(f"BROKEN journal {kept.path}: {problem}")
    if not reports and not findings:
        print("no audit logs yet")
    return 0 if all(r.ok for r in reports) and not findings and not unreadable else 1


def _verify_against_file(settings, path: str) -> int:
    """The log against signed checkpoints kept outside the database (one JSON document or
    journal lines)."""
    from portal.audit import journal, verify
    from portal.models import Agency

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as problem:
        print(f"error: cannot read {path}: {problem.strerror}", file=sys.stderr)
        return 2
    try:
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" not in stripped:
            lines = [json.loads(stripped)]
        else:
            lines = [json.loads(raw) for raw in stripped.splitlines() if raw.strip()]
        for line in lines:
            journal.check_shape(line)
    except (ValueError, TypeError):
        print(f"error: {path} is not a signed audit checkpoint", file=sys.stderr)
        return 2
    if not lines:
        print(f"error: {path} holds no checkpoint", file=sys.stderr)
        return 2
    failed = False
    with Session(make_engine(settings.database_url)) as db:
        for line in lines:
            agency = db.exec(select(Agency).where(Agency.public_id == line["log"])).first()
            if agency is None:
                print(f"BROKEN {line['log']}: no agency on this node has this log")
                failed = True
                continue
            report = verify.verify_log(db, agency.public_id, pause=db.rollback)
            problem = (None if report.ok else report.problem) or journal.check_line(
                db, agency, line
            )
            if problem is None:
                print(
                    f"OK {agency.name}: the log holds the checkpoint signed at seq "
                    f"{line['seq']} on {line['at']}"
                )
            else:
                print(f"BROKEN {agency.name}: {problem}")
                failed = True
        db.rollback()
    return 1 if failed else 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from portal.audit.checkpoints import CheckpointSigner
    from portal.audit.journal import Journal
    from portal.crypto import KeyWrapper
    from portal.models import Agency
    from portal.services import audit_log

    settings = from_environment()
    keys = KeyWrapper(settings.secrets.kek_bytes())
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        if settings.audit_journal:
            Journal(settings.audit_journal).attach(db)
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
