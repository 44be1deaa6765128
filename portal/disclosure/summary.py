"""The case summary: which agencies take part, the timeline, and each owner's block.

Each owner's block is its own request (htmx loads them independently), and every section
in it is decided by `disclose()` — this module never reads a section itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.point import Decision, disclose
from portal.errors import NotFound
from portal.models import Agency, CaseLink, MdtCase
from portal.sections import catalogue


@dataclass(frozen=True)
class Participant:
    agency: Agency
    coordinating: bool
    confirmed: bool


@dataclass(frozen=True)
class TimelineItem:
    on: date
    what: str


@dataclass(frozen=True)
class Overview:
    case: MdtCase
    participants: list[Participant]
    timeline: list[TimelineItem]


def participants(db: Session, case: MdtCase) -> list[Participant]:
    rows = db.exec(
        select(Agency, CaseLink)
        .join(CaseLink, CaseLink.agency_id == Agency.id)
        .where(CaseLink.case_id == case.id)
        .order_by(Agency.name)
    ).all()
    found = [
        Participant(agency, agency.id == case.coordinating_agency_id, link.confirmed_at is not None)
        for agency, link in rows
    ]
    if not any(p.coordinating for p in found):
        coordinating = db.get(Agency, case.coordinating_agency_id)
        found.insert(0, Participant(coordinating, True, True))
    return found


def overview(db: Session, case: MdtCase, *, window_days: int) -> Overview:
    timeline = [
        TimelineItem(case.intake_date, "Intake (abuse report received)"),
        TimelineItem(
            case.intake_date + timedelta(days=window_days),
            f"MDT convening due (intake + {window_days} days)",
        ),
    ]
    return Overview(case, participants(db, case), timeline)


def owner_of_case(db: Session, case: MdtCase, agency_public_id: str) -> Agency:
    """A participant agency of this case, or 404 exactly like a missing one."""
    for participant in participants(db, case):
        if participant.agency.public_id == agency_public_id:
            return participant.agency
    raise NotFound("agency")


def owner_block(
    db: Session,
    viewer,
    case: MdtCase,
    owner: Agency,
    *,
    purpose: str,
    at: datetime,
    keys: KeyWrapper,
) -> list[Decision]:
    """One decision per catalogue section the owner could contribute, whether or not it
    holds anything: so a placeholder never tells that data exists."""
    memo: dict = {}  # shared by this one request's decisions only
    return [
        disclose(db, viewer, case, owner, section, purpose, at, keys=keys, memo=memo)
        for section in catalogue().for_discipline(owner.discipline)
    ]


@dataclass(frozen=True)
class OwnerBlock:
    participant: Participant
    decisions: list[Decision]


def packet_blocks(
    db: Session,
    viewer,
    case: MdtCase,
    *,
    purpose: str,
    at: datetime,
    keys: KeyWrapper,
) -> list[OwnerBlock]:
    """The whole case summary at once, for the printed review packet: every owner's block,
    each section decided (and audited) by `disclose()` exactly as on the summary page."""
    return [
        OwnerBlock(
            participant,
            owner_block(db, viewer, case, participant.agency, purpose=purpose, at=at, keys=keys),
        )
        for participant in participants(db, case)
    ]
