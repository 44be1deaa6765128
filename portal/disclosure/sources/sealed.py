"""Sealed section versions (and, for the identity section, the sealed identity record)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from portal import crypto
from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.keyring import data_secret
from portal.models import Client, SectionEntry

IDENTITY_ROWS = (
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("birth_date", "Date of birth"),
    ("phone", "Phone"),
    ("email", "Email"),
    ("address", "Address"),
)


def latest_entries(
    db: Session, owner_id: int, client_id: int, cache: SourceCache
) -> dict[str, SectionEntry]:
    """The newest version of each section of one client, one query per owner and request."""
    key = (owner_id, client_id)
    if key not in cache.latest:
        newest = (
            select(SectionEntry.section_key, func.max(SectionEntry.version).label("version"))
            .where(SectionEntry.agency_id == owner_id, SectionEntry.client_id == client_id)
            .group_by(SectionEntry.section_key)
            .subquery()
        )
        rows = db.exec(
            select(SectionEntry)
            .join(
                newest,
                (SectionEntry.section_key == newest.c.section_key)
                & (SectionEntry.version == newest.c.version),
            )
            .where(SectionEntry.agency_id == owner_id, SectionEntry.client_id == client_id)
        ).all()
        cache.latest[key] = {row.section_key: row for row in rows}
    return cache.latest[key]


def _secret(db, owner_id: int, key_id: str, keys: KeyWrapper, cache: SourceCache) -> bytes:
    key = (owner_id, key_id)
    if key not in cache.secrets:
        cache.secrets[key] = data_secret(db, owner_id, keys=keys, key_id=key_id)[1]
    return cache.secrets[key]


class SealedSections:
    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        owner_id, client_id, section = wanted.owner_id, wanted.client_id, wanted.section
        entry = latest_entries(db, owner_id, client_id, cache).get(section.stored_as)
        values = {}
        if entry is not None:
            values = crypto.open_json(
                _secret(db, owner_id, entry.key_id, keys, cache), entry.content_sealed
            )
        rows = []
        if section.identifying:
            client = db.get(Client, client_id)
            identity = crypto.open_json(
                _secret(db, owner_id, client.key_id, keys, cache), client.identity_sealed
            )
            rows.extend(
                Row(label, "text", identity.get(name) or "") for name, label in IDENTITY_ROWS
            )
        for field in section.fields:
            rows.append(Row(field.label, field.type, values.get(field.key)))
        return Content(tuple(rows), entry.version if entry else None, entry.at if entry else None)
