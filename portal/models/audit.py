"""Audit entries: written by the one audit function, in the change's own transaction.

Each agency's log (and the node's own) is a hash chain: `seq` counts 1, 2, 3… per log,
`prev_hash` is the entry_hash of the entry before, `entry_hash` the SHA-256 of the
entry's canonical content. `AuditHead` holds each log's tail, locked by every append.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime

NODE_LOG = "node"  # the log key of the node's own log (entries with agency_id None)
GENESIS_HASH = "0" * 64  # the prev_hash of every log's first entry
# Entry formats. 1: actors and clients named by this node's integer ids. 2: by public ids
# (strings), so an owner's log can name a viewer who lives on another node, and the log
# holds no foreign key into live tables. Old entries keep their format and their hash.
ENTRY_FORMAT = 2


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (
        # The backstop against forks: two entries can never share a place in one log.
        UniqueConstraint("log_key", "seq"),
        # Every search is within one agency's log, so each index starts with agency_id;
        # each one is paid on every disclosure (an entry per section), so no more of them.
        Index("ix_audit_entry_agency_at", "agency_id", "at"),
        Index("ix_audit_entry_agency_case", "agency_id", "case_ref"),
        Index("ix_audit_entry_agency_client_ref", "agency_id", "client_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Whose log: the agency the event concerns; None for the node's own log (e.g. a failed
    # sign-in for a name that matches no account). The log's partition on this node, not a
    # foreign key: the log outlives any row it mentions.
    agency_id: int | None = Field(default=None)
    # A row that does not say its format is of format 1 (every row before format 2).
    format: int = Field(default=ENTRY_FORMAT, sa_column_kwargs={"server_default": "1"})
    # The chain: agency public id (or "node"), place in that log, and the two hashes.
    log_key: str = Field(max_length=36)
    seq: int
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    tag: str = Field(max_length=60)
    at: datetime = Field(sa_type=UTCDateTime)
    # Format 1 only (kept so those entries still verify); format 2 leaves them empty.
    actor_user_id: int | None = Field(default=None)
    actor_agency_id: int | None = Field(default=None)
    # Who acted, by public id: set on every entry, old ones backfilled by the migration.
    actor_user_ref: str | None = Field(default=None, max_length=36, index=True)
    actor_agency_ref: str | None = Field(default=None, max_length=36)
    actor_role: str | None = Field(default=None, max_length=30)
    subject: str | None = Field(default=None, max_length=120)
    detail: str = Field(default="{}", max_length=4000)  # canonical JSON
    client_address: str | None = Field(default=None, max_length=64)
    # Disclosure facts, as columns so "who saw what of ours" is answered in SQL. They are
    # set for disclosure decisions (allowed and denied) and left empty for other events.
    case_ref: str | None = Field(default=None, max_length=20)
    client_id: int | None = Field(default=None)  # format 1 only, like actor_user_id
    client_ref: str | None = Field(default=None, max_length=36)  # the client's public id
    section_key: str | None = Field(default=None, max_length=40)
    purpose: str | None = Field(default=None, max_length=30)
    decision: str | None = Field(default=None, max_length=10)  # "released" | "withheld"
    gate: str | None = Field(default=None, max_length=30)  # which gate withheld, if any
    release_ref: str | None = Field(default=None, max_length=36)  # release public id used
    policy_rule: str | None = Field(default=None, max_length=300)  # Casbin line matched


class AuditHead(SQLModel, table=True):
    """The tail of one log; every append locks this row, so appends never fork the chain."""

    __tablename__ = "audit_head"

    log_key: str = Field(primary_key=True, max_length=36)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", unique=True)
    last_seq: int = 0
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)
    checkpoint_seq: int = 0  # the seq of the log's latest signed checkpoint


class AuditCheckpoint(SQLModel, table=True):
    """The agency's Ed25519 signature over (log key, seq, entry_hash, at)."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("log_key", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    log_key: str = Field(max_length=36)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    seq: int
    entry_hash: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    key_id: str = Field(max_length=80)
    signature: str = Field(max_length=100)  # base64 of the 64-byte Ed25519 signature
    # Signed by a session with the journal attached: its line is owed to the journal, so a
    # journal that lacks it was cut, emptied or lost (portal.audit.journal.cross_check).
    journaled: bool = False
