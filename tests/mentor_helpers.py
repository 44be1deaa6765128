"""A coordinating agency, a survivor-mentor program, a mentor assigned to one case."""

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.audit import lock_order
from portal.auth.sessions import Viewer
from portal.models import (
    Agency,
    CaseLink,
    Discipline,
    MdtCase,
    MentorAppointment,
    Role,
    StaffUser,
)
from portal.services import (
    api_tokens,
    mentor_appointments,
    mentor_assignments,
    mentor_program,
    mentoring,
    tasks,
)
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
    lock_order.alone_on_the_node(db)  # a test's world, built in one transaction
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


def sign_in(client, user) -> None:
    """The test client signed in as `user`, and no one else."""
    client.cookies.clear()
    make.login(client, user.username)


def case_held_by(db, w: MentorWorld, mentor, *, intake: date, client=None) -> MdtCase:
    """Another case of the coordinating agency, held by `mentor`; with `client`, the
    program's link to it names that client record."""
    case = make.mdt_case(db, w.coordinating, intake=intake)
    mentor_assignments.assign_mentor(
        db,
        case,
        mentor_public_id=mentor.public_id,
        reason=None,
        viewer=as_coordinator(w),
        at=make.AT,
    )
    if client is not None:
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == w.program.id)
        ).one()
        link.client_id = client.id
        db.add(link)
    db.flush()
    return case


def end_mentor(db, w: MentorWorld, case, reason="Synthetic: the survivor chose another program"):
    """The coordinator ends the case's mentor, with no new one."""
    mentor_assignments.end_assignment(db, case, reason=reason, viewer=as_coordinator(w), at=make.AT)
    db.flush()


def mentor_token(db, w: MentorWorld, *scopes: str) -> dict[str, str]:
    """The bearer header of an API token the program's lead (who is also a mentor, as
    `w.lead`) issues to act as a survivor-mentor: bounded by the lead's own caseload."""
    issued = api_tokens.create_token(
        db,
        Viewer(
            w.lead,
            w.program,
            frozenset({Role.AGENCY_LEAD.value, Role.SURVIVOR_MENTOR.value}),
            None,
        ),
        name="records system",
        scopes=list(scopes),
        acting_role=Role.SURVIVOR_MENTOR.value,
        at=make.AT,
    )
    db.flush()
    return {"Authorization": f"Bearer {issued.secret}"}


def as_mentor(w: MentorWorld, user) -> Viewer:
    """`user` of the program, as a viewer who reads cases only as a survivor-mentor."""
    return Viewer(user, w.program, frozenset({Role.SURVIVOR_MENTOR.value}), None)


def task_on(db, case, *, title: str, assignee: str, actor):
    """A task on `case`, due 2026-11-09, given by `actor` to `assignee` ("user:<id>" or
    "agency:<id>")."""
    made = tasks.create_task(
        db,
        case,
        title=title,
        assignee=assignee,
        due_date="2026-11-09",
        offered=None,
        actor=actor,
        at=make.AT,
        today=date(2026, 11, 2),
    )
    db.flush()
    return made


def court_visit(db, case, mentor, *, notes: str):
    """The mentor logs an hour at court with the survivor on 1 November (it went ahead)."""
    entry = mentoring.log_accompaniment(
        db,
        case,
        given=mentoring.AccompanimentInput(
            occurred_on=date(2026, 11, 1),
            kind="court_appearance",
            duration_minutes=60,
            place_type="courthouse",
            outcome="went_ahead",
            notes=notes,
        ),
        actor=mentor,
        at=make.AT,
    )
    db.flush()
    return entry
