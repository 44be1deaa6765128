"""`portal audit verify|checkpoint`: the audit log's commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlmodel import Session, select

from portal import untrusted_json
from portal.cli.database import chosen, node_settings, open_engine
from portal.cli.errors import BAD_INPUT, NEGATIVE, OK, REFUSED, CommandError
from portal.cli.parsing import command, group
from portal.cli.setup import find_agency
from portal.db import unit_of_work
from portal.settings import audit_journal_from


def add_commands(commands) -> None:
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
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a signed checkpoint kept elsewhere (the lead's download, or journal lines): "
        "check that the log still holds what it signed",
    )
    checkpoint = command(
        audit,
        "checkpoint",
        "sign a checkpoint of every agency's log (or one agency's) now",
        run=cmd_checkpoint,
    )
    checkpoint.add_argument("agency", nargs="?", help="agency name or public id")


def cmd_verify(args: argparse.Namespace) -> int:
    from portal.audit import journal, verify
    from portal.models import NODE_LOG

    engine = open_engine(chosen())
    if args.checkpoint is not None:
        return _verify_against_file(engine, args.checkpoint)
    kept = journal.Journal(audit_journal_from(os.environ))
    try:
        lines, unreadable = kept.read()
    except journal.JournalError as error:
        raise CommandError(str(error)) from None
    with Session(engine) as db:
        # Read in short transactions: a long walk must not shut writers out (SQLite).
        pause = db.rollback
        if args.agency is None:
            reports = verify.verify_all(db, pause=pause)
            findings = journal.cross_check(db, lines)
        elif args.agency == NODE_LOG:
            reports, findings = [verify.verify_log(db, NODE_LOG, pause=pause)], []
        else:
            agency = find_agency(db, args.agency)
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
    healthy = all(r.ok for r in reports) and not findings and not unreadable
    return OK if healthy else NEGATIVE


def _verify_against_file(engine, path: str) -> int:
    """The log against signed checkpoints kept outside the database (one JSON document or
    journal lines)."""
    from portal.audit import journal, verify
    from portal.models import Agency

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as problem:
        raise CommandError(f"cannot read {path}: {problem.strerror}", BAD_INPUT) from None
    except UnicodeDecodeError:  # not text: no checkpoint either
        raise CommandError(f"{path} is not a signed audit checkpoint", BAD_INPUT) from None
    try:
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" not in stripped:
            lines = [untrusted_json.loads(stripped)]
        else:
            lines = [untrusted_json.loads(raw) for raw in stripped.splitlines() if raw.strip()]
        for line in lines:
            journal.check_shape(line)
    except (ValueError, TypeError):
        raise CommandError(f"{path} is not a signed audit checkpoint", BAD_INPUT) from None
    if not lines:
        raise CommandError(f"{path} holds no checkpoint", BAD_INPUT)
    failed = False
    reports = {}  # each log walked once, however many of its lines the file holds
    with Session(engine) as db:
        for line in lines:
            agency = db.exec(select(Agency).where(Agency.public_id == line["log"])).first()
            if agency is None:
                print(f"BROKEN {line['log']}: no agency on this node has this log")
                failed = True
                continue
            if agency.public_id not in reports:
                reports[agency.public_id] = verify.verify_log(
                    db, agency.public_id, pause=db.rollback
                )
            report = reports[agency.public_id]
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
    return NEGATIVE if failed else OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from nacl.exceptions import CryptoError

    from portal.audit.journal import Journal, JournalError
    from portal.services import audit_log

    engine = open_engine(chosen())
    settings = node_settings(engine)
    keys = settings.key_wrapper()
    kept = Journal(settings.audit_journal) if settings.audit_journal else None
    if kept is not None:
        try:
            kept.check_writable()
        except JournalError as error:
            raise CommandError(str(error)) from None
    with unit_of_work(engine) as db:
        targets = _checkpointed(db, args.agency)
    unopened, broken = [], []
    for agency_id, name in targets:
        # Each log in a transaction of its own, said signed once kept: an agency whose key
        # does not open, or whose log does not verify, stops none of the others.
        try:
            seq = _sign_checkpoint(engine, agency_id, keys=keys, journal=kept, at=settings.clock())
        except CryptoError:
            unopened.append(name)
            continue
        except audit_log.BrokenLog:
            broken.append(name)
            continue
        print(f"signed {name} at entry {seq}")
    if broken:
        raise CommandError(
            f"the log of {', '.join(broken)} does not verify, so no checkpoint of it was "
            "signed (it would vouch for the log as it is now): keep the database as it is and "
            "run `portal audit verify`",
            REFUSED,
        )
    if unopened:
        raise CommandError(
            f"the signing key of {', '.join(unopened)} opens under no key-encryption key this "
            "node is given, so no checkpoint of its log was signed: run `portal keys rewrap`, "
            "which counts such keys and says which KEK to give (PORTAL_KEK_PREVIOUS)"
        )
    return OK


def _checkpointed(db: Session, agency: str | None) -> list[tuple[int, str]]:
    """(id, name) of the agencies whose logs to checkpoint: the one named, or every one
    this node keeps (a roster names agencies elsewhere)."""
    from portal import hosting
    from portal.models import Agency

    if agency is not None:
        found = find_agency(db, agency)
        return [(found.id, found.name)]
    return [
        (found.id, found.name)
        for found in db.exec(select(Agency).order_by(Agency.name)).all()
        if hosting.is_local(db, found)
    ]


def _sign_checkpoint(engine, agency_id: int, *, keys, journal, at) -> int:
    """A checkpoint of the agency's log signed and committed (journaled once committed);
    its seq."""
    from portal.audit.checkpoints import CheckpointSigner
    from portal.models import Agency
    from portal.services import audit_log

    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        if journal is not None:
            journal.attach(db)
        checkpoint = audit_log.checkpoint_log(
            db, db.get(Agency, agency_id), keys=keys, actor=None, at=at
        )
        return checkpoint.seq
