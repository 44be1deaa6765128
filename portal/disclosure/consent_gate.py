"""The consent gate: a signed release, in effect now, naming this recipient, section, purpose.

Releases and revocations are read from the database on every request (never cached), so
a revocation or an expiry takes effect on the very next request. Only the signature check
of an immutable signed document is memoised, keyed on the document's own bytes and the
keys it was checked with; whether it was signed by now is checked on every call.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from nacl.signing import VerifyKey
from sqlalchemy import bindparam
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

import consent
from portal.db import read
from portal.disclosure.gates import Gate
from portal.models import (
    Agency,
    AgencyKey,
    Client,
    ConsentRelease,
    KeyPurpose,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseState,
)

# Gate names, as they appear in placeholders and audit entries.
NO_CONSENT = Gate.NO_CONSENT
CONSENT_EXPIRED = Gate.CONSENT_EXPIRED
CONSENT_REVOKED = Gate.CONSENT_REVOKED


@dataclass(frozen=True)
class ConsentAnswer:
    allowed: bool
    gate: Gate | None
    release_status: str | None  # the consent library's words for a release not in effect
    release_ref: str | None


@dataclass(frozen=True)
class _RevocationRow:
    public_id: str
    revoked_at: datetime
    document: str


@dataclass(frozen=True)
class Candidate:
    public_id: str
    release: consent.Release | None  # None when the signature did not verify
    revocations: tuple[consent.Revocation, ...]


_verified: OrderedDict[tuple[str, str, str], object] = OrderedDict()
_NOT_YET = object()  # not verified yet (None is a verification that failed)
_verified_lock = threading.Lock()
_VERIFIED_MAX = 4096
# Verification is memoised at no particular time: every check but "signed by now" holds
# for good for one document under one key ring, and that one is made on every call.
_ANY_TIME = datetime.max.replace(tzinfo=UTC)
_VERIFIERS = {
    "release": (consent.verify, lambda release: release.signed_at),
    "revocation": (consent.verify_revocation, lambda revocation: revocation.revoked_at),
}


def _verified_document(kind: str, document: str, ring_fingerprint: str, ring, at: datetime):
    """The signed document (release or revocation) if its signature verifies and it was
    signed by `at`, else None."""
    key = (kind, hashlib.sha256(document.encode()).hexdigest(), ring_fingerprint)
    verify, signed_at_of = _VERIFIERS[kind]
    with _verified_lock:
        found = _verified.get(key, _NOT_YET)
    if found is _NOT_YET:
        verification = verify(json.loads(document), ring, at=_ANY_TIME)
        found = verification.document if verification.ok else None
        with _verified_lock:
            _verified[key] = found
            while len(_verified) > _VERIFIED_MAX:
                _verified.popitem(last=False)
    if found is None or signed_at_of(found) > at:
        return None
    return found


@functools.lru_cache(maxsize=1024)
def _verify_key(public_key_b64: str) -> VerifyKey:
    return VerifyKey(base64.b64decode(public_key_b64))


def _ring(db: Session, key_ids: set[str], known: dict[str, tuple] | None = None):
    """A key ring of just the signing keys these documents name (and its fingerprint).

    `known`: key rows already read (key id -> public key, created, retired, agency); the
    documents' own key ids decide what the ring holds, and any not known are read here."""
    found = {k: row for k, row in (known or {}).items() if k in key_ids}
    if missing := sorted(key_ids - set(found)):
        for key_id, *row in read(db, _SIGNING_KEYS, {"key_ids": missing}):
            found[key_id] = tuple(row)
    entries = [
        consent.KeyEntry(
            key_id=key_id,
            agency_id=agency_public_id,
            verify_key=_verify_key(public_key),
            created_at=created_at,
            retired_at=retired_at,
        )
        for key_id, (public_key, created_at, retired_at, agency_public_id) in found.items()
    ]
    # Verification depends on the keys (and their retirement), so the cache key does too.
    fingerprint = hashlib.sha256(
        repr(
            sorted((e.key_id, bytes(e.verify_key), e.created_at, e.retired_at) for e in entries)
        ).encode()
    ).hexdigest()
    return consent.KeyRing(entries), fingerprint


@functools.lru_cache(maxsize=1024)
def _key_id(document: str) -> str:
    try:
        return str(json.loads(document)["signature"]["kid"])
    except (ValueError, KeyError, TypeError):
        return ""


