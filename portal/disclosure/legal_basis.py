"""A legal basis in place of a release (issue 14): the owner's signed statement that a
statute lets it share some sections within the MDT without the survivor's release.

Read at the owner's disclosure point on every request (never cached across requests, so a
retired basis stops counting at once), its signature checked against the owner's own
signing key before it counts (a check's answer is kept: the same document, signature and
key give the same answer). Only a system-based agency records one (see
`portal.services.legal_bases`); a basis found on a community-based owner is ignored.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import date, datetime, tzinfo

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy import bindparam, or_
from sqlmodel import Session, select

import consent
from portal.audit import ChangedMeanwhile, recheck_under_lock, rechecks
from portal.crypto import KeyWrapper
from portal.keyring import data_secret
from portal.models import Agency, AgencyKey, AgencyKind, Client, KeyPurpose, LegalBasis
from portal.models.client import identity_sealed_for

# The bases in force at `at` of some owners, with the key each names: built once, as it is
# read for every request that asks a system-based owner.
_IN_FORCE = (
    select(LegalBasis, AgencyKey.public_key)
    .join(
        AgencyKey,
        (AgencyKey.key_id == LegalBasis.key_id)
        & (AgencyKey.agency_id == LegalBasis.agency_id)
        & (AgencyKey.purpose == KeyPurpose.SIGNING),
    )
    .where(
        LegalBasis.agency_id.in_(bindparam("owners", expanding=True)),
        LegalBasis.created_at <= bindparam("at"),
        or_(LegalBasis.retired_at.is_(None), LegalBasis.retired_at > bindparam("at")),
    )
    .order_by(LegalBasis.created_at, LegalBasis.id)
)


def in_force(db: Session, owner: Agency, *, at: datetime, cache: dict) -> list[LegalBasis]:
    """The owner's bases in force at `at` whose signature verifies; one read per request."""
    if owner.id not in cache:
        prefetch(db, [owner], at=at, cache=cache)
    return cache[owner.id]


def prefetch(db: Session, owners: list[Agency], *, at: datetime, cache: dict) -> None:
    """`in_force` for several owners in one read (a case summary asks every owner's)."""
    asked = {owner.id: owner for owner in owners if owner.id not in cache}
    for owner_id in asked:
        cache[owner_id] = []
    systems = [owner.id for owner in asked.values() if owner.kind == AgencyKind.SYSTEM]
    if not systems:
        return
    read = {owner_id: set() for owner_id in systems}
    for basis, public_key in db.exec(_IN_FORCE, params={"owners": systems, "at": at}):
        read[basis.agency_id].add(basis.id)
        if _verifies(basis.document, basis.signature, public_key):
            cache[basis.agency_id].append(basis)
    noted = db.info.setdefault(_READ, {})
    noted.update({owner_id: (at, ids) for owner_id, ids in read.items()})
    recheck_under_lock(db, "legal bases", _unchanged)


# Session.info: owner id -> (at, the ids of its bases in force)
_READ = rechecks.notes("legal_bases_read")
_IDS_IN_FORCE = select(LegalBasis.agency_id, LegalBasis.id).where(
    LegalBasis.agency_id.in_(bindparam("owners", expanding=True)),
    LegalBasis.created_at <= bindparam("at"),
    or_(LegalBasis.retired_at.is_(None), LegalBasis.retired_at > bindparam("at")),
)


def _unchanged(db: Session, rows) -> None:
    """ChangedMeanwhile when a basis an owner had in force as the page read them is no
    longer, and a release among `rows` is that owner's: a retirement holds the owner's log
    from its start (`services.legal_bases`), so one committed since is seen here. A basis
    recorded meanwhile withholds nothing, and an owner that had none is not read again."""
    noted = db.info.get(_READ, {})
    released = {o for o in rechecks.owners_released(rows) if noted.get(o, (None, ()))[1]}
    if not released:
        return
    at = noted[next(iter(released))][0]  # one request's: read at one time
    now = db.connection().execute(_IDS_IN_FORCE, {"owners": sorted(released), "at": at})
    in_force = {basis_id for _owner, basis_id in now}
    if any(noted[owner_id][1] - in_force for owner_id in released):
        raise ChangedMeanwhile("A legal basis of the agency changed")


@functools.lru_cache(maxsize=1024)
def _verifies(document: str, signature: str, public_key: str | None) -> bool:
    """Whether `signature` is the key's over `document`: the same answer for the same three
    every time, so kept (a retired basis or key is left out by the read, not here)."""
    if not public_key:
        return False
    try:
        VerifyKey(base64.b64decode(public_key)).verify(
            document.encode(), base64.b64decode(signature)
        )
    except (BadSignatureError, ValueError):
        return False
    return True


def covering(
    db: Session,
    owner: Agency,
    *,
    client_id: int,
    section_key: str,
    purpose: str,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: dict,
) -> LegalBasis | None:
    """The first basis in force that covers this section and purpose for this client (under
    the basis's age, where it is for minors only), or None. What it covers is read from the
    signed document, never from the row's columns (which only index it)."""
    for basis in in_force(db, owner, at=at, cache=cache):
        signed = json.loads(basis.document)
        if section_key not in signed.get("sections", ()) or signed.get("purpose") != purpose:
            continue
        if signed.get("agency") != owner.public_id:
            continue
        under_age = basis.under_age(signed)
        if under_age is not None and not younger_than(
            db, owner, client_id, under_age, at=at, tz=tz, keys=keys
        ):
            continue
        return basis
    return None


def named(basis: LegalBasis) -> str:
    """How an audit entry and a placeholder name the basis a disclosure was made under."""
    return f"{basis.citation} ({basis.public_id})"


def citation(named_basis: str) -> str:
    """What a person reads of a basis as `named` names it: its citation; the id after it is
    for the audit log, which names the very record."""
    head, parenthesis, tail = named_basis.rpartition(" (")
    return head if parenthesis and len(tail) == 37 and tail.endswith(")") else named_basis


def younger_than(
    db: Session,
    owner: Agency,
    client_id: int,
    age: int,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
) -> bool:
    """Whether the client is younger than `age`: from the owner's own sealed identity of
    its client, never from anything typed in; a birthday begins at midnight where the MDT
    is."""
    client = db.get(Client, client_id)
    _key_id, secret = data_secret(db, owner.id, keys=keys, key_id=client.key_id)
    born = keys.open_sealed(
        secret, client.identity_sealed, bound_to=identity_sealed_for(owner.id, client.id)
    ).get("birth_date")
    if not born:
        return False  # unknown age: a minors-only basis does not apply
    return consent.age_on(date.fromisoformat(born), at.astimezone(tz).date()) < age
