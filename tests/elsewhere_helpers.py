"""Builders for the sections kept outside section versions: minutes and accompaniment."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from disclosure_helpers import Viewer, World

from portal.models import AccompanimentKind, Discipline, Outcome, PlaceType, Role
from portal.services import cases, meetings, mentor_assignments, mentor_program, mentoring

import factories as make

MINUTES = "SYNTHETIC-MINUTES: partners agreed a safety plan."
NOTE = "SYNTHETIC-MENTOR-NOTE"


def linked_world(db, keys, *, owner_discipline, coordinated_by_owner):
    owner = make.agency(db, keys, discipline=owner_discipline)
    partner = make.agency(db, keys)
    client = make.client_record(db, owner, keys)
    partner_client = make.client_record(db, partner, keys)
    case = make.mdt_case(db, owner if coordinated_by_owner else partner)
    cases.link_client(db, case, partner, partner_client, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, case, owner, client, actor=None, at=make.AT, confirmed=True)
    owner_staff = make.user(db, owner, Role.MDT_COORDINATOR)
    partner_staff = make.user(db, partner, Role.CASE_MANAGER)
    db.flush()
    return World(owner, partner, client, partner_client, case, owner_staff, partner_staff)


def minutes_world(db, keys):
    w = linked_world(db, keys, owner_discipline=Discipline.ADVOCACY, coordinated_by_owner=True)
    tz = ZoneInfo("America/New_York")
    day = (make.AT + timedelta(days=1)).date()
    meeting = meetings.schedule_meeting(
        db,
        w.owner,
        day=day.isoformat(),
        clock="10:00",
        place="Room 1",
        case_ids=[w.case.public_id],
        actor=w.owner_staff,
        at=make.AT,
        tz=tz,
    )
    meetings.hold_meeting(db, meeting, actor=w.owner_staff, at=make.AT, today=day)
    (row,) = meetings.agenda(db, meeting, w.owner)
    meetings.record_minutes(db, meeting, row.item, MINUTES, actor=w.owner_staff, at=make.AT)
    db.flush()
    return w, meeting


def mentor_world(db, keys):
    w = linked_world(
        db, keys, owner_discipline=Discipline.SURVIVOR_MENTOR, coordinated_by_owner=False
    )
    coordinator = make.user(db, w.partner, Role.MDT_COORDINATOR)
    mentor = make.user(db, w.owner, Role.SURVIVOR_MENTOR)
    mentor_assignments.assign_mentor(
        db,
        w.case,
        mentor_public_id=mentor.public_id,
        reason=None,
        viewer=mentor_program.Assigner(coordinator, w.partner, frozenset({"mdt_coordinator"})),
        at=make.AT,
    )
    today = make.AT.date()
    mentoring.log_accompaniment(
        db,
        w.case,
        given=mentoring.AccompanimentInput(
            occurred_on=today,
            kind=AccompanimentKind.COURT_APPEARANCE,
            duration_minutes=90,
            place_type=PlaceType.COURTHOUSE,
            outcome=Outcome.WENT_AHEAD,
            follow_up_needed=True,
            follow_up="Ask about transport",
            notes=NOTE,
        ),
        actor=mentor,
        at=make.AT,
    )
    db.flush()
    coordinator_viewer = Viewer(coordinator, w.partner, frozenset({"mdt_coordinator"}))
    return w, coordinator_viewer
