"""A mentor's follow-up made into an MDT task, and the caseload's open-task counts."""

from datetime import UTC, date, timedelta

import pytest
from mentor_helpers import mentor_world
from sqlmodel import func, select

from portal.errors import Conflict, Invalid, NotFound
from portal.models import AuditEntry
from portal.models.workflow import Task
from portal.requester import Requester
from portal.services import mentor_assignments, mentor_program, mentor_tasks, mentoring, tasks
from portal.web import mentor_forms

import factories as make

TODAY = date(2026, 11, 2)
NOTE = "SYNTHETIC-NOTE-KEPT-IN-THE-PROGRAM"


def entry(db, w, *, follow_up="Call the clinic about transport", needed="on"):
    given = mentor_forms.read_accompaniment(
        {
            "occurred_on": "2026-11-01",
            "kind": "medical",
            "duration_minutes": "60",
            "place_type": "hospital_clinic",
            "outcome": "went_ahead",
            "follow_up_needed": needed,
            "follow_up": follow_up,
            "notes": NOTE,
        },
        today=TODAY,
    )
    made = mentoring.log_accompaniment(db, w.case, given=given, actor=w.mentor, at=make.AT)
    db.flush()
    return made


def make_task(db, w, e, *, title="Call the clinic", due="2026-11-09", mentor=None):
    task = mentor_tasks.task_from_follow_up(
        db, mentor or w.mentor, e.public_id, title=title, due_date=due, at=make.AT, today=TODAY
    )
    db.flush()
    return task


def test_follow_up_becomes_a_task_for_the_mentor_linked_both_ways(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w)
    task = make_task(db, w, e)
    assert task.assignee_user_id == w.mentor.id and task.assignee_agency_id == w.program.id
    assert task.case_id == w.case.id and task.due_date == date(2026, 11, 9)
    assert task.title == "Call the clinic" and NOTE not in task.details
    assert "2026-11-01" in task.details
    db.refresh(e)
    assert e.follow_up_task_id == task.id
    # The program's page reads the title through the point, under the program's policy.
    mentor_reads = Requester.of(w.mentor, w.program, {"survivor_mentor"})
    shown = mentor_tasks.tasks_of_entries(
        db, mentor_reads, [e.public_id], at=make.AT, tz=UTC, keys=keys
    )
    assert shown[e.public_id].public_id == task.public_id
    assert shown[e.public_id].title == "Call the clinic"
    lead_reads = Requester.of(w.mentor, w.program, {"agency_lead"})
    shown = mentor_tasks.tasks_of_entries(
        db, lead_reads, [e.public_id], at=make.AT, tz=UTC, keys=keys
    )
    assert shown[e.public_id].title is None and shown[e.public_id].withheld.gate == "policy"
    assert mentor_tasks.entry_of_task(db, task, w.mentor) == e.public_id
    assert mentor_tasks.entry_of_task(db, task, w.other_mentor) is None
    tags = db.exec(select(AuditEntry.tag, AuditEntry.agency_id)).all()
    assert ("mentoring:accompaniment:task_created", w.program.id) in tags
    # The task's text is the program's (issue 14): its creation is in the owner's log.
    assert ("mdt:task:created", w.program.id) in tags


def test_once_per_entry(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w)
    make_task(db, w, e)
    with pytest.raises(Conflict):
        make_task(db, w, e)
    assert db.exec(select(func.count(Task.id))).one() == 1


def test_bad_due_date_and_empty_title_are_reported_together(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w)
    with pytest.raises(Invalid) as raised:
        make_task(db, w, e, title="", due="2026-10-01")
    assert {"title"} <= set(raised.value.errors)
    with pytest.raises(Invalid) as raised:
        make_task(db, w, e, due="2026-10-01")
    assert set(raised.value.errors) == {"due_date"}


def test_no_follow_up_means_no_task(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w, follow_up="", needed="")
    with pytest.raises(Conflict):
        make_task(db, w, e)


def test_only_the_author_holding_the_case(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w)
    with pytest.raises(NotFound):
        make_task(db, w, e, mentor=w.other_mentor)
    mentor_assignments.assign_mentor(
        db,
        w.case,
        mentor_public_id=w.other_mentor.public_id,
        reason="handover",
        viewer=mentor_program.Assigner(
            w.coordinator, w.coordinating, frozenset({"mdt_coordinator"})
        ),
        at=make.AT + timedelta(seconds=1),
    )
    db.flush()
    with pytest.raises(NotFound):
        make_task(db, w, e)


def test_open_task_counts_per_case_only_for_this_mentor(db, keys):
    w = mentor_world(db, keys)
    e = entry(db, w)
    task = make_task(db, w, e)
    tasks.create_task(
        db,
        w.case,
        title="Another",
        assignee=f"user:{w.mentor.public_id}",
        due_date="2026-11-20",
        offered=None,
        actor=w.coordinator,
        at=make.AT,
        today=TODAY,
    )
    tasks.create_task(
        db,
        w.case,
        title="Not the mentor's",
        assignee=f"agency:{w.coordinating.public_id}",
        due_date="2026-11-20",
        offered=None,
        actor=w.coordinator,
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    assert mentor_tasks.open_task_counts(db, w.mentor) == {w.case.public_id: 2}
    tasks.change_status(db, task, "done", reason=None, actor=w.mentor, at=make.AT)
    db.flush()
    assert mentor_tasks.open_task_counts(db, w.mentor) == {w.case.public_id: 1}
    assert mentor_tasks.open_task_counts(db, w.other_mentor) == {}
