"""Agency keys: created with the agency, private halves wrapped under the node's KEK."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, func, select

from portal import crypto
from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.errors import Invalid, NotFound
from portal.hosting import is_local

# The key lookups live below the services; re-exported for the agency's own services.
from portal.keyring import current_key as current_key
from portal.keyring import data_secret as data_secret
from portal.keyring import data_secrets as data_secrets
from portal.models import (
    Actor,
    Agency,
    AgencyKey,
    AuditCheckpoint,
    ConsentRelease,
    KeyPurpose,
    ReleaseRevocation,
)


def sealing_secret(db: Session, agency_id: int, *, keys: KeyWrapper) -> tuple[str, bytes]:
    """(key id, secret) of the agency's current data key, to seal a new record with, read
    with the agency's log held until the transaction ends. A rotation and a key's erasure
    take that log too: read before it, the key could be retired, its records moved and the
    key erased before this transaction committed a record that no key then opens."""
    lock_logs(db, [agency_id])
    return data_secret(db, agency_id, keys=keys)


# What a service seals: the values it built itself (notes, a change), never a form's fields.
SealedValues = dict[str, object]


def seal_record(
    db: Session, agency_id: int, keys: KeyWrapper, content: SealedValues, *, place: str
) -> tuple[str, bytes]:
    """`content` sealed for its place under the agency's current data key: (key id, sealed)."""
    key_id, secret = sealing_secret(db, agency_id, keys=keys)
    return key_id, crypto.seal_json(secret, content, bound_to=place)


def open_record(
    db: Session, agency_id: int, keys: KeyWrapper, key_id: str, sealed: bytes, *, place: str
) -> dict:
    """What `seal_record` sealed for `place` under the key `key_id`."""
    _, secret = data_secret(db, agency_id, keys=keys, key_id=key_id)
    return keys.open_sealed(secret, sealed, bound_to=place)


def _new_data_key(agency: Agency, *, keys: KeyWrapper, at: datetime) -> AgencyKey:
    secret = crypto.new_data_secret()
    return AgencyKey(
        agency_id=agency.id,
        purpose=KeyPurpose.DATA,
        key_id=crypto.data_key_id(agency.public_id, secret),
        wrapped_secret=keys.wrap(secret),
        created_at=at,
    )


def create_agency_keys(db: Session, agency: Agency, *, keys: KeyWrapper, at: datetime) -> None:
    db.add(_new_data_key(agency, keys=keys, at=at))
    signing_key = crypto.new_signing_key()
    db.add(
        AgencyKey(
            agency_id=agency.id,
            purpose=KeyPurpose.SIGNING,
            key_id=crypto.signing_key_id(agency.public_id, signing_key.verify_key),
            public_key=crypto.b64(bytes(signing_key.verify_key)),
            wrapped_secret=keys.wrap(bytes(signing_key)),
            created_at=at,
        )
    )


# Signing-key rotation and the public key list (issue 4).
def rotate_signing_key(
    db: Session, agency: Agency, *, keys: KeyWrapper, actor: Actor, at: datetime
) -> AgencyKey:
    """A new signing key from `at`; the old one is retired but kept, so old releases verify.
    Only for an agency this node hosts: one hosted elsewhere signs with its own node's keys,
    and a key made here would be trusted here as that agency's."""
    if not is_local(db, agency):
        raise Invalid("agency", f"{agency.name} is hosted on another node; rotate its key there.")
    # The log's head first: a checkpoint, release or revocation being signed with the key
    # now in use (each holds the log) finishes before the key is retired, and the key is
    # retired no earlier than the last of them (else it would read, for good, "signed after
    # its key was retired": a survivor's release NOT VALID, a log BROKEN).
    lock_logs(db, [agency.id])
    signed_last = _last_signed(db, agency)
    # (a key counts as retired from the moment it is: a document signed at that very
    # moment would read as signed after it)
    retire_at = at if signed_last is None else max(at, signed_last + timedelta(microseconds=1))
    signing_key = crypto.new_signing_key()
    new = AgencyKey(
        agency_id=agency.id,
        purpose=KeyPurpose.SIGNING,
        key_id=crypto.signing_key_id(agency.public_id, signing_key.verify_key),
        public_key=crypto.b64(bytes(signing_key.verify_key)),
        wrapped_secret=keys.wrap(bytes(signing_key)),
        created_at=at,
    )
    return _replace_current(db, agency, new, keys=keys, actor=actor, at=at, retire_at=retire_at)


