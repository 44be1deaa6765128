"""The write-once journal: every signed checkpoint, also kept outside the database.

A signed head is only as good as the witnesses who keep it (Certificate Transparency's
lesson). Whoever can write the database can recompute a log's hashes, move its head and
delete its checkpoints, and the database alone still verifies. So each checkpoint is also
appended, once its transaction has committed, to a file the database writer cannot reach
(its path a setting): one JSON line per checkpoint, fsynced, never rewritten.

A line is the checkpoint's signed body (RFC 8785 canonical JSON of `document`, `log` —
the agency's public id —, `seq`, `entry_hash` — the log's head hash at `seq` — and `at`)
plus `key_id` and `signature` (Ed25519, base64). A partner node acting as a witness keeps
the same lines and checks them with the roster's public key alone: drop `key_id` and
`signature`, canonicalise, verify.

`cross_check` compares the database with the journal and the list of agencies: an agency
with no log, a log shorter than its last journaled checkpoint, a journaled checkpoint
missing from the database, and a journal that disagrees with the log each fail.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nacl.exceptions
import nacl.signing
from sqlalchemy import event, select
from sqlmodel import Session

import consent
from portal import hosting, untrusted_json
from portal.audit.times import format_at, out_of_time
from portal.db import stage_for_commit, take_staged
from portal.models import Agency, AgencyKey, AuditCheckpoint, AuditEntry, AuditHead, KeyPurpose

# What a signed checkpoint says it is, in the database, the journal and a download.
CHECKPOINT_DOCUMENT = "mdt-portal/audit-checkpoint/v1"

INFO_KEY = "portal.audit.journal"
PENDING_KEY = "portal.audit.journal.pending"
SIGNED_FIELDS = ("document", "log", "seq", "entry_hash", "at")


def line_of(checkpoint: AuditCheckpoint) -> dict:
    """The checkpoint as a journal line (and as the lead's download)."""
    return {
        "document": CHECKPOINT_DOCUMENT,
        "log": checkpoint.log_key,
        "seq": checkpoint.seq,
        "entry_hash": checkpoint.entry_hash,
        "at": format_at(checkpoint.at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


class JournalError(Exception):
    """The journal file cannot be used as configured: the message names it."""


class Journal:
    """The append-only file; attached to a session, it receives that session's
    checkpoints after each commit (a rolled-back checkpoint never reaches it)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def check_writable(self) -> None:
        """Before anything is signed for it: a checkpoint committed to the database that
        the journal then refuses would be a checkpoint only a database writer has seen."""
        if self.path.is_dir():
            raise JournalError(
                f"the audit journal {self.path} is a folder; set PORTAL_AUDIT_JOURNAL to a file"
            )
        if not self.path.parent.is_dir():
            # A mistyped folder started a journal of its own there, and the node's own then
            # lacked the checkpoints signed meanwhile ('portal audit verify': BROKEN).
            raise JournalError(
                f"no folder {self.path.parent} for the audit journal {self.path.name}: create "
                "it first, or fix PORTAL_AUDIT_JOURNAL"
            )
        existing = self.path if self.path.exists() else self.path.parent
        if not os.access(existing, os.W_OK):
            raise JournalError(
                f"cannot write the audit journal {self.path}: permission denied to this "
                "account; fix its permissions or PORTAL_AUDIT_JOURNAL"
            )

    def attach(self, session: Session) -> Session:
        # The listeners below are the Session class's, listened to once: a listener added
        # to each request's session cost more than the session itself (29 µs against 11).
        session.info[INFO_KEY] = self
        return session

    def append(self, lines: Iterable[dict]) -> None:
        data = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
        if not data:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        # O_APPEND and a lock: several workers may append at once, never over each other.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new file's name must survive a crash too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def read(self) -> tuple[list[dict], list[str]]:
        """(lines, problems): every well-formed line, and a message for each bad one."""
        if not self.path.exists():
            return [], []
        lines, problems = [], []
        try:
            handle = self.path.open("rb")
        except OSError as error:
            raise JournalError(
                f"cannot read the audit journal {self.path}: {error.strerror or error}; fix "
                "PORTAL_AUDIT_JOURNAL"
            ) from None
        with handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = untrusted_json.loads(raw)
                    check_shape(line)
                except (ValueError, TypeError):
                    problems.append(f"journal line {number} is not a signed checkpoint")
                    continue
                lines.append(line)
        return lines, problems


def check_shape(line) -> None:
    if not isinstance(line, dict) or line.get("document") != CHECKPOINT_DOCUMENT:
        raise ValueError("not a checkpoint")
    seq = line.get("seq")
    # A bool is an int to Python; a seq past 2**53 is no log's (and no canonical JSON's).
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= 2**53:
        raise ValueError("bad seq")
    for name in ("log", "entry_hash", "at", "key_id", "signature"):
        if not isinstance(line.get(name), str):
            raise ValueError(f"bad {name}")


def stage(db: Session, checkpoint: AuditCheckpoint) -> None:
    """Called when a checkpoint is signed: journaled once the unit of work commits, never
    if it (or the savepoint it was signed in) rolls back: a line for a checkpoint the
    database never kept would contradict the log when its seq is written again."""
    if db.info.get(INFO_KEY) is not None:
        checkpoint.journaled = True
        stage_for_commit(db, PENDING_KEY, line_of(checkpoint))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: nothing is committed yet
        return
    pending = take_staged(session, PENDING_KEY)
    journal = session.info.get(INFO_KEY)
    if pending and journal is not None:
        journal.append(pending)


def signature_holds(line: dict, public_key_b64: str) -> bool:
    try:
        body = consent.canonical_bytes({name: line[name] for name in SIGNED_FIELDS})
    except (ValueError, TypeError):  # canonical JSON cannot hold it: no signature covers it
        return False
    try:
        key = nacl.signing.VerifyKey(base64.b64decode(public_key_b64, validate=True))
        key.verify(body, base64.b64decode(line["signature"], validate=True))
    except (ValueError, TypeError, nacl.exceptions.BadSignatureError):
        return False
    return True


@dataclass(frozen=True)
class Finding:
    log_key: str
    label: str
    problem: str

    def line(self) -> str:
        return f"BROKEN {self.label}: {self.problem}"


def _signing_key(db: Session, agency: Agency, key_id: str):
    """(public key, retired at) of one of the agency's signing keys, or None."""
    return db.execute(
        select(AgencyKey.public_key, AgencyKey.retired_at).where(
            AgencyKey.agency_id == agency.id,
            AgencyKey.key_id == key_id,
            AgencyKey.purpose == KeyPurpose.SIGNING,
        )
    ).first()


def key_missing(what: str, checkpoint) -> str:
    """A checkpoint whose key the agency's key ring no longer holds: its signature cannot
    be checked, which says nothing yet of the log (a key ring restored from a backup
    settles it); not a bad signature, which would say the log was tampered with."""
    key_id = checkpoint["key_id"] if isinstance(checkpoint, dict) else checkpoint.key_id
    return (
        f"{what} was signed with the key {key_id}, which is missing from the agency's key "
        "ring: its signature cannot be checked until the key ring is restored from a backup "
        "(a key no backup holds was never the agency's: then the checkpoint is forged)"
    )


def check_line(db: Session, agency: Agency, line: dict) -> str | None:
    """What is wrong between the database and one signed checkpoint kept elsewhere."""
    key = _signing_key(db, agency, line["key_id"])
    if key is None:
        return key_missing(f"the checkpoint at seq {line['seq']} kept outside the database", line)
    if not signature_holds(line, key.public_key):
        return f"the checkpoint at seq {line['seq']} kept outside the database has a bad signature"
    late = out_of_time(datetime.fromisoformat(line["at"]), retired_at=key.retired_at, entry_at=None)
    if late is not None:
        return f"the checkpoint at seq {line['seq']} kept outside the database {late}"
    seq = line["seq"]
    last = db.execute(
        select(AuditHead.last_seq).where(AuditHead.log_key == line["log"])
    ).scalar_one_or_none()
    entry_hash = db.execute(
        select(AuditEntry.entry_hash).where(
            AuditEntry.log_key == line["log"], AuditEntry.seq == seq
        )
    ).scalar_one_or_none()
    if (last or 0) < seq:
        return (
            f"the log is shorter than its last journaled checkpoint: it ends at seq "
            f"{last or 0}, but seq {seq} was signed on {line['at']}"
        )
    if entry_hash is None:
        return (
            f"the entry at seq {seq}, which a journaled checkpoint signed on {line['at']}, "
            "is missing"
        )
    stored = db.execute(
        select(AuditCheckpoint.entry_hash).where(
            AuditCheckpoint.log_key == line["log"], AuditCheckpoint.seq == seq
        )
    ).scalar_one_or_none()
    if stored is None:
        return f"checkpoint missing from the database: seq {seq}, signed on {line['at']}"
    if stored != line["entry_hash"] or entry_hash != line["entry_hash"]:
        return (
            f"the journal disagrees with the database at seq {seq}: the log was rewritten "
            "after that checkpoint was signed"
        )
    return None


def cross_check(db: Session, lines: list[dict]) -> list[Finding]:
    """The database against the journal and the list of agencies: one finding per log."""
    findings: dict[str, Finding] = {}
    # Only the agencies this node hosts keep their log here (a roster names others).
    agencies = {
        a.public_id: a for a in db.execute(select(Agency)).scalars() if hosting.is_local(db, a)
    }
    with_log = set(db.execute(select(AuditHead.log_key)).scalars())
    with_log |= set(db.execute(select(AuditEntry.log_key).distinct()).scalars())
    for public_id, agency in sorted(agencies.items(), key=lambda item: item[1].name):
        if public_id not in with_log:
            findings[public_id] = Finding(
                public_id,
                agency.name,
                "the agency has no audit log at all (every agency's log starts when it is "
                "created: it was deleted)",
            )
    for line in sorted(lines, key=lambda line: (line["log"], line["seq"])):
        log_key = line["log"]
        if log_key in findings:
            continue
        agency = agencies.get(log_key)
        if agency is None:
            findings[log_key] = Finding(
                log_key, log_key, "the journal holds checkpoints of an agency that is gone"
            )
            continue
        try:
            problem = check_line(db, agency, line)
        except (TypeError, ValueError, ArithmeticError) as error:  # a row of another type
            problem = (
                f"a row of this log cannot be read as the portal writes it ({error}): it "
                "was edited outside the portal"
            )
        if problem is not None:
            findings[log_key] = Finding(log_key, agency.name, problem)
    for log_key, problem in _not_journaled(db, lines).items():
        if log_key not in findings:
            findings[log_key] = Finding(log_key, agencies[log_key].name, problem)
    return list(findings.values())


def _when(db: Session, checkpoint_id: int) -> str:
    """ "on <time> " for a checkpoint, or nothing where its time cannot be read (a row
    edited to another type: verify names that apart)."""
    try:
        at = db.execute(
            select(AuditCheckpoint.at).where(AuditCheckpoint.id == checkpoint_id)
        ).scalar_one()
        return f"on {format_at(at)} "
    except (TypeError, ValueError):
        return ""


def _not_journaled(db: Session, lines: list[dict]) -> dict[str, str]:
    """Per log, the first checkpoint the journal lacks that it should hold: one signed with
    the journal attached (`journaled`), or, for checkpoints signed before that was marked,
    one after the journal's first line of that log. The journal was cut short, emptied,
    deleted or stripped of a log's lines, or the node stopped between a commit and its
    journal line."""
    journaled: dict[str, set[int]] = {}
    for line in lines:
        journaled.setdefault(line["log"], set()).add(line["seq"])
    problems = {}
    owed = db.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.log_key, AuditCheckpoint.seq)
        .where(AuditCheckpoint.journaled.is_(True))
        .order_by(AuditCheckpoint.log_key, AuditCheckpoint.seq)
    ).all()
    for checkpoint_id, log_key, seq in owed:
        if log_key not in problems and seq not in journaled.get(log_key, ()):
            problems[log_key] = (
                f"the journal lacks the checkpoint at seq {seq}, signed "
                f"{_when(db, checkpoint_id)}with the journal attached, which the database "
                "holds: the journal was cut, emptied or lost, or the node stopped before "
                "writing it (compare with a witness's copy)"
            )
    for log_key, seqs in journaled.items():
        if log_key in problems:
            continue
        lacking = db.execute(
            select(AuditCheckpoint.seq, AuditCheckpoint.at)
            .where(
                AuditCheckpoint.log_key == log_key,
                AuditCheckpoint.seq > min(seqs),
                AuditCheckpoint.seq.not_in(seqs),
            )
            .order_by(AuditCheckpoint.seq)
            .limit(1)
        ).first()
        if lacking is not None:
            problems[log_key] = (
                f"the journal lacks the checkpoint at seq {lacking.seq}, signed on "
                f"{format_at(lacking.at)}, which the database holds: the journal was cut short, "
                "or the node stopped before writing it (compare with a witness's copy)"
            )
    return problems