# Each signed release of these clients naming the recipient, with its revocations if any
# and the signing key its row names (so the usual key ring comes with the releases): one
# row per (release, revocation), newest release first.
_KEY_AGENCY = aliased(Agency)
_RELEASES = (
    select(
        ConsentRelease.id,
        ConsentRelease.public_id,
        ConsentRelease.agency_id,
        ConsentRelease.client_id,
        Client.public_id.label("client_ref"),
        ConsentRelease.document,
        ReleaseRevocation.public_id.label("revocation_id"),
        ReleaseRevocation.revoked_at,
        ReleaseRevocation.document.label("revocation"),
        AgencyKey.key_id,
        AgencyKey.public_key,
        AgencyKey.created_at.label("key_created_at"),
        AgencyKey.retired_at.label("key_retired_at"),
        _KEY_AGENCY.public_id.label("key_agency"),
    )
    .join(Client, Client.id == ConsentRelease.client_id)
    .outerjoin(ReleaseRevocation, ReleaseRevocation.release_id == ConsentRelease.id)
    .outerjoin(
        AgencyKey,
        (AgencyKey.key_id == ConsentRelease.key_id) & (AgencyKey.purpose == KeyPurpose.SIGNING),
    )
    .outerjoin(_KEY_AGENCY, _KEY_AGENCY.id == AgencyKey.agency_id)
    .where(
        ConsentRelease.client_id.in_(bindparam("clients", expanding=True)),
        ConsentRelease.agency_id.in_(bindparam("owners", expanding=True)),
        ConsentRelease.state == ReleaseState.SIGNED,
        ConsentRelease.id.in_(
            select(ReleaseRecipient.release_id).where(
                ReleaseRecipient.agency_id == bindparam("recipient")
            )
        ),
    )
    .order_by(ConsentRelease.signed_at.desc(), ConsentRelease.id, ReleaseRevocation.id)
)
_ONE_RELEASE = _RELEASES.where(ConsentRelease.id == bindparam("release"))

_SIGNING_KEYS = (
    select(
        AgencyKey.key_id,
        AgencyKey.public_key,
        AgencyKey.created_at,
        AgencyKey.retired_at,
        Agency.public_id,
    )
    .join(Agency, Agency.id == AgencyKey.agency_id)
    .where(
        AgencyKey.purpose == KeyPurpose.SIGNING,
        AgencyKey.key_id.in_(bindparam("key_ids", expanding=True)),
    )
)


def candidates(
    db: Session,
    *,
    owner: Agency,
    client_id: int,
    recipient: Agency,
    at: datetime,
    cache: dict[tuple, list[Candidate]],
    only_release_id: int | None = None,
) -> list[Candidate]:
    """Signed releases of this owner's client that name this recipient, verified.

    `cache`: one request's (RequestCache.candidates), never longer."""
    key = (owner.id, client_id, recipient.id, only_release_id)
    if key not in cache:
        prefetch(
            db,
            [(owner, client_id)],
            recipient=recipient,
            at=at,
            cache=cache,
            only_release_id=only_release_id,
        )
    return cache[key]


def prefetch(
    db: Session,
    owners_clients: list[tuple[Agency, int]],
    *,
    recipient: Agency,
    at: datetime,
    cache: dict[tuple, list[Candidate]],
    only_release_id: int | None = None,
) -> None:
    """`candidates()` for several owners' clients at once (a case summary reads every
    owner's): the releases with their revocations, and the signing keys, in two queries."""
    owners = {client_id: owner for owner, client_id in owners_clients}
    params = {
        "clients": list(owners),
        "owners": sorted({owner.id for owner in owners.values()}),
        "recipient": recipient.id,
    }
    if only_release_id is not None:
        params["release"] = only_release_id
    found_rows = read(db, _RELEASES if only_release_id is None else _ONE_RELEASE, params)
    rows, revoked, keys = {}, {}, {}
    for row in found_rows:
        if owners[row.client_id].id != row.agency_id:  # a client belongs to its own agency
            continue
        rows.setdefault(row.id, row)
        if row.public_key is not None:
            keys[row.key_id] = (
                row.public_key,
                row.key_created_at,
                row.key_retired_at,
                row.key_agency,
            )
        if row.revocation_id is not None:
            revoked.setdefault(row.id, []).append(
                _RevocationRow(row.revocation_id, row.revoked_at, row.revocation)
            )
    rows = list(rows.values())
    documents = [row.document for row in rows] + [
        r.document for found_revocations in revoked.values() for r in found_revocations
    ]
    ring, fingerprint = _ring(db, {_key_id(d) for d in documents}, keys) if rows else (None, "")
    found: dict[int, list[Candidate]] = {client_id: [] for client_id in owners}
    for row in rows:
        release = _verified_document("release", row.document, fingerprint, ring, at)
        if release is not None and not _signed_for(release, row, owners[row.client_id]):
            release = None  # a signed document moved onto another row signs nothing there
        revocations = []
        for revocation_row in revoked.get(row.id, []):
            revocation = _verified_document(
                "revocation", revocation_row.document, fingerprint, ring, at
            )
            if revocation is not None:
                revocations.append(revocation)
            else:
                # A revocation we cannot verify still stops the release: failing closed.
                revocations.append(
                    unverified_revocation(
                        release_id=row.public_id,
                        revocation_id=revocation_row.public_id,
                        revoked_at=revocation_row.revoked_at,
                        disclosing_agency=owners[row.client_id].public_id,
                    )
                )
        found[row.client_id].append(Candidate(row.public_id, release, tuple(revocations)))
    for client_id, owner in owners.items():
        cache[(owner.id, client_id, recipient.id, only_release_id)] = found[client_id]