def _last_signed(db: Session, agency: Agency) -> datetime | None:
    """The latest moment a document of the agency says it was signed: a checkpoint of its
    log, a release, a revocation. Read under the agency's log, which each is signed under."""
    times = (
        select(func.max(AuditCheckpoint.at)).where(AuditCheckpoint.log_key == agency.public_id),
        select(func.max(ConsentRelease.signed_at)).where(ConsentRelease.agency_id == agency.id),
        select(func.max(ReleaseRevocation.revoked_at))
        .join(ConsentRelease, ConsentRelease.id == ReleaseRevocation.release_id)
        .where(ConsentRelease.agency_id == agency.id),
    )
    return max((t for t in (db.exec(query).one() for query in times) if t), default=None)


def rotate_data_key(
    db: Session, agency: Agency, *, keys: KeyWrapper, actor: Actor, at: datetime
) -> AgencyKey:
    """A new data key that seals what the agency writes from `at`; the old one is retired
    but kept, for it still opens every record sealed before (`portal keys reseal` moves
    them onto the new key). Only for an agency this node hosts."""
    if not is_local(db, agency):
        raise Invalid("agency", f"{agency.name} is hosted on another node; rotate its key there.")
    lock_logs(db, [agency.id])  # two rotations at once would leave two keys current
    new = _new_data_key(agency, keys=keys, at=at)
    return _replace_current(db, agency, new, keys=keys, actor=actor, at=at, retire_at=at)


def _replace_current(
    db: Session,
    agency: Agency,
    new: AgencyKey,
    *,
    keys: KeyWrapper,
    actor: Actor,
    at: datetime,
    retire_at: datetime,
) -> AgencyKey:
    """`new` the agency's current key of its purpose; the ones current until now retired
    (kept), dropped from this process's memory, and the rotation in the agency's log. The
    caller holds the agency's log, so two rotations never leave two keys current."""
    retired = db.exec(
        select(AgencyKey).where(
            AgencyKey.agency_id == agency.id,
            AgencyKey.purpose == new.purpose,
            AgencyKey.retired_at.is_(None),
        )
    ).all()
    for old in retired:
        old.retired_at = retire_at
        db.add(old)
    # No retired signing key stays unwrapped; a retired data key is unwrapped again only
    # when a record still sealed under it is read.
    keys.forget(old.key_id for old in retired)
    db.add(new)
    db.flush()
    record(
        db,
        AuditTag.KEY_ROTATED,
        agency_id=agency.id,
        actor=actor,
        subject=new.key_id,
        detail={"retired": [old.key_id for old in retired], "purpose": str(new.purpose)},
        at=at,
    )
    return new


def public_signing_keys(db: Session) -> list[tuple[Agency, AgencyKey]]:
    """Every agency's signing keys, retired ones included: what partners verify against."""
    return list(
        db.exec(
            select(Agency, AgencyKey)
            .join(AgencyKey, AgencyKey.agency_id == Agency.id)
            .where(AgencyKey.purpose == KeyPurpose.SIGNING)
            .order_by(Agency.name, AgencyKey.created_at.desc(), AgencyKey.id.desc())
        ).all()
    )


def find_agency(db: Session, name_or_id: str) -> Agency:
    """An agency by its public id or its exact name (case-insensitive), for the CLI."""
    agency = db.exec(
        select(Agency).where(
            (Agency.public_id == name_or_id) | (func.lower(Agency.name) == name_or_id.lower())
        )
    ).first()
    if agency is None:
        raise NotFound("agency")
    return agency
