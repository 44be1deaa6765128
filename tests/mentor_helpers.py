"""A coordinating agency, a survivor-mentor program, a mentor assigned to one case."""

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from portal.models import Agency, Discipline, MdtCase, MentorAppointment, Role, StaffUser
from portal.services import mentor_appointments, mentor_assignments, mentor_program
from portal.web import mentor_forms

import factories as make


@dataclass
class MentorWorld:
    coordinating: Agency
    coordinator: StaffUser
    program: Agency
    mentor: StaffUser
    other_mentor: StaffUser
    case: MdtCase


def mentor_world(db, keys) -> MentorWorld:
    coordinating = make.agency(db, keys)
    program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    coordinator = make.user(db, coordinating, Role.MDT_COORDINATOR)
    mentor = make.user(db, program, Role.SURVIVOR_MENTOR)
    other_mentor = make.user(db, program, Role.SURVIVOR_MENTOR)
    case = make.mdt_case(db, coordinating, intake=date(2026, 10, 20))
    mentor_assignments.assign_mentor(
        db,
        case,
        mentor_public_id=mentor.public_id,
        reason=None,
        viewer=mentor_program.Assigner(coordinator, coordinating, frozenset({"mdt_coordinator"})),
        at=make.AT,
    )
    db.flush()
    return MentorWorld(coordinating, coordinator, program, mentor, other_mentor, case)


def as_coordinator(w: MentorWorld) -> mentor_program.Assigner:
    """The coordinating agency's coordinator, as the mentor assignment services take them."""
    return mentor_program.Assigner(w.coordinator, w.coordinating, frozenset({"mdt_coordinator"}))


def in_caseload(db, client, mentor) -> None:
    """Makes `client` one of `mentor`'s caseload as an intake does: registered by them, on
    no case anyone holds. For tests of what a survivor-mentor may read of a client."""
    client.created_by_id = mentor.id
    db.add(client)
    db.flush()


def appointment(
    db, w: MentorWorld, day="2026-11-10", clock="09:30", kind="court_appearance"
) -> MentorAppointment:
    """The mentor enters a date at a courthouse on their case, as the caseload form reads
    it (the day and time in the MDT's zone, New York)."""
    given = mentor_forms.read_appointment(
        {"date": day, "time": clock, "kind": kind, "place_type": "courthouse"},
        tz=ZoneInfo("America/New_York"),
        now=make.AT,
    )
    made = mentor_appointments.add_appointment(db, w.case, given=given, actor=w.mentor, at=make.AT)
    db.flush()
    return made
