"""Adding one sealed version of one section of an own client: the only writer of
section_entry. The section form (services/sections.py) and the services that write a
section of their own (the screening record, the safety plan's strategies) all come here."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from portal import crypto
from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.models import Actor, Client, SectionEntry
from portal.models.section import sealed_for, sealed_places
from portal.sections import SectionContent
from portal.services.keys import data_secret, sealing_secret


def latest(db: Session, client: Client, section_key: str) -> SectionEntry | None:
    return db.exec(
        select(SectionEntry)
        .where(
            SectionEntry.agency_id == client.agency_id,
            SectionEntry.client_id == client.id,
            SectionEntry.section_key == section_key,
        )
        .order_by(SectionEntry.version.desc())
        .limit(1)
    ).first()


def add_version(
    db: Session,
    client: Client,
    section_key: str,
    content: SectionContent,
    *,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> SectionEntry:
    """Seal `content` (already checked) as the next version; audited in this transaction."""
    # The agency's log is locked first: two saves at once take the next numbers in turn
    # (the second would otherwise fail on the version's uniqueness).
    lock_logs(db, [client.agency_id])
    newest = db.exec(
        select(func.max(SectionEntry.version)).where(
            SectionEntry.client_id == client.id, SectionEntry.section_key == section_key
        )
    ).one()
    key_id, secret = sealing_secret(db, client.agency_id, keys=keys)
    version = (newest or 0) + 1
    entry = SectionEntry(
        agency_id=client.agency_id,
        client_id=client.id,
        section_key=section_key,
        version=version,
        key_id=key_id,
        content_sealed=crypto.seal_json(
            secret,
            content,
            bound_to=sealed_for(client.agency_id, client.id, section_key, version),
        ),
        author_id=actor.id if actor else None,
        at=at,
    )
    db.add(entry)
    db.flush()
    record(
        db,
        AuditTag.SECTION_SAVED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"section": section_key, "version": entry.version},
        at=at,
    )
    return entry


def open_content(db: Session, entry: SectionEntry, *, keys: KeyWrapper) -> SectionContent:
    _, secret = data_secret(db, entry.agency_id, keys=keys, key_id=entry.key_id)
    places = sealed_places(entry.agency_id, entry.client_id, entry.section_key, entry.version)
    return keys.open_sealed(secret, entry.content_sealed, bound_to=places)
