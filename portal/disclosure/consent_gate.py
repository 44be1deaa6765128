"""The consent gate: a signed release, in effect now, naming this recipient, section, purpose.

Releases and revocations are read from the database on every request (never cached), so
a revocation or an expiry takes effect on the very next request. Only the signature check
of an immutable signed document is memoised, keyed on the document's own bytes and the
keys it was checked with; whether it was signed by now is checked on every call.

Documents are sealed for their row under the owner's data key (portal.disclosure.
sealed_releases): read with their rows, opened with keys the node's wrapper holds. One
that does not open for its row is no release (deny by default); a revocation that does
not open still revokes.
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
from portal.crypto import KeyWrapper, SealedElsewhere
from portal.db import read
from portal.disclosure.gates import Gate
from portal.disclosure.sealed_releases import held_secret, known_secrets, open_text
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
from portal.models.release import release_sealed_for, revocation_sealed_for

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
    document: str | None  # None: sealed, and it did not open for its row


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


def _verified_document(kind: str, document: str | None, ring_fingerprint: str, ring, at: datetime):
    """The signed document (release or revocation) if its signature verifies and it was
    signed by `at`, else None (None too for a document that did not open)."""
    if document is None:
        return None
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
def _key_id(document: str | None) -> str:
    if document is None:
        return ""
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
        ConsentRelease.document_sealed,
        ConsentRelease.data_key_id,
        ReleaseRevocation.id.label("revocation_row"),
        ReleaseRevocation.public_id.label("revocation_id"),
        ReleaseRevocation.revoked_at,
        ReleaseRevocation.document.label("revocation"),
        ReleaseRevocation.document_sealed.label("revocation_sealed"),
        ReleaseRevocation.data_key_id.label("revocation_key_id"),
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
    keys: KeyWrapper,
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
            keys=keys,
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
    keys: KeyWrapper,
    cache: dict[tuple, list[Candidate]],
    only_release_id: int | None = None,
) -> None:
    """`candidates()` for several owners' clients at once (a case summary reads every
    owner's): the releases with their revocations, and the signing keys, in two queries;
    a third unwraps the data keys sealing them that this process does not hold yet."""
    owners = {client_id: owner for owner, client_id in owners_clients}
    params = {
        "clients": list(owners),
        "owners": sorted({owner.id for owner in owners.values()}),
        "recipient": recipient.id,
    }
    if only_release_id is not None:
        params["release"] = only_release_id
    found_rows = [
        row
        for row in read(db, _RELEASES if only_release_id is None else _ONE_RELEASE, params)
        if owners[row.client_id].id == row.agency_id  # a client belongs to its own agency
    ]
    known_secrets(
        db,
        [row.data_key_id for row in found_rows] + [row.revocation_key_id for row in found_rows],
        keys=keys,
    )
    rows, texts, revoked, signing = {}, {}, {}, {}
    for row in found_rows:
        if row.id not in rows:
            rows[row.id] = row
            texts[row.id] = _release_text(row, keys)
        if row.public_key is not None:
            signing[row.key_id] = (
                row.public_key,
                row.key_created_at,
                row.key_retired_at,
                row.key_agency,
            )
        if row.revocation_id is not None:
            revoked.setdefault(row.id, []).append(
                _RevocationRow(row.revocation_id, row.revoked_at, _revocation_text(row, keys))
            )
    rows = list(rows.values())
    documents = list(texts.values()) + [
        r.document for found_revocations in revoked.values() for r in found_revocations
    ]
    ring, fingerprint = _ring(db, {_key_id(d) for d in documents}, signing) if rows else (None, "")
    found: dict[int, list[Candidate]] = {client_id: [] for client_id in owners}
    for row in rows:
        release = _verified_document("release", texts[row.id], fingerprint, ring, at)
        if release is not None and not _signed_for(release, row, owners[row.client_id]):
            release = None  # a signed document moved onto another row signs nothing there
        revocations = []
        for revocation_row in revoked.get(row.id, []):
            revocation = _verified_document(
                "revocation", revocation_row.document, fingerprint, ring, at
            )
            owner = owners[row.client_id].public_id
            if revocation is not None and revokes(revocation, row.public_id, owner):
                revocations.append(revocation)
            else:
                # A revocation we cannot verify, or one signed for another release and put
                # on this one's row, still stops the release: failing closed.
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


def _release_text(row, keys: KeyWrapper) -> str | None:
    """The release row's document: in clear (written before documents were sealed), or
    opened for its row; None when it does not open there (moved, tampered with)."""
    if row.document_sealed is None:
        return row.document
    place = release_sealed_for(row.agency_id, row.client_id, row.id)
    return _opened(keys, row.agency_id, row.data_key_id, row.document_sealed, place)


def _revocation_text(row, keys: KeyWrapper) -> str | None:
    if row.revocation_sealed is None:
        return row.revocation
    place = revocation_sealed_for(row.agency_id, row.client_id, row.id, row.revocation_row)
    return _opened(keys, row.agency_id, row.revocation_key_id, row.revocation_sealed, place)


def _opened(keys: KeyWrapper, agency_id: int, key_id: str | None, sealed, place: str):
    secret = held_secret(keys, agency_id, key_id)
    if secret is None:  # a key of no agency here, or of another: opens nothing of this one
        return None
    try:
        return open_text(secret, sealed, place)
    except SealedElsewhere:
        return None


def revokes(revocation: consent.Revocation, release_id: str, agency: str) -> bool:
    """Whether a signed revocation is one of this release (its id, its disclosing agency's
    public id): the library counts a revocation only for the release it names, so one moved
    onto this release's row would revoke nothing."""
    return (revocation.release_id, revocation.disclosing_agency) == (release_id, agency)


