"""Court dates and appointments a mentor enters on their cases, and the upcoming ones
their caseload and calendar feed show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_
from sqlmodel import Session, select

from portal.audit import AuditTag, record, record_many
from portal.errors import Conflict, NotFound
from portal.models import (
    AccompanimentKind,
    CaseStatus,
    MdtCase,
    MentorAppointment,
    MentorAssignment,
    PlaceType,
    StaffUser,
)
from portal.requester import Requester
from portal.services import casework, mentoring

# How far ahead a date may be entered.
APPOINTMENT_HORIZON_DAYS = 730


def upcoming_condition(agency_id: int, now: datetime):
    return and_(
        MentorAppointment.agency_id == agency_id,
        MentorAppointment.cancelled_at.is_(None),
        MentorAppointment.starts_at >= now,
    )


@dataclass(frozen=True)
class AppointmentInput:
    """A court date or appointment as the caseload form gave it (`portal.web.mentor_forms`
    reads it): when, in the MDT's time zone, from today up to `APPOINTMENT_HORIZON_DAYS`
    ahead, and what kind of date it is, where."""

    starts_at: datetime
    kind: AccompanimentKind
    place_type: PlaceType

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise ValueError("an appointment's start needs its time zone")


def add_appointment(
    db: Session,
    case: MdtCase,
    *,
    given: AppointmentInput,
    actor: StaffUser,
    at: datetime,
) -> MentorAppointment:
    # Held: a close at the same moment waits for this date, or this date for the close
    # and then sees the case closed.
    case = casework.held_case(db, case)
    if case.status != CaseStatus.OPEN:  # the caseload and the feed list open cases only
        raise Conflict("date", "This case is closed: a date added now would show nowhere.")
    appointment = MentorAppointment(
        agency_id=actor.agency_id,
        case_id=case.id,
        mentor_id=actor.id,
        starts_at=given.starts_at.astimezone(UTC),
        kind=AccompanimentKind(given.kind).value,
        place_type=PlaceType(given.place_type).value,
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


def record_dates_read(
    db: Session,
    dates: list[tuple[str, str]],
    *,
    holder: StaffUser,
    requester: Requester,
    agency_id: int,
    shown_in: str,
    at: datetime,
) -> None:
    """A page shows someone other than `holder` the dates on the cases `holder` mentors,
    each `(case reference, appointment public id)`: where and when a survivor will be (a
    courthouse, a police office), what a trafficker would want to know. One entry per case
    in the program's log, naming the case, the `mentor_accompaniment` section (the dates
    are the program's records, as its accompaniments are) and the dates shown.

    The mentor reading the dates on their own cases is not a read, as their own
    accompaniments are not: the dates on a case they hold are theirs to keep and cancel
    (`own_appointment`), whoever of the program entered them."""
    if holder.public_id == requester.user:
        return
    by_case: dict[str, list[str]] = {}
    for reference, public_id in dates:
        by_case.setdefault(reference, []).append(public_id)
    record_many(
        db,
        [
            mentoring.program_read(
                requester,
                agency_id,
                reference,
                {"appointments": shown[:30], "shown_in": shown_in},
                at,
                tag=AuditTag.APPOINTMENT_VIEWED,
            )
            for reference, shown in by_case.items()
        ],
    )


def own_appointment(db: Session, mentor: StaffUser, public_id: str) -> MentorAppointment:
    """A date still to be kept on one of the mentor's current cases; 404 for any other."""
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
    return appointment


def cancel_appointment(
    db: Session, mentor: StaffUser, public_id: str, *, at: datetime
) -> MentorAppointment:
    """Cancel a date on one of the mentor's current cases, entered by their program."""
    appointment = own_appointment(db, mentor, public_id)
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
