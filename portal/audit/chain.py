"""The hash chain behind `record()`: each log's head row, locked by every append.

An append takes the write lock (portal/db.py: on SQLite the queue in front of the
database's own lock, taken before the head is read), locks its log's `audit_head` row
(SELECT … FOR UPDATE on PostgreSQL), takes the next seq and the previous hash from it,
and moves it on. The unique (log_key, seq) constraint is the backstop: if
two writers ever raced past the lock, one of them would fail rather than fork the log.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from itertools import islice
from json.encoder import encode_basestring  # the C encoder, as json.dumps uses
from typing import Any, NamedTuple

from sqlalchemy import bindparam, event, select, update
from sqlmodel import Session

from portal.audit import checkpoints, lock_order, rechecks, revoked
from portal.audit.hashing import HASHED_FIELDS, SPELLINGS, entry_hash, flat_members
from portal.audit.times import format_at
from portal.db import hold_write_lock, insert_of, read, read_row, read_rows, write_many
from portal.models import ENTRY_FORMAT, GENESIS_HASH, NODE_LOG, Agency, AuditEntry, AuditHead

_head = AuditHead.__table__


_HEADS = "audit_heads"  # Session.info key: the heads this transaction holds locked


@event.listens_for(Session, "after_transaction_end")
def _forget_heads(session, _transaction) -> None:
    # Any end (commit, rollback, a savepoint's release or rollback, a flush's own) may have
    # moved or undone a head: the next append reads it again. The locks stay until the
    # transaction itself ends (`lock_order`).
    session.info.pop(_HEADS, None)


# FOR UPDATE is not rendered on SQLite: there the write lock is taken first (see db.py).
_LOCK_HEAD = select(_head).where(_head.c.agency_id == bindparam("agency")).with_for_update()
_LOCK_NODE_HEAD = select(_head).where(_head.c.log_key == NODE_LOG).with_for_update()
_AGENCY_LOG_KEY = select(Agency.public_id).where(Agency.id == bindparam("agency"))


def lock_head(db: Session, agency_id: int | None) -> dict[str, Any]:
    """The log's head, locked until the transaction ends; created when first needed.

    Read from the database once per transaction: the row lock is held until the end, so
    no other writer can move it, and this transaction's own appends keep the copy current.
    """
    held = db.info.setdefault(_HEADS, {})
    if agency_id in held:
        return held[agency_id]
    locked, params = (
        (_LOCK_NODE_HEAD, {}) if agency_id is None else (_LOCK_HEAD, {"agency": agency_id})
    )
    lock_order.note_taken(db, [agency_id])
    hold_write_lock(db)
    row = read_row(db, locked, params)
    if row is None:
        log_key = NODE_LOG if agency_id is None else read(db, _AGENCY_LOG_KEY, params).scalar_one()
        insert = insert_of(db)
        # Two first writers may race here: one inserts, the other waits for it and does nothing.
        db.execute(
            insert(_head)
            .values(
                log_key=log_key,
                agency_id=agency_id,
                last_seq=0,
                last_hash=GENESIS_HASH,
                checkpoint_seq=0,
            )
            .on_conflict_do_nothing()
        )
        row = read_row(db, locked, params)
        if row is None:
            raise RuntimeError(f"the head of log {log_key} could not be made")
    head = row
    db.info.setdefault(_HEADS, {})[agency_id] = head
    return head


def move_head(db: Session, agency_id: int | None, **values: Any) -> None:
    """Move a locked head on, in this transaction's copy and in the database."""
    head = lock_head(db, agency_id)
    head.update(values)
    db.execute(update(_head).where(_head.c.log_key == head["log_key"]).values(**values))


@functools.lru_cache(maxsize=64)
def _lock_heads(count: int):
    """The heads of `count` agencies' logs, locked in ascending order, by bind parameters
    of their own (`agency_0`...): prebuilt for each count, and run by the driver. FOR
    UPDATE is not rendered on SQLite: there the write lock is taken first."""
    wanted = [bindparam(f"agency_{place}") for place in range(count)]
    return (
        select(_head)
        .where(_head.c.agency_id.in_(wanted))
        .order_by(_head.c.agency_id)
        .with_for_update()
    )


_INSERT_ENTRIES = AuditEntry.__table__.insert()
_ENTRY_COLUMNS = (*HASHED_FIELDS, "entry_hash")
_MOVE_HEAD = (
    update(_head)
    .where(_head.c.log_key == bindparam("head"))
    .values(
        last_seq=bindparam("seq"),
        last_hash=bindparam("hash"),
        checkpoint_seq=bindparam("checkpoint"),
    )
)


def lock_logs(db: Session, agency_ids: Iterable[int | None]) -> None:
    """Lock several logs' heads in one fixed order, before appending to them.

    A transaction that appends to two logs (a disclosure is written to the owner's log and
    the viewer's) should call this first: two such transactions taking the same heads in
    opposite orders would deadlock on PostgreSQL, and one would be aborted. The agencies'
    heads are read and locked by one query, in ascending order.
    """
    held = db.info.setdefault(_HEADS, {})
    wanted = sorted(set(agency_ids) - set(held), key=lock_order.log_order)
    lock_order.note_taken(db, wanted)
    if None in wanted:
        lock_head(db, None)
    agencies = [a for a in wanted if a is not None]
    if len(agencies) > 1:
        hold_write_lock(db)
        wanted = {f"agency_{place}": agency for place, agency in enumerate(agencies)}
        for row in read_rows(db, _lock_heads(len(agencies)), wanted):
            held[row["agency_id"]] = row
    for agency_id in agencies:
        lock_head(db, agency_id)  # creates the heads of logs never written to yet


