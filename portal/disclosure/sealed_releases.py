"""A release's or a revocation's document as stored: sealed for its row under the agency's
data key, or, for a row written before documents were sealed, in clear until `portal keys
reseal` seals it. Every reader opens documents here, and nowhere else.

Sealed as `{"document": text}`, so the signed JSON opens byte for byte as it was written
(the consent gate memoises verification on those bytes, a download hands them out).
"""

from __future__ import annotations

from collections.abc import Iterable

import nacl.exceptions
from sqlalchemy import bindparam, select
from sqlmodel import Session

from portal import crypto
from portal.crypto import KeyWrapper
from portal.db import read
from portal.errors import NotFound
from portal.keyring import confirm_held, data_secret
from portal.models import AgencyKey, ConsentRelease, KeyPurpose, ReleaseRevocation
from portal.models.release import release_sealed_for, revocation_sealed_for


def sealed_value(text: str) -> dict:
    """What is sealed for a document `text` (see the module's note)."""
    return {"document": text}


def open_text(secret: bytes, sealed: bytes, place: str) -> str:
    """The document sealed for `place`; SealedElsewhere for one sealed for another row, or
    tampered with. Only the bound form: documents were never sealed the old way."""
    try:
        value = crypto.open_json(secret, sealed, bound_to=place, old_form=False)
    except (nacl.exceptions.CryptoError, ValueError) as error:
        raise crypto.SealedElsewhere(f"a sealed document does not open as {place}") from error
    if not isinstance(value, dict) or not isinstance(value.get("document"), str):
        raise crypto.SealedElsewhere(f"a record that is no document was read as {place}")
    return value["document"]


def release_text(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> str:
    """The release's document (a draft's fields, or the signed envelope), as written.
    SealedElsewhere for one sealed for another row (moved, tampered with)."""
    if row.document_sealed is None:
        return row.document
    place = release_sealed_for(row.agency_id, row.client_id, row.id)
    secret = _secret(db, row.agency_id, row.data_key_id, keys)
    return open_text(secret, row.document_sealed, place)


def revocation_text(
    db: Session, revocation: ReleaseRevocation, release: ConsentRelease, *, keys: KeyWrapper
) -> str:
    """The signed revocation envelope of `release`, as written; SealedElsewhere as above."""
    if revocation.document_sealed is None:
        return revocation.document
    place = revocation_sealed_for(release.agency_id, release.client_id, release.id, revocation.id)
    secret = _secret(db, release.agency_id, revocation.data_key_id, keys)
    return open_text(secret, revocation.document_sealed, place)


def _secret(db: Session, agency_id: int, key_id: str | None, keys: KeyWrapper) -> bytes:
    """The agency's data key `key_id`; a key of no agency or another opens nothing here."""
    if key_id is None:
        raise crypto.SealedElsewhere("a sealed document names no data key")
    try:
        return data_secret(db, agency_id, keys=keys, key_id=key_id)[1]
    except NotFound:
        raise crypto.SealedElsewhere(
            f"a sealed document names a key not agency {agency_id}'s"
        ) from None


_DATA_KEYS = select(AgencyKey.agency_id, AgencyKey.key_id, AgencyKey.wrapped_secret).where(
    AgencyKey.purpose == KeyPurpose.DATA,
    AgencyKey.key_id.in_(bindparam("key_ids", expanding=True)),
)


def known_secrets(db: Session, key_ids: Iterable[str | None], *, keys: KeyWrapper) -> None:
    """Unwrap, in one statement, every data key named here that this process does not hold
    yet (KeyWrapper's memo): opening a page of releases then reads no key row per release.
    Held keys another process has erased are forgotten first (`confirm_held`)."""
    confirm_held(db, keys)
    missing = sorted({k for k in key_ids if k is not None and keys.known_key(k) is None})
    if missing:
        for agency_id, key_id, wrapped in read(db, _DATA_KEYS, {"key_ids": missing}):
            keys.unwrap_key(key_id, agency_id, wrapped)


def held_secret(keys: KeyWrapper, agency_id: int, key_id: str | None) -> bytes | None:
    """The agency's data key `key_id` if `known_secrets` unwrapped it; None for a key of no
    agency here or of another agency (it opens nothing of this one's)."""
    known = None if key_id is None else keys.known_key(key_id)
    if known is None or known[0] != agency_id:
        return None
    return known[1]