def _signed_for(release: consent.Release, row, owner: Agency) -> bool:
    """Whether the signed document is the release of this row: its own id, this client's
    and this owner's. The row's client and agency are copies a database writer could
    change; the signature covers only what the document says."""
    return (release.release_id, release.client_ref, release.disclosing_agency) == (
        row.public_id,
        row.client_ref,
        owner.public_id,
    )


def verified_release(
    db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime
) -> consent.Release | None:
    """One signed release as this gate counts it: its document opened for its row, its
    signature verified with the node's signing keys, signed by `at`, and signed as this
    row's release (its id, client and agency); None otherwise, a release that counts as
    none. For a page that shows a release's standing; a disclosure reads many at once
    (`prefetch`), by the same checks."""
    if row.state != ReleaseState.SIGNED:
        return None
    known_secrets(db, [row.data_key_id], keys=keys)
    text = _release_text(row, keys)
    ring, fingerprint = _ring(db, {_key_id(text)})
    release = _verified_document("release", text, fingerprint, ring, at)
    if release is None:
        return None
    client_ref = db.exec(select(Client.public_id).where(Client.id == row.client_id)).one()
    owner = db.get(Agency, row.agency_id)
    return release if _signed_for(release, _Row(row.public_id, client_ref), owner) else None


@dataclass(frozen=True)
class _Row:
    public_id: str
    client_ref: str


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
        # A release's state is told only to a recipient its signed document names: the
        # recipient row that found it is a copy, and a revocation's date is the survivor's.
        if (
            recipient.public_id not in candidate.release.recipients
            or section_key not in candidate.release.sections
            or purpose != candidate.release.purpose
        ):
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
    db: Session,
    *,
    owner: Agency,
    client_id: int,
    coordinating: Agency,
    purpose: str,
    at: datetime,
    keys: KeyWrapper,
) -> str | None:
    """The release under which this owner's client may join an MDT case (issue 14): signed,
    in effect now, naming the coordinating agency for this purpose. Its public id, or None.

    Joining discloses nothing of the record itself, so no section need be named; what a
    partner may then read is decided section by section at the disclosure point."""
    for candidate in candidates(
        db, owner=owner, client_id=client_id, recipient=coordinating, at=at, keys=keys, cache={}
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
