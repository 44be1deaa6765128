"""Walking a log in seq order and naming the first thing that does not hold.

What is checked, per log: seq runs 1, 2, 3… with no gap (a deleted entry); every entry's
content hashes to its entry_hash (an edited entry; an entry moved to another seq is named
as reordered); every prev_hash is the entry_hash before it (a broken link); the head row
agrees with the last entry (entries cut from the end) and names the log's own agency (heads
swapped between logs); every checkpoint names an entry
that exists with that hash and carries a good signature by one of the agency's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from portal.audit import checkpoints
from portal.audit.walk import Walked, walk
from portal.models import (
    NODE_LOG,
    Agency,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
)


@dataclass
class LogReport:
    log_key: str
    label: str
    entries: int = 0
    checkpoints: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.ok:
            return (
                f"OK {self.label}: {self.entries} entries, chain intact, "
                f"{self.checkpoints} checkpoint(s) verified"
            )
        return f"BROKEN {self.label}: {self.problem}"


def log_keys(db: Session) -> list[str]:
    """Every log on the node: those with a head and those with entries."""
    keys = set(db.execute(select(AuditHead.log_key)).scalars())
    keys |= set(db.execute(select(AuditEntry.log_key).distinct()).scalars())
    return sorted(keys, key=lambda k: (k != NODE_LOG, k))


def verify_all(db: Session, *, pause: Callable[[], None] | None = None) -> list[LogReport]:
    return [verify_log(db, key, pause=pause) for key in log_keys(db)]


def verify_log(db: Session, log_key: str, *, pause: Callable[[], None] | None = None) -> LogReport:
    """Verify one log as far as its head stood when the walk began.

    `pause`, called between batches, lets the CLI end its read transaction so that a long
    walk never holds the database (on SQLite a transaction shuts out writers); entries
    appended meanwhile lie beyond the head read first, and are left for the next run.
    """
    agency = db.execute(select(Agency).where(Agency.public_id == log_key)).scalar_one_or_none()
    label = "node log" if log_key == NODE_LOG else (agency.name if agency else log_key)
    report = LogReport(log_key=log_key, label=label)
    try:
        return _verify(db, log_key, agency, report, pause=pause)
    except (TypeError, ValueError, ArithmeticError) as error:
        # SQLite keeps whatever a writer puts in a column: a row edited to a value of
        # another type (text for a time, bytes for a subject) is named, and the other logs
        # are still verified.
        report.problem = (
            f"a row of this log cannot be read as the portal writes it ({error}): it was "
            "edited outside the portal"
        )
        return report


def _verify(db: Session, log_key: str, agency, report: LogReport, *, pause) -> LogReport:
    head = db.execute(select(AuditHead).where(AuditHead.log_key == log_key)).scalar_one_or_none()
    head = (
        None
        if head is None
        else _Head(head.last_seq, head.last_hash, head.checkpoint_seq, head.agency_id)
    )
    upto = head.last_seq if head is not None else None
    signed = {
        c.seq: c
        for c in db.execute(
            select(AuditCheckpoint).where(AuditCheckpoint.log_key == log_key)
        ).scalars()
        if upto is None or c.seq <= upto
    }
    walked = Walked()
    report.problem = (
        walk(db, log_key, signed, walked, upto=upto, pause=pause)
        or _check_owner(db, log_key, agency, head)
        or _check_head(db, log_key, head, walked)
        or _check_checkpoints(db, agency, signed, walked, report)
    )
    report.entries = walked.entries
    return report


@dataclass(frozen=True)
class _Head:
    last_seq: int
    last_hash: str
    checkpoint_seq: int
    agency_id: int | None


def _check_owner(db: Session, log_key: str, agency, head: _Head | None) -> str | None:
    """The head row ties the log to its agency: appends find a log by the head's agency_id.
    A head naming another agency (two heads' agency_id exchanged, or two agencies' public
    ids) sends each agency's next entries into the other's log."""
    if head is None:
        return None
    owner_id = None if log_key == NODE_LOG or agency is None else agency.id
    if head.agency_id == owner_id:
        return None
    named = None if head.agency_id is None else db.get(Agency, head.agency_id)
    whose = (
        "no agency"
        if head.agency_id is None
        else f"agency id {head.agency_id}"
        + (f" ({named.name}, whose log is {named.public_id})" if named is not None else "")
    )
    return (
        f"the head row ties this log to {whose}, not to the agency the log belongs to: the "
        "head rows were swapped or edited, and that agency's next entries would be written "
        "into this log"
    )


def _check_head(db: Session, log_key: str, head: _Head | None, walked: Walked) -> str | None:
    if head is None:
        return "the log has entries but no head row" if walked.entries else None
    if head.last_seq > walked.entries:
        missing = head.last_seq - walked.entries
        return (
            f"missing entry: the log ends at seq {walked.entries} but its head says "
            f"{head.last_seq} ({missing} entr{'y' if missing == 1 else 'ies'} cut from the end)"
        )
    if head.last_hash != walked.last_hash:
        return "the head's hash does not match the last entry"
    # A signed checkpoint says the log reached its seq: one beyond the head means the log
    # was cut short and its head moved back. Read before the head: a checkpoint commits
    # with its entry and the head's move, so a head read after it is never behind it.
    signed_upto = db.execute(
        select(func.max(AuditCheckpoint.seq)).where(AuditCheckpoint.log_key == log_key)
    ).scalar_one()
    # Entries beyond the head as it stands now were not written by record(). The head and
    # the count in one statement, so one snapshot: read apart under READ COMMITTED, an
    # append committed in between counted as an entry beyond a head read before it.
    now = select(AuditHead.last_seq).where(AuditHead.log_key == log_key).scalar_subquery()
    current, beyond = db.execute(
        select(
            now,
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.log_key == log_key, AuditEntry.seq > func.coalesce(now, 0))
            .scalar_subquery(),
        )
    ).one()
    if beyond:
        return f"{beyond} entr{'y' if beyond == 1 else 'ies'} beyond the log's head"
    if signed_upto is not None and signed_upto > (current or 0):
        return (
            f"missing entry: a checkpoint was signed at seq {signed_upto} but the log ends "
            f"at seq {current or 0}"
        )
    walked.head_checkpoint_seq = head.checkpoint_seq
    return None


def _check_checkpoints(
    db: Session, agency: Agency | None, signed: dict, walked: Walked, report: LogReport
) -> str | None:
    hashes = walked.hashes_at_checkpoints
    if walked.head_checkpoint_seq and walked.head_checkpoint_seq not in signed:
        return (
            "missing checkpoint: the head says the log was signed at seq "
            f"{walked.head_checkpoint_seq}"
        )
    for seq in sorted(signed):
        checkpoint = signed[seq]
        if agency is None or checkpoint.agency_id != agency.id:
            return f"checkpoint at seq {seq} belongs to no agency of this log"
        if seq not in hashes:
            return (
                f"missing entry: checkpoint at seq {seq} but the log ends at seq {walked.entries}"
            )
        if hashes[seq] != checkpoint.entry_hash:
            return f"checkpoint at seq {seq} does not match the entry's hash"
        if problem := checkpoints.signature_problem(
            db, agency.id, checkpoint, entry_at=walked.times_at_checkpoints[seq]
        ):
            return problem
        report.checkpoints += 1
    return None
