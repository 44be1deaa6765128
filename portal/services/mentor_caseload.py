"""The mentor's caseload: the cases they hold now, with their next date and last contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import and_
from sqlmodel import Session, func, select

from portal.errors import NotFound
from portal.models import (
    Accompaniment,
    AccompanimentKind,
    CaseStatus,
    MdtCase,
    MentorAppointment,
    MentorAssignment,
    StaffUser,
)
from portal.services.mentor_appointments import upcoming_condition
from portal.services.mentoring import live_entries


@dataclass(frozen=True)
class CaseloadRow:
    case_public_id: str
    reference: str
    intake_date: date
    assigned_at: datetime
    next_at: datetime | None
    next_kind: str | None
    last_contact: date | None
    days_since_contact: int | None
    next_public_id: str | None = None  # the date `next_at` is, for the log of who read it

    @property
    def next_kind_label(self) -> str | None:
        return AccompanimentKind(self.next_kind).label if self.next_kind else None


def caseload(db: Session, mentor: StaffUser, *, now: datetime, today: date) -> list[CaseloadRow]:
    """The mentor's current open cases, with what their program knows of each."""
    last = (
        select(
            Accompaniment.case_id.label("case_id"),
            func.max(Accompaniment.occurred_on).label("last_on"),
        )
        .where(Accompaniment.agency_id == mentor.agency_id, live_entries())
        .group_by(Accompaniment.case_id)
        .subquery()
    )
    upcoming = upcoming_condition(mentor.agency_id, now)
    next_at = (
        select(
            MentorAppointment.case_id.label("case_id"),
            func.min(MentorAppointment.starts_at).label("next_at"),
        )
        .where(upcoming)
        .group_by(MentorAppointment.case_id)
        .subquery()
    )
    rows = db.exec(
        select(MdtCase, MentorAssignment.assigned_at, last.c.last_on, next_at.c.next_at)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .outerjoin(last, last.c.case_id == MdtCase.id)
        .outerjoin(next_at, next_at.c.case_id == MdtCase.id)
        .where(
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
            MdtCase.status == CaseStatus.OPEN,
        )
    ).all()
    nexts = {
        case_id: (kind, public_id)
        for case_id, kind, public_id in db.exec(
            select(MentorAppointment.case_id, MentorAppointment.kind, MentorAppointment.public_id)
            .join(
                next_at,
                and_(
                    next_at.c.case_id == MentorAppointment.case_id,
                    next_at.c.next_at == MentorAppointment.starts_at,
                ),
            )
            .where(upcoming)
        ).all()
    }
    result = []
    for case, assigned_at, last_on, next_at_value in rows:
        next_kind, next_public_id = nexts.get(case.id, (None, None))
        result.append(
            CaseloadRow(
                case.public_id,
                case.reference,
                case.intake_date,
                assigned_at,
                next_at_value,
                next_kind,
                last_on,
                max(0, (today - last_on).days) if last_on else None,
                next_public_id,
            )
        )
    # Soonest date first; then the longest without contact.
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        result,
        key=lambda r: (r.next_at or far, -(r.days_since_contact or 10**6), r.reference),
    )


def holds(db: Session, mentor: StaffUser, case: MdtCase) -> bool:
    """The mentor holds the case now (its page in their caseload opens)."""
    return (
        db.exec(
            select(MentorAssignment.id).where(
                MentorAssignment.case_id == case.id,
                MentorAssignment.mentor_id == mentor.id,
                MentorAssignment.ended_at.is_(None),
            )
        ).first()
        is not None
    )


def access_caseload_case(db: Session, mentor: StaffUser, public_id: str) -> MdtCase:
    """A case the mentor currently holds; any other answers 404."""
    case = db.exec(
        select(MdtCase)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .where(
            MdtCase.public_id == public_id,
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
        )
    ).first()
    if case is None:
        raise NotFound("case")
    return case
