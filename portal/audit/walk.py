"""Walking a log's entries in seq order, each checked against its hash and the one before:
the heart of `verify`, apart from its checks of the head and the checkpoints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from portal.audit import hashing
from portal.models import GENESIS_HASH, Agency, AuditEntry, Client, StaffUser

# How far from its place a moved entry is looked for before it is called simply "edited".
REORDER_WINDOW = 1000
BATCH = 5000  # entries read per query while walking


@dataclass
class Walked:
    entries: int = 0
    last_hash: str = GENESIS_HASH
    hashes_at_checkpoints: dict = field(default_factory=dict)
    times_at_checkpoints: dict = field(default_factory=dict)  # each signed entry's `at`
    head_checkpoint_seq: int = 0
    # Format 1's public ids, read once per walk: {(table, id): public id}.
    public_ids: dict = field(default_factory=dict)


def _batches(db: Session, log_key: str, upto: int | None, pause) -> Iterator[Mapping]:
    """The log's entries in seq order, read by keyset in batches."""
    table = AuditEntry.__table__
    after = None
    while True:
        query = select(table).where(table.c.log_key == log_key)
        if after is not None:
            query = query.where(table.c.seq > after)
        if upto is not None:
            query = query.where(table.c.seq <= upto)
        rows = db.execute(query.order_by(table.c.seq).limit(BATCH)).mappings().all()
        if pause is not None:
            pause()
        yield from rows
        if len(rows) < BATCH:
            return
        after = rows[-1]["seq"]


def walk(
    db: Session, log_key: str, signed: dict, walked: Walked, *, upto: int | None, pause
) -> str | None:
    """The first thing that does not hold in the log's entries up to `upto`, in the words
    `verify` reports; None. Notes in `walked` how far it went and the hashes at the `signed`
    seqs."""
    expected, previous = 1, GENESIS_HASH
    for row in _batches(db, log_key, upto, pause):
        seq = row["seq"]
        if seq != expected:
            if seq < expected:  # a seq below 1, or a repeat where the constraint is gone
                return f"reordered entry: the entry id {row['id']} is out of place at seq {seq}"
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}–{seq - 1}"
            return f"missing entry: {missing} (the log jumps from seq {expected - 1} to {seq})"
        if (row["format"] or 1) not in hashing.FIELDS_BY_FORMAT:
            # No node writes that format: the entry was edited (hashing it would raise).
            return (
                f"edited entry: seq {seq} (id {row['id']}) names an unknown entry format "
                f"({row['format']})"
            )
        if hashing.entry_hash(row) != row["entry_hash"]:
            written_as = _written_seq(row)
            if written_as is not None:
                return (
                    f"reordered entry: the entry at seq {seq} (id {row['id']}) "
                    f"was written as seq {written_as}"
                )
            return (
                f"edited entry: seq {seq} (id {row['id']}) does not match its hash "
                f"(recorded {row['at']:%Y-%m-%d %H:%M} UTC, {row['tag']})"
            )
        if row["prev_hash"] != previous:
            return (
                f"broken link at seq {seq} (id {row['id']}): its prev_hash is not the hash "
                f"of entry {seq - 1}"
            )
        if (row["format"] or 1) == 1 and (refs := _format_1_refs(db, row, walked)):
            return f"edited entry: seq {seq} (id {row['id']}) {refs}"
        if seq in signed:
            walked.hashes_at_checkpoints[seq] = row["entry_hash"]
            walked.times_at_checkpoints[seq] = _aware(row["at"])
        previous = row["entry_hash"]
        expected += 1
        walked.entries, walked.last_hash = seq, previous
    return None


# A format-1 entry's hash covers the integer ids it names; the public ids beside them were
# filled in later (by a migration), outside the hash, and are what pages read (a client's
# accounting of disclosures, who saw what). Each must be the public id of the row its hashed
# id names: nothing else keeps them honest.
_FORMAT_1_REFS = (
    ("client_ref", "client_id", Client),
    ("actor_user_ref", "actor_user_id", StaffUser),
    ("actor_agency_ref", "actor_agency_id", Agency),
)


def _format_1_refs(db: Session, row, walked: Walked) -> str | None:
    for ref, id_column, model in _FORMAT_1_REFS:
        row_id, given = row[id_column], row[ref]
        if row_id is None:
            if given is not None:
                return f"names {ref} {given} where its hashed {id_column} is empty"
            continue
        key = (model.__tablename__, row_id)
        if key not in walked.public_ids:
            walked.public_ids[key] = db.execute(
                select(model.public_id).where(model.id == row_id)
            ).scalar_one_or_none()
        named = walked.public_ids[key]
        # Every such column was filled when the ids were added (the migration): emptied
        # beside a hashed id that names a row, it was cleared (a disclosure taken out of a
        # survivor's accounting, who saw it hidden).
        if named is not None and given != named:
            shown = "nothing" if given is None else given
            return f"names {ref} {shown}, not the one its hashed {id_column} names"
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _written_seq(row) -> int | None:
    """The seq an entry's stored hash was computed for, if it sits at another one now."""
    seq = row["seq"]
    for candidate in range(max(1, seq - REORDER_WINDOW), seq + REORDER_WINDOW + 1):
        if candidate != seq and hashing.entry_hash(row, seq=candidate) == row["entry_hash"]:
            return candidate
    return None
