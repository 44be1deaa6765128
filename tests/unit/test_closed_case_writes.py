"""A closed case is a record kept: it refuses what would add to it (an agency, a client
linked, a cadence, a task, a mentor, an accompaniment, a place on an agenda), each with a
409 that says so and nothing written; it still lets what is there be finished or taken
back (a task's status, an agency's link withdrawn) and be reopened."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from portal.errors import Conflict
from portal.models import Accompaniment, CaseLink, Discipline, MentorAssignment, Role
from portal.models.workflow import AgendaItem, Task, TaskStatus
from portal.services import (
    cases,
    casework,
    meetings,
    mentor_assignments,
    mentor_program,
    mentoring,
    tasks,
)
from portal.web import mentor_forms

import factories as make

AT = make.AT
TODAY = date(2026, 11, 2)


def count(db, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.exec(query).one()


@pytest.fixture
def closed(db, keys):
    """A case with a partner agency and a mentor, closed, with one task left open."""
    coordinating = make.agency(db, keys)
    partner, newcomer = make.agency(db, keys), make.agency(db, keys)
    program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    coordinator = make.user(db, coordinating, Role.MDT_COORDINATOR)
    mentor = make.user(db, program, Role.SURVIVOR_MENTOR)
    other_mentor = make.user(db, program, Role.SURVIVOR_MENTOR)
    case = make.mdt_case(db, coordinating, intake=date(2026, 10, 20))
    cases.link_client(db, case, partner, None, actor=None, at=AT)
    assigner = mentor_program.Assigner(coordinator, coordinating, frozenset({"mdt_coordinator"}))
    mentor_assignments.assign_mentor(
        db, case, mentor_public_id=mentor.public_id, reason=None, viewer=assigner, at=AT
    )
    task = tasks.create_task(
        db,
        case,
        title="Synthetic: send the referral",
        assignee=f"agency:{coordinating.public_id}",
        due_date="2026-11-10",
        offered=None,
        actor=coordinator,
        at=AT,
        today=TODAY,
    )
    casework.close_case(
        db, case, reason="Synthetic: services complete", actor=coordinator, at=AT, today=TODAY
    )
    db.flush()
    return dict(
        case=case,
        coordinating=coordinating,
        partner=partner,
        newcomer=newcomer,
        coordinator=coordinator,
        mentor=mentor,
        other_mentor=other_mentor,
        assigner=assigner,
        task=task,
    )


def refused(write) -> str:
    with pytest.raises(Conflict) as error:
        write()
    assert error.value.status_code == 409
    (message,) = error.value.errors.values()
    assert "closed" in message
    return message


def test_a_closed_case_takes_no_agency(db, closed):
    links = count(db, CaseLink, case_id=closed["case"].id)
    message = refused(
        lambda: casework.add_agency(
            db, closed["case"], closed["newcomer"].public_id, actor=closed["coordinator"], at=AT
        )
    )
    assert message == "The case is closed; reopen it to add an agency."
    assert count(db, CaseLink, case_id=closed["case"].id) == links


def test_a_closed_case_takes_no_accompaniment(db, closed):
    given = mentor_forms.read_accompaniment(
        {
            "occurred_on": "2026-11-01",
            "kind": "court_appearance",
            "duration_minutes": "90",
            "place_type": "courthouse",
            "outcome": "went_ahead",
        },
        today=TODAY,
    )
    refused(
        lambda: mentoring.log_accompaniment(
            db, closed["case"], given=given, actor=closed["mentor"], at=AT
        )
    )
    assert count(db, Accompaniment) == 0


def test_a_closed_case_takes_no_task_mentor_cadence_link_or_agenda_place(db, keys, closed):
    case = closed["case"]
    refused(
        lambda: tasks.create_task(
            db,
            case,
            title="Synthetic: one more",
            assignee=f"agency:{closed['coordinating'].public_id}",
            due_date="2026-11-12",
            offered=None,
            actor=closed["coordinator"],
            at=AT,
            today=TODAY,
        )
    )
    refused(
        lambda: mentor_assignments.assign_mentor(
            db,
            case,
            mentor_public_id=closed["other_mentor"].public_id,
            reason="Synthetic: handover",
            viewer=closed["assigner"],
            at=AT,
        )
    )
    refused(
        lambda: casework.set_cadence(
            db, case, "30", actor=closed["coordinator"], at=AT, today=TODAY
        )
    )
    survivor = make.client_record(db, closed["partner"], keys)
    refused(
        lambda: casework.confirm_link(
            db,
            case,
            closed["partner"],
            client_reference=survivor.reference,
            actor=None,
            keys=keys,
            at=AT,
        )
    )
    meeting = meetings.schedule_meeting(
        db,
        closed["coordinating"],
        day="2026-11-09",
        clock="10:00",
        place="Synthetic room",
        actor=closed["coordinator"],
        at=AT,
        tz=ZoneInfo("America/New_York"),
    )
    refused(
        lambda: meetings.add_to_agenda(
            db, meeting, closed["coordinating"], case.public_id, actor=closed["coordinator"], at=AT
        )
    )
    db.flush()
    assert count(db, Task, case_id=case.id) == 1
    assert count(db, MentorAssignment, case_id=case.id) == 1
    assert count(db, AgendaItem, case_id=case.id) == 0
    assert case.review_every_days is None
    assert casework.own_link(db, case, closed["partner"]).client_id is None


def test_a_closed_case_lets_its_open_task_be_finished_and_is_reopened(db, closed):
    tasks.change_status(db, closed["task"], TaskStatus.DONE, actor=closed["coordinator"], at=AT)
    casework.reopen_case(
        db, closed["case"], reason="Synthetic: back", actor=closed["coordinator"], at=AT
    )
    casework.add_agency(
        db, closed["case"], closed["newcomer"].public_id, actor=closed["coordinator"], at=AT
    )
    db.flush()
    assert closed["task"].status == TaskStatus.DONE
    assert casework.own_link(db, closed["case"], closed["newcomer"]) is not None
