"""Signed checkpoints: the agency's Ed25519 key vouches for its log up to one entry.

A checkpoint signs (log key, seq, entry_hash, at). Whoever holds the agency's public key
(the roster) can then tell that nothing up to that seq was rewritten, not even the whole
tail re-hashed, and that the log was not cut short before it.

Automatic checkpoints need the node's KeyWrapper inside `record()`, whose signature must
not change: the app, the CLI and test fixtures attach a `CheckpointSigner` to the
Session's `info`. An append on a session with a signer signs a checkpoint as soon as its
log is `every` (1,000) entries past the last one, over the log as it stands (not verified
first: README, Checkpoints); a session without a signer (a bare script) leaves the
checkpoint to the next append that has one, or to `portal audit checkpoint`, which
verifies the log before it signs. The node's own log has no key, so it is never checkpointed:
it is protected by its chain and its head row only.
"""

from __future__ import annotations

import base64
from datetime import datetime

import nacl.exceptions
import nacl.signing
from sqlmodel import Session, select

import consent
from portal.audit import journal
from portal.audit.journal import CHECKPOINT_DOCUMENT
from portal.audit.times import format_at, out_of_time
from portal.crypto import KeyWrapper
from portal.models import AgencyKey, AuditCheckpoint, KeyPurpose

SIGNER_INFO_KEY = "portal.audit.checkpoint_signer"
CHECKPOINT_EVERY = 1000


class CheckpointSigner:
    """What `record()` needs to sign: the node's key wrapper, and how often to sign."""

    def __init__(self, keys: KeyWrapper, *, every: int = CHECKPOINT_EVERY) -> None:
        if every < 1:
            raise ValueError("checkpoint interval must be at least 1")
        self.keys = keys
        self.every = every

    def attach(self, session: Session) -> Session:
        session.info[SIGNER_INFO_KEY] = self
        return session


def signer_of(db: Session) -> CheckpointSigner | None:
    return db.info.get(SIGNER_INFO_KEY)


def due(db: Session, agency_id: int | None, seq: int, *, checkpoint_seq: int) -> bool:
    """Whether the entry at `seq` in this log should be checkpointed now."""
    signer = signer_of(db)
    return signer is not None and agency_id is not None and seq - checkpoint_seq >= signer.every


def payload(log_key: str, seq: int, entry_hash: str, at: datetime) -> bytes:
    """The exact bytes a checkpoint signature covers (RFC 8785 canonical JSON)."""
    return consent.canonical_bytes(
        {
            "document": CHECKPOINT_DOCUMENT,
            "log": log_key,
            "seq": seq,
            "entry_hash": entry_hash,
            "at": format_at(at),
        }
    )


def signing_key_row(db: Session, agency_id: int) -> AgencyKey:
    key = db.exec(
        select(AgencyKey)
        .where(
            AgencyKey.agency_id == agency_id,
            AgencyKey.purpose == KeyPurpose.SIGNING,
            AgencyKey.retired_at.is_(None),
        )
        .order_by(AgencyKey.created_at.desc(), AgencyKey.id.desc())
    ).first()
    if key is None:
        raise LookupError(f"agency {agency_id} has no signing key")
    return key


def sign(
    db: Session,
    agency_id: int,
    log_key: str,
    seq: int,
    entry_hash: str,
    at: datetime,
    *,
    keys: KeyWrapper | None = None,
) -> AuditCheckpoint:
    """Sign the log at `seq`; the caller holds the log's head lock."""
    if keys is None:
        signer = signer_of(db)
        if signer is None:
            raise LookupError("no checkpoint signer on this session")
        keys = signer.keys
    key = signing_key_row(db, agency_id)
    signing_key = nacl.signing.SigningKey(keys.unwrap(key.wrapped_secret))
    signature = signing_key.sign(payload(log_key, seq, entry_hash, at)).signature
    checkpoint = AuditCheckpoint(
        log_key=log_key,
        agency_id=agency_id,
        seq=seq,
        entry_hash=entry_hash,
        at=at,
        key_id=key.key_id,
        signature=base64.b64encode(signature).decode(),
    )
    db.add(checkpoint)
    journal.stage(db, checkpoint)  # the copy outside the database, written after commit
    return checkpoint


def signature_problem(
    db: Session, agency_id: int, checkpoint: AuditCheckpoint, *, entry_at: datetime
) -> str | None:
    """What keeps `checkpoint` from vouching for its log, as `verify` says it: its key not
    in the agency's key ring, a bad signature, or a time its key or its entry (`entry_at`,
    the signed entry's) rules out; None when it holds."""
    key = db.execute(
        select(AgencyKey.public_key, AgencyKey.retired_at).where(
            AgencyKey.agency_id == agency_id,
            AgencyKey.key_id == checkpoint.key_id,
            AgencyKey.purpose == KeyPurpose.SIGNING,
        )
    ).first()
    if key is None:
        return journal.key_missing(f"the checkpoint at seq {checkpoint.seq}", checkpoint)
    if not signature_holds(checkpoint, key.public_key):
        return f"bad checkpoint signature at seq {checkpoint.seq}"
    if problem := out_of_time(checkpoint.at, retired_at=key.retired_at, entry_at=entry_at):
        return f"checkpoint at seq {checkpoint.seq} {problem}"
    return None


def signature_holds(checkpoint: AuditCheckpoint, public_key_b64: str) -> bool:
    try:
        verify_key = nacl.signing.VerifyKey(base64.b64decode(public_key_b64, validate=True))
        verify_key.verify(
            payload(checkpoint.log_key, checkpoint.seq, checkpoint.entry_hash, checkpoint.at),
            base64.b64decode(checkpoint.signature, validate=True),
        )
    except (ValueError, TypeError, nacl.exceptions.BadSignatureError):
        return False
    return True