def _signed_for(release: consent.Release, row, owner: Agency) -> bool:
    """Whether the signed document is the release of this row: its own id, this client's
    and this owner's. The row's client and agency are copies a database writer could
    change; the signature covers only what the document says."""
    return (release.release_id, release.client_ref, release.disclosing_agency) == (
        row.public_id,
        row.client_ref,
        owner.public_id,
    )


def unverified_revocation(
    *, release_id: str, revocation_id: str, revoked_at: datetime, disclosing_agency: str
) -> consent.Revocation:
    """A revocation on record whose signed document does not verify: it still stops the
    release from the time its row gives (failing closed), wherever a release is judged."""
    return consent.Revocation(
        revocation_id=revocation_id,
        release_id=release_id,
        disclosing_agency=disclosing_agency,
        revoked_at=revoked_at,
        recorded_by=consent.StaffRef("unknown", "unknown"),
        reason=None,
    )


def check(
    found: list[Candidate],
    *,
    recipient: Agency,
    section_key: str,
    purpose: str,
    at: datetime,
    tz: tzinfo,
) -> ConsentAnswer:
    """Allowed by the first release that covers the request; otherwise the clearest gate,
    with the state of the release that came closest (revoked, then expired, then not yet
    in effect), or none when no release covers the section for this purpose at all. The
    state's dates are written in `tz`, the MDT's time zone: they are read by its staff."""
    blocked: dict[Gate, tuple[str, str]] = {}
    for candidate in found:
        if candidate.release is None:
            continue
        coverage = consent.covers(
            candidate.release,
            candidate.revocations,
            recipient=recipient.public_id,
            section=section_key,
            purpose=purpose,
            at=at,
            tz=tz,
        )
        if coverage.covered:
            return ConsentAnswer(True, None, None, candidate.public_id)
        if section_key not in candidate.release.sections or purpose != candidate.release.purpose:
            continue
        if coverage.code == consent.CoverageCode.REVOKED:
            blocked.setdefault(CONSENT_REVOKED, (coverage.reason, candidate.public_id))
        elif coverage.code == consent.CoverageCode.EXPIRED:
            blocked.setdefault(CONSENT_EXPIRED, (coverage.reason, candidate.public_id))
        elif coverage.code == consent.CoverageCode.NOT_YET_EFFECTIVE:
            blocked.setdefault(NO_CONSENT, (coverage.reason, candidate.public_id))
    for gate in (CONSENT_REVOKED, CONSENT_EXPIRED, NO_CONSENT):
        if gate in blocked:
            status, ref = blocked[gate]
            return ConsentAnswer(False, gate, status, ref)
    return ConsentAnswer(False, NO_CONSENT, None, None)


def joining_release(
    db: Session, *, owner: Agency, client_id: int, coordinating: Agency, purpose: str, at: datetime
) -> str | None:
    """The release under which this owner's client may join an MDT case (issue 14): signed,
    in effect now, naming the coordinating agency for this purpose. Its public id, or None.

    Joining discloses nothing of the record itself, so no section need be named; what a
    partner may then read is decided section by section at the disclosure point."""
    for candidate in candidates(
        db, owner=owner, client_id=client_id, recipient=coordinating, at=at, cache={}
    ):
        release = candidate.release
        if release is None or release.purpose != purpose:
            continue
        if coordinating.public_id not in release.recipients:
            continue
        if (
            consent.status(release, candidate.revocations, at=at).state
            is consent.ReleaseState.ACTIVE
        ):
            return candidate.public_id
    return None
