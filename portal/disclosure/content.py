"""Reading and shaping an owner's section content once a disclosure has been allowed.

Called only by the disclosure point (and by the benchmark, which measures the bare cost
of loading and rendering released content). Never call it to decide anything.

Most sections are sealed section versions. Two live elsewhere (the catalogue names their
`source`): the MDT meeting minutes, kept with the coordinating agency's meetings, and the
mentor accompaniment, kept in the survivor-mentor program's log. They are loaded here too,
so both gates and the audit apply to them exactly as to every other section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from portal import crypto
from portal.crypto import KeyWrapper
from portal.models import Agency, CaseLink, Client, SectionEntry
from portal.sections import Section
from portal.services import meetings, mentoring
from portal.services.keys import data_secret

IDENTITY_ROWS = (
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("birth_date", "Date of birth"),
    ("phone", "Phone"),
    ("email", "Email"),
    ("address", "Address"),
)


@dataclass(frozen=True)
class Row:
    label: str
    type: str  # text | textarea | date | choice | checklist | domains
    value: object


@dataclass(frozen=True)
class Content:
    rows: tuple[Row, ...]
    version: int | None  # None: the owner has recorded nothing in this section yet
    saved_at: datetime | None


def latest_entries(
    db: Session, owner_id: int, client_id: int, memo: dict
) -> dict[str, SectionEntry]:
    """The newest version of each section of one client, one query per owner and request."""
    key = ("latest", owner_id, client_id)
    if key not in memo:
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
        memo[key] = {row.section_key: row for row in rows}
    return memo[key]


def _secret(db: Session, owner_id: int, key_id: str, keys: KeyWrapper, memo: dict) -> bytes:
    key = ("secret", owner_id, key_id)
    if key not in memo:
        memo[key] = data_secret(db, owner_id, keys=keys, key_id=key_id)[1]
    return memo[key]


def load(
    db: Session,
    *,
    owner_id: int,
    client_id: int,
    section: Section,
    keys: KeyWrapper,
    memo: dict,
    case_id: int | None = None,
) -> Content:
    """The released content of one section: the latest version, opened with the owner's key.

    `case_id` names the case being read; without it (a release preview) the minutes and
    accompaniment of every case the owner has linked this client to are shown."""
    if section.source is not None:
        case_ids = [case_id] if case_id is not None else _linked_cases(db, owner_id, client_id)
        return _kept_elsewhere(db, owner_id, case_ids, section)
    entry = latest_entries(db, owner_id, client_id, memo).get(section.key)
    values = {}
    if entry is not None:
        secret = _secret(db, owner_id, entry.key_id, keys, memo)
        values = crypto.open_json(secret, entry.content_sealed)
    rows = []
    if section.identifying:
        client = db.get(Client, client_id)
        identity = crypto.open_json(
            _secret(db, owner_id, client.key_id, keys, memo), client.identity_sealed
        )
        rows.extend(Row(label, "text", identity.get(name) or "") for name, label in IDENTITY_ROWS)
    for field in section.fields:
        rows.append(Row(field.label, field.type, values.get(field.key)))
    return Content(
        tuple(rows),
        entry.version if entry else None,
        entry.at if entry else None,
    )


def _linked_cases(db: Session, owner_id: int, client_id: int) -> list[int]:
    return list(
        db.exec(
            select(CaseLink.case_id)
            .where(
                CaseLink.agency_id == owner_id,
                CaseLink.client_id == client_id,
                CaseLink.confirmed_at.is_not(None),
            )
            .order_by(CaseLink.case_id)
        ).all()
    )


def _kept_elsewhere(db: Session, owner_id: int, case_ids: list[int], section: Section) -> Content:
    """Minutes (one row per meeting) or accompaniment (one summary); version counts the
    items, None when there is none, like a section nobody has written yet."""
    if section.source == "meetings":
        rows = tuple(
            Row(f"MDT meeting {m.meeting_date.isoformat()} ({m.status})", "textarea", m.minutes)
            for m in meetings.minutes_section(db, owner_id, case_ids)
        )
        return Content(rows, len(rows) or None, None)
    lines = mentoring.accompaniment_section(db, db.get(Agency, owner_id), case_ids)
    label = section.fields[0].label if section.fields else "Summary"
    rows = (Row(label, "textarea", "\n".join(lines)),) if lines else ()
    return Content(rows, len(lines) or None, None)
