"""Court dates and appointments a mentor enters on their cases, and the upcoming ones
their caseload and calendar feed show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import and_
from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.errors import Invalid, NotFound
from portal.models import (
    AccompanimentKind,
    CaseStatus,
    MdtCase,
    MentorAppointment,
    MentorAssignment,
    PlaceType,
    StaffUser,
)
from portal.services import validation

APPOINTMENT_HORIZON_DAYS = 730


def upcoming_condition(agency_id: int, now: datetime):
    return and_(
        MentorAppointment.agency_id == agency_id,
        MentorAppointment.cancelled_at.is_(None),
        MentorAppointment.starts_at >= now,
    )


def add_appointment(
    db: Session,
    case: MdtCase,
    fields: Mapping[str, object],
    *,
    actor: StaffUser,
    at: datetime,
    tz: tzinfo,
) -> MentorAppointment:
    today = at.astimezone(tz).date()

    def day() -> date:
        value = validation.iso_date(fields.get("date"), "date", label="Date")
        if value < today:
            raise Invalid("date", "This date has passed; log what happened as an accompaniment.")
        if value > today + timedelta(days=APPOINTMENT_HORIZON_DAYS):
            raise Invalid("date", "This date is more than two years ahead.")
        return value

    def clock() -> time:
        raw = str(fields.get("time") or "").strip()
        try:
            return time.fromisoformat(raw) if raw else time(9, 0)
        except ValueError:
            raise Invalid("time", "Time must look like 14:30.") from None

    values = validation.collect(
        date=day,
        time=clock,
        kind=lambda: validation.choice(
            fields.get("kind"), "kind", AccompanimentKind, label="Kind of appointment"
        ),
        place_type=lambda: validation.choice(
            fields.get("place_type"), "place_type", PlaceType, label="Type of place"
        ),
    )
    starts_at = datetime.combine(values["date"], values["time"], tzinfo=tz).astimezone(UTC)
    appointment = MentorAppointment(
        agency_id=actor.agency_id,
        case_id=case.id,
        mentor_id=actor.id,
        starts_at=starts_at,
        kind=values["kind"],
        place_type=values["place_type"],
        created_at=at,
    )
    db.add(appointment)
    db.flush()
    record(
        db,
        AuditTag.APPOINTMENT_ADDED,
        agency_id=actor.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"appointment": appointment.public_id},
        at=at,
    )
    return appointment


def cancel_appointment(
    db: Session, mentor: StaffUser, public_id: str, *, at: datetime
) -> MentorAppointment:
    """Cancel a date on one of the mentor's current cases, entered by their program."""
    appointment = db.exec(
        select(MentorAppointment)
        .join(MentorAssignment, MentorAssignment.case_id == MentorAppointment.case_id)
        .where(
            MentorAppointment.public_id == public_id,
            MentorAppointment.agency_id == mentor.agency_id,
            MentorAppointment.cancelled_at.is_(None),
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
        )
    ).first()
    if appointment is None:
        raise NotFound("appointment")
    appointment.cancelled_at = at
    db.add(appointment)
    record(
        db,
        AuditTag.APPOINTMENT_CANCELLED,
        agency_id=mentor.agency_id,
        actor=mentor,
        subject=db.get(MdtCase, appointment.case_id).reference,
        detail={"appointment": appointment.public_id},
        at=at,
    )
    return appointment


@dataclass(frozen=True)
class UpcomingRow:
    public_id: str
    case_public_id: str
    case_reference: str
    starts_at: datetime
    kind: str
    place_type: str
    cancelled: bool = False

    @property
    def kind_label(self) -> str:
        return AccompanimentKind(self.kind).label

    @property
    def place_label(self) -> str:
        return PlaceType(self.place_type).label


def upcoming_for_mentor(
    db: Session,
    user: StaffUser,
    *,
    start: datetime,
    end: datetime,
    include_cancelled: bool = False,
) -> list[UpcomingRow]:
    """Court dates and appointments on the mentor's current open cases, start <= t < end.

    For the mentor's own caseload and calendar feed: entered by their program, not
    cancelled (unless asked: a calendar feed must say a date was cancelled, or a
    calendar that already holds it keeps it); carries the pseudonymous case reference
    only, never a name or a note.
    """
    live = [] if include_cancelled else [MentorAppointment.cancelled_at.is_(None)]
    rows = db.exec(
        select(MentorAppointment, MdtCase.public_id, MdtCase.reference)
        .join(MdtCase, MdtCase.id == MentorAppointment.case_id)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .where(
            MentorAppointment.agency_id == user.agency_id,
            *live,
            MentorAppointment.starts_at >= start,
            MentorAppointment.starts_at < end,
            MentorAssignment.mentor_id == user.id,
            MentorAssignment.ended_at.is_(None),
            MdtCase.status == CaseStatus.OPEN,
        )
        .order_by(MentorAppointment.starts_at, MentorAppointment.id)
    ).all()
    return [
        UpcomingRow(
            a.public_id,
            case_id,
            reference,
            a.starts_at,
            a.kind,
            a.place_type,
            cancelled=a.cancelled_at is not None,
        )
        for a, case_id, reference in rows
    ]
