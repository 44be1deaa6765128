"""Synthetic survivor-mentor data for the demo: assignments (and a few cases without a
mentor), a reassignment, months of accompaniment entries and upcoming dates."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.demo.logins import DEMO_PASSWORD
from portal.models import (
    AccompanimentKind,
    Agency,
    MdtCase,
    Outcome,
    PlaceType,
    Role,
    StaffUser,
)
from portal.services import (
    mentor_appointments,
    mentor_assignments,
    mentor_program,
    mentoring,
    staff,
)

# The demo runs in the portal's default MDT time zone.
DEMO_TZ = ZoneInfo("America/New_York")
SECOND_MENTOR = ("mentor2", "Rowan Mentor (demo)")
CASES_WITHOUT_MENTOR = 5

KIND_WEIGHTS = {
    AccompanimentKind.COURT_APPEARANCE: 5,
    AccompanimentKind.LAW_ENFORCEMENT_INTERVIEW: 3,
    AccompanimentKind.STATE_ATTORNEY: 3,
    AccompanimentKind.MEDICAL: 3,
    AccompanimentKind.MENTAL_HEALTH: 3,
    AccompanimentKind.HOUSING_PLACEMENT: 2,
    AccompanimentKind.BENEFITS_AGENCY: 2,
    AccompanimentKind.SCHOOL: 2,
    AccompanimentKind.OTHER: 1,
}
PLACE_FOR = {
    AccompanimentKind.COURT_APPEARANCE: PlaceType.COURTHOUSE,
    AccompanimentKind.LAW_ENFORCEMENT_INTERVIEW: PlaceType.POLICE_OFFICE,
    AccompanimentKind.STATE_ATTORNEY: PlaceType.PROSECUTOR_OFFICE,
    AccompanimentKind.MEDICAL: PlaceType.HOSPITAL_CLINIC,
    AccompanimentKind.MENTAL_HEALTH: PlaceType.COUNSELLING_OFFICE,
    AccompanimentKind.HOUSING_PLACEMENT: PlaceType.SHELTER_HOUSING,
    AccompanimentKind.BENEFITS_AGENCY: PlaceType.AGENCY_OFFICE,
    AccompanimentKind.SCHOOL: PlaceType.SCHOOL,
    AccompanimentKind.OTHER: PlaceType.COMMUNITY_SPACE,
}
NOTES = (
    "Demo note: waited together beforehand; the survivor asked good questions.",
    "Demo note: explained what happens next and who will call.",
    "Demo note: the appointment ran late; we walked through the paperwork.",
    "Demo note: checked the survivor knew how to reach the program after hours.",
    None,
    None,
)
FOLLOW_UPS = (
    "Confirm transport for the next date",
    "Ask the advocate about the victim-compensation form",
    "Check the school contact has the right number",
)


def _user(db: Session, username: str) -> StaffUser:
    return db.exec(select(StaffUser).where(StaffUser.username == username)).one()


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=DEMO_TZ).astimezone(UTC)


def seed_mentoring(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    today: date,
    rng: random.Random,
) -> None:
    del keys  # mentoring data holds nothing that is encrypted
    program = agencies_by_key["mentor"]
    coordinating = agencies_by_key["cac"]
    staff.create_staff(
        db,
        program,
        username=SECOND_MENTOR[0],
        display_name=SECOND_MENTOR[1],
        password=DEMO_PASSWORD,
        roles=[Role.SURVIVOR_MENTOR.value],
        actor=None,
        at=at,
    )
    mentors = [_user(db, "mentor"), _user(db, SECOND_MENTOR[0])]
    coordinator = mentor_program.Assigner(
        _user(db, "coordinator"), coordinating, frozenset({Role.MDT_COORDINATOR.value})
    )
    lead = mentor_program.Assigner(
        _user(db, "mentor.lead"), program, frozenset({Role.AGENCY_LEAD.value})
    )
    open_cases = db.exec(
        select(MdtCase)
        .where(MdtCase.coordinating_agency_id == coordinating.id)
        .order_by(MdtCase.intake_date, MdtCase.reference)
    ).all()
    without = set(rng.sample(range(len(open_cases)), min(CASES_WITHOUT_MENTOR, len(open_cases))))
    kinds, weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    reassigned = False
    for index, case in enumerate(open_cases):
        if index in without:
            continue
        # Most are assigned at the first assessment; a few only later.
        delay = rng.choice((0, 1, 1, 2, 3, 6, 9))
        first_day = min(case.intake_date + timedelta(days=delay), today)
        assigned_at = min(_local(first_day, 10), at)
        holder = mentors[0] if index % 3 != 2 else mentors[1]
        if not reassigned and holder is mentors[1] and (today - first_day).days > 20:
            # One case changes hands inside the program, with its reason on record.
            mentor_assignments.assign_mentor(
                db,
                case,
                mentor_public_id=mentors[1].public_id,
                reason=None,
                viewer=coordinator,
                at=assigned_at,
            )
            switch_day = first_day + timedelta(days=10)
            _log_entries(
                db,
                case,
                mentors[1],
                first_day,
                switch_day,
                rng=rng,
                kinds=kinds,
                weights=weights,
            )
            mentor_assignments.assign_mentor(
                db,
                case,
                mentor_public_id=mentors[0].public_id,
                reason="Caseload balance: Rowan's caseload is full this month.",
                viewer=lead,
                at=_local(switch_day, 9),
            )
            holder, first_day, reassigned = mentors[0], switch_day, True
        else:
            mentor_assignments.assign_mentor(
                db,
                case,
                mentor_public_id=holder.public_id,
                reason=None,
                viewer=coordinator,
                at=assigned_at,
            )
        _log_entries(
            db,
            case,
            holder,
            first_day,
            # A few cases have gone quiet, so "no contact for N days" has something to show.
            today - timedelta(days=rng.randint(18, 30) if index % 4 == 3 else 1),
            rng=rng,
            kinds=kinds,
            weights=weights,
        )
        for _ in range(rng.choice((0, 1, 1, 2))):
            day = today + timedelta(days=rng.randint(2, 35))
            hour, minute = rng.choice((9, 10, 11, 13, 14, 15)), rng.choice((0, 30))
            mentor_appointments.add_appointment(
                db,
                case,
                given=mentor_appointments.AppointmentInput(
                    starts_at=datetime.combine(day, time(hour, minute), tzinfo=DEMO_TZ),
                    kind=rng.choice(
                        (
                            AccompanimentKind.COURT_APPEARANCE,
                            AccompanimentKind.STATE_ATTORNEY,
                            AccompanimentKind.MEDICAL,
                            AccompanimentKind.HOUSING_PLACEMENT,
                        )
                    ),
                    place_type=rng.choice(list(PlaceType)),
                ),
                actor=holder,
                at=at,
            )


def _log_entries(db, case, mentor, first: date, last: date, *, rng, kinds, weights):
    day = first + timedelta(days=rng.randint(0, 3))
    while day <= last:
        kind = rng.choices(kinds, weights)[0]
        follow_up = rng.random() < 0.2
        mentoring.log_accompaniment(
            db,
            case,
            given=mentoring.AccompanimentInput(
                occurred_on=day,
                kind=kind,
                duration_minutes=rng.choice((30, 45, 60, 90, 120, 150, 180, 240)),
                place_type=PLACE_FOR[kind],
                outcome=rng.choices(list(Outcome), (12, 2, 1, 1, 1))[0],
                follow_up_needed=follow_up,
                follow_up=rng.choice(FOLLOW_UPS) if follow_up else None,
                notes=rng.choice(NOTES),
            ),
            actor=mentor,
            at=_local(day, 18),
        )
        day += timedelta(days=rng.randint(4, 12))