def _spelled(values: dict[str, Any]) -> list[str] | None:
    """An entry's canonical JSON members, spelled before its place in the log is known
    (made before the log's lock is taken: under it, only its place is filled in); None
    when a value is not flat (see `entry_hash`) or the format has no spelling."""
    spelling = SPELLINGS.get(values.get("format") or 1)
    if spelling is None:
        return None
    content = [values.get(name) for name in spelling.names]
    content[spelling.at] = format_at(content[spelling.at])
    for place in (spelling.log_key, spelling.prev_hash, spelling.seq):
        content[place] = None  # filled in under the lock
    return flat_members(zip(spelling.spelled, content, strict=True))


def _place(head: dict[str, Any], values: dict[str, Any], spelled: list[str] | None) -> None:
    """Give one entry its place after `head`: the log's key, the next seq, the previous
    entry's hash, and its own hash over all of that (the same bytes as `entry_hash`)."""
    log_key, seq, prev_hash = head["log_key"], head["last_seq"] + 1, head["last_hash"]
    values.update(log_key=log_key, seq=seq, prev_hash=prev_hash)
    if spelled is None:
        values["entry_hash"] = entry_hash(values)
        return
    spelling = SPELLINGS[values.get("format") or 1]
    spelled[spelling.log_key] = spelling.spelled[spelling.log_key] + encode_basestring(log_key)
    spelled[spelling.prev_hash] = spelling.spelled[spelling.prev_hash] + encode_basestring(
        prev_hash
    )
    spelled[spelling.seq] = spelling.spelled[spelling.seq] + str(seq)
    canonical = "{" + ",".join(spelled) + "}"
    values["entry_hash"] = hashlib.sha256(canonical.encode()).hexdigest()


class Appended(NamedTuple):
    """Where an entry went: what `record()` returns."""

    log_key: str
    seq: int
    prev_hash: str
    entry_hash: str


def append_many(db: Session, rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chain entries into their logs (each row names its `agency_id`) and insert them with
    one prebuilt INSERT batch: every append takes this path, a single one included.

    The heads are locked in the fixed order first and written at once, so the rows on disk
    never lag what this transaction sees. Nothing between the lock and that write runs a
    query through the session (checkpoints are signed after it): a query could flush, and a
    flush ends the transaction's copy of the heads; what the decisions were made on is read
    again there on the connection (`revoked`, `rechecks`). Returns every entry's columns as
    written, in order.
    """
    if not rows:
        return []
    prepared = []
    for row in rows:  # all that does not depend on the log's head, before its lock
        full = dict.fromkeys(HASHED_FIELDS)
        full["format"] = ENTRY_FORMAT
        full.update(row)
        prepared.append((full, _spelled(full)))
    lock_logs(db, [row["agency_id"] for row in rows])
    # What the entries' decisions were made on, read again under the logs' locks.
    revoked.refuse_revoked(db, rows)
    rechecks.run(db, rows)
    heads = {row["agency_id"]: lock_head(db, row["agency_id"]) for row in rows}
    batch, due = [], []
    for full, spelled in prepared:
        agency_id = full["agency_id"]
        head = heads[agency_id]
        _place(head, full, spelled)
        head.update(last_seq=full["seq"], last_hash=full["entry_hash"])
        if checkpoints.due(db, agency_id, full["seq"], checkpoint_seq=head["checkpoint_seq"]):
            due.append((agency_id, head["log_key"], full["seq"], full["entry_hash"], full["at"]))
            head["checkpoint_seq"] = full["seq"]
        batch.append(full)
    write_many(db, _INSERT_ENTRIES, batch, columns=_ENTRY_COLUMNS)
    write_many(
        db,
        _MOVE_HEAD,
        [
            {
                "head": head["log_key"],
                "seq": head["last_seq"],
                "hash": head["last_hash"],
                "checkpoint": head["checkpoint_seq"],
            }
            for head in heads.values()
        ],
    )
    for checkpoint in due:
        # Signed over the log as this transaction leaves it, not verified first: walking
        # the 1,000 entries since the last one on the request's path doubled the summary's
        # p99 (README: Checkpoints). `portal audit checkpoint` verifies the whole log first.
        checkpoints.sign(db, *checkpoint)
    return batch


def append_rows(db: Session, agency_id: int | None, rows: Iterable[Mapping[str, Any]]) -> int:
    """Chain and insert many entries into one log in bulk (benchmarks and imports), in
    batches of 5,000 through `append_many()`. Each row gives some entry columns; the rest
    are empty. Returns how many were appended."""
    rows, appended = iter(rows), 0
    while batch := [{**row, "agency_id": agency_id} for row in islice(rows, 5000)]:
        append_many(db, batch)
        appended += len(batch)
    return appended
