"""An agency's data keys as stored: which is current, and a key's secret unwrapped.

Below the services on purpose: the agency's own services seal with these keys, and the
owner-side sources (portal/sources) open what the disclosure point has allowed.
"""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.errors import NotFound
from portal.models import AgencyKey, KeyPurpose


def current_key(db: Session, agency_id: int, purpose: KeyPurpose) -> AgencyKey:
    key = db.exec(
        select(AgencyKey)
        .where(
            AgencyKey.agency_id == agency_id,
            AgencyKey.purpose == purpose,
            AgencyKey.retired_at.is_(None),
        )
        .order_by(AgencyKey.created_at.desc(), AgencyKey.id.desc())
    ).first()
    if key is None:
        raise NotFound("agency key")
    return key


def data_secret(
    db: Session, agency_id: int, *, keys: KeyWrapper, key_id: str | None = None
) -> tuple[str, bytes]:
    """(key id, secret) of the agency's current data key, or of the one named."""
    if key_id is None:
        key = current_key(db, agency_id, KeyPurpose.DATA)
    else:
        key = db.exec(
            select(AgencyKey).where(AgencyKey.agency_id == agency_id, AgencyKey.key_id == key_id)
        ).first()
        if key is None:
            raise NotFound("agency key")
    return key.key_id, keys.unwrap_key(key.key_id, key.agency_id, key.wrapped_secret)


def confirm_held(db: Session, keys: KeyWrapper) -> None:
    """Forget the data keys this process holds unwrapped that are no longer in the
    database: another process erased them. Asked at most every `confirm_seconds` of the
    wrapper (one statement), before a memoised key opens anything."""
    if asked := keys.due_for_confirmation():
        existing = db.exec(
            select(AgencyKey.key_id).where(
                AgencyKey.purpose == KeyPurpose.DATA, AgencyKey.key_id.in_(asked)
            )
        ).all()
        keys.confirmed(asked, existing)


def data_secrets(db: Session, agency_id: int, *, keys: KeyWrapper) -> list[tuple[str, bytes]]:
    """(key id, secret) of every data key the agency holds, the current one first: while a
    rotation's records are being moved onto the new key, some are still under earlier ones."""
    held = db.exec(
        select(AgencyKey)
        .where(AgencyKey.agency_id == agency_id, AgencyKey.purpose == KeyPurpose.DATA)
        .order_by(
            AgencyKey.retired_at.is_not(None), AgencyKey.created_at.desc(), AgencyKey.id.desc()
        )
    ).all()
    return [
        (key.key_id, keys.unwrap_key(key.key_id, key.agency_id, key.wrapped_secret)) for key in held
    ]
