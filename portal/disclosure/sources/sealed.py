"""Sealed section versions (and, for the identity section, the sealed identity record).

Read in a few prebuilt statements per request, whatever the number of owners: the first
section read for a case loads the newest version of every section of every client linked
to that case, and the first identifying section loads those clients' sealed identities.
The data keys they are sealed with are unwrapped once per key for the life of the node's
key wrapper (`KeyWrapper.unwrap_key`), and read from the database only when not yet known.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from nacl.exceptions import CryptoError
from sqlalchemy import and_, bindparam, func, select
from sqlmodel import Session

from portal.crypto import KeyWrapper, SealedElsewhere
from portal.db import read
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.errors import NotFound
from portal.keyring import confirm_held
from portal.models import AgencyKey, CaseLink, Client, SectionEntry
from portal.models.client import identity_sealed_for
from portal.models.section import sealed_places


class Sealed(NamedTuple):
    """One sealed record as read: the newest version of a section, or an identity."""

    key_id: str
    sealed: bytes
    version: int | None = None
    at: datetime | None = None


_entry, _link = SectionEntry.__table__, CaseLink.__table__
_client, _key = Client.__table__, AgencyKey.__table__


_newer = _entry.alias("newer")
# The newest version of the entry's section: looked up by the index on (agency, client,
# section, version) for each entry reached, so the statement is driven by the pairs wanted.
_NEWEST = (
    select(func.max(_newer.c.version))
    .where(
        _newer.c.agency_id == _entry.c.agency_id,
        _newer.c.client_id == _entry.c.client_id,
        _newer.c.section_key == _entry.c.section_key,
    )
    .scalar_subquery()
)
_ENTRY_COLUMNS = (
    _entry.c.section_key,
    _entry.c.version,
    _entry.c.key_id,
    _entry.c.content_sealed,
    _entry.c.at,
)
# Every (agency, client) pair linked to the case, with the newest version of each of its
# sections (a pair with none comes back once, empty): one statement for every owner.
_LATEST_OF_CASE = (
    select(_link.c.agency_id, _link.c.client_id, *_ENTRY_COLUMNS)
    .select_from(_link)
    .outerjoin(
        _entry,
        and_(
            _entry.c.agency_id == _link.c.agency_id,
            _entry.c.client_id == _link.c.client_id,
            _entry.c.version == _NEWEST,
        ),
    )
    .where(_link.c.case_id == bindparam("case"))
)
# One pair's (a release preview, which reads no case).
_LATEST_OF_CLIENT = select(_entry.c.agency_id, _entry.c.client_id, *_ENTRY_COLUMNS).where(
    _entry.c.agency_id == bindparam("agency"),
    _entry.c.client_id == bindparam("client"),
    _entry.c.version == _NEWEST,
)

_IDENTITY_COLUMNS = (_client.c.id, _client.c.agency_id, _client.c.key_id, _client.c.identity_sealed)
_IDENTITIES_OF_CASE = (
    select(*_IDENTITY_COLUMNS)
    .join(_link, and_(_link.c.client_id == _client.c.id, _link.c.agency_id == _client.c.agency_id))
    .where(_link.c.case_id == bindparam("case"))
)
_IDENTITY = select(*_IDENTITY_COLUMNS).where(_client.c.id == bindparam("client"))
_KEYS = select(_key.c.agency_id, _key.c.key_id, _key.c.wrapped_secret).where(
    _key.c.key_id.in_(bindparam("key_ids", expanding=True))
)


def _load_latest(db: Session, wanted: Wanted, cache: SourceCache) -> dict[str, Sealed]:
    pair = (wanted.owner_id, wanted.client_id)
    if pair not in cache.latest and cache.case_id is not None and cache.case_id not in cache.cases:
        cache.cases.add(cache.case_id)
        _keep_latest(cache, read(db, _LATEST_OF_CASE, {"case": cache.case_id}))
    if pair not in cache.latest:
        cache.latest[pair] = {}
        _keep_latest(cache, read(db, _LATEST_OF_CLIENT, {"agency": pair[0], "client": pair[1]}))
    return cache.latest[pair]


def _keep_latest(cache: SourceCache, rows) -> None:
    for agency_id, client_id, section_key, version, key_id, sealed, at in rows:
        found = cache.latest.setdefault((agency_id, client_id), {})
        if section_key is not None:
            found[section_key] = Sealed(key_id, sealed, version, at)


def _load_identity(db: Session, wanted: Wanted, cache: SourceCache) -> Sealed:
    if wanted.client_id not in cache.identities and cache.case_id is not None:
        _keep_identities(cache, read(db, _IDENTITIES_OF_CASE, {"case": cache.case_id}))
    if wanted.client_id not in cache.identities:
        _keep_identities(cache, read(db, _IDENTITY, {"client": wanted.client_id}))
    owner, identity = cache.identities[wanted.client_id]
    if owner != wanted.owner_id:
        raise NotFound("client")
    return identity


def _keep_identities(cache: SourceCache, rows) -> None:
    for client_id, agency_id, key_id, sealed in rows:
        cache.identities[client_id] = (agency_id, Sealed(key_id, sealed))


def _secret(db: Session, owner_id: int, key_id: str, keys: KeyWrapper, cache: SourceCache) -> bytes:
    """The owner's data key `key_id`, unwrapped: known ones from the wrapper's memo; the
    keys of every record this request has read, and does not know yet, in one statement."""
    confirm_held(db, keys)  # none another process has erased
    known = keys.known_key(key_id)
    if known is None:
        wanted = {key_id} | {
            record.key_id
            for found in cache.latest.values()
            for record in found.values()
            if keys.known_key(record.key_id) is None
        }
        for agency_id, found_id, wrapped in read(db, _KEYS, {"key_ids": sorted(wanted)}):
            try:
                keys.unwrap_key(found_id, agency_id, wrapped)
            except CryptoError:
                if found_id == key_id:
                    raise
                # Another record's key (perhaps another agency's) that does not open: that
                # record is withheld when it is read, never this one.
        known = keys.known_key(key_id)
    if known is None or known[0] != owner_id:
        # A key of another agency opens nothing here; one no longer held was erased, and
        # this record, sealed under it, was put back (a backup): withheld as unreadable,
        # as a record moved from another row is.
        raise SealedElsewhere(f"a sealed record names a key not agency {owner_id}'s")
    return known[1]


class SealedSections:
    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        owner_id, section = wanted.owner_id, wanted.section
        entry = _load_latest(db, wanted, cache).get(section.stored_as)
        values = {}
        if entry is not None:
            values = keys.open_sealed(
                _secret(db, owner_id, entry.key_id, keys, cache),
                entry.sealed,
                bound_to=sealed_places(
                    owner_id, wanted.client_id, section.stored_as, entry.version
                ),
            )
        rows = []
        if section.identifying:
            identity_record = _load_identity(db, wanted, cache)
            identity = keys.open_sealed(
                _secret(db, owner_id, identity_record.key_id, keys, cache),
                identity_record.sealed,
                bound_to=identity_sealed_for(owner_id, wanted.client_id),
            )
            rows.extend(
                Row(label, "text", identity.get(name) or "")
                for name, label in section.identity_labels
            )
        for field in section.fields:
            rows.append(Row(field.label, field.type, values.get(field.key)))
        return Content(tuple(rows), entry.version if entry else None, entry.at if entry else None)
