"""A task given to a survivor-mentor by name goes with the case, not with the mentor.

A task's title and notes are about the survivor. Once the case passes to another mentor,
or its mentor is taken off it, the former mentor no longer reads the case: not its tasks
either, not even those once given to them by name (404, as a task that does not exist;
gone from every list, count and feed). The open ones pass to the incoming mentor, or with
none back to the program, each with a history entry saying so, in the transaction of the
reassignment. Done tasks keep their assignee as history. Someone who reads cases in
another role too (the program's lead) still reads every task of the case.
"""

import html

import pytest
from icalendar import Calendar
from mentor_helpers import mentor_world, sign_in, task_on
from sqlmodel import select

from portal.models import Role
from portal.models.workflow import Task, TaskChange, TaskStatus
from portal.services import calendar, staff, tasks
from portal.services.mentor_program import Assigner

import factories as make

TITLE_OPEN = "SYNTHETIC-HANDOVER-OPEN"
TITLE_DONE = "SYNTHETIC-HANDOVER-DONE"


@pytest.fixture
def world(db, keys):
    w = mentor_world(db, keys)
    w.lead = make.user(db, w.program, Role.AGENCY_LEAD, Role.SURVIVOR_MENTOR)
    # Names a history entry and a result can be told apart by (the factory's are one).
    w.mentor.display_name, w.other_mentor.display_name = "Ada (synthetic)", "Bea (synthetic)"
    db.add_all([w.mentor, w.other_mentor])
    w.open_task = _named_task(db, w, TITLE_OPEN)
    w.done_task = _named_task(db, w, TITLE_DONE)
    tasks.change_status(db, w.done_task, TaskStatus.DONE, actor=w.mentor, at=make.AT)
    # Each mentor's calendar feed, issued before any page writes to the logs.
    w.feeds = {m.id: calendar.issue_feed(db, m, at=make.AT) for m in (w.mentor, w.other_mentor)}
    db.flush()
    return w


def _named_task(db, w, title):
    return task_on(db, w.case, title=title, assignee=f"user:{w.mentor.public_id}", actor=w.lead)


def _as_coordinator(client, w, action: str, data: dict):
    """Post the coordinator's mentor form for the case; answers the response and the
    page it leads to (where the result is said), its text unescaped."""
    sign_in(client, w.coordinator)
    page = f"/mentoring/cases/{w.case.public_id}"
    token = make.csrf_of_page(client, page)
    answer = client.post(f"{page}/{action}", data={"csrf_token": token, **data})
    return answer, html.unescape(client.get(page).text)


def _reassign(client, w):
    return _as_coordinator(
        client,
        w,
        "assign",
        {"mentor": w.other_mentor.public_id, "reason": "Synthetic: the mentor moved away"},
    )


def _feed_tasks(client, w, user) -> set[str]:
    feed = Calendar.from_ical(client.get(f"/calendar/{w.feeds[user.id]}").content)
    return {str(event["uid"]) for event in feed.walk("VEVENT")}


def _told_nothing_of(client, w, *task_list) -> None:
    """The signed-in viewer is answered as if the tasks did not exist, everywhere."""
    for task in task_list:
        answer = client.get(f"/tasks/{task.public_id}")
        assert answer.status_code == 404, task.public_id
        assert TITLE_OPEN not in answer.text and TITLE_DONE not in answer.text
        for action in ("status", "comments", "edit"):
            token = make.csrf_of_page(client, "/tasks")
            posted = client.post(
                f"/tasks/{task.public_id}/{action}",
                data={"csrf_token": token, "status": "done", "body": "Synthetic"},
            )
            assert posted.status_code == 404, action
    for listing in (
        "/tasks",
        "/tasks?status=all",
        "/tasks?scope=agency&status=all",
        f"/tasks?scope=mine&status=all&case={w.case.reference}",
        "/",
        "/mentor",
    ):
        text = client.get(listing).text
        for task in task_list:
            assert task.public_id not in text, listing
    dashboard = client.get("/").text
    assert 'My tasks <span class="count">0</span>' in dashboard
    assert "open task" not in client.get("/mentor").text


def test_the_former_mentor_no_longer_reads_a_task_given_to_them_by_name(client, db, world):
    w = world
    sign_in(client, w.mentor)
    assert TITLE_OPEN in client.get(f"/tasks/{w.open_task.public_id}").text
    assert w.open_task.public_id in client.get("/tasks").text
    assert calendar.task_uid(w.open_task) in _feed_tasks(client, w, w.mentor)

    answer, page = _reassign(client, w)
    assert answer.status_code == 303

    sign_in(client, w.mentor)
    _told_nothing_of(client, w, w.open_task, w.done_task)
    assert calendar.task_uid(w.open_task) not in _feed_tasks(client, w, w.mentor)
    # The coordinator was told what became of the task, in the task pages' words.
    assert "The previous mentor's open task passed to Bea (synthetic)." in page


def test_the_open_task_passes_to_the_new_mentor_with_a_history_entry(client, db, world):
    w = world
    _reassign(client, w)
    db.refresh(w.open_task)
    db.refresh(w.done_task)
    assert w.open_task.assignee_user_id == w.other_mentor.id
    assert w.open_task.assignee_agency_id == w.program.id
    # Done, it stays the former mentor's: the record of who did it.
    assert w.done_task.assignee_user_id == w.mentor.id

    sign_in(client, w.other_mentor)
    assert w.open_task.public_id in client.get("/tasks").text
    assert w.open_task.public_id in client.get("/").text
    page = client.get(f"/tasks/{w.open_task.public_id}")
    assert page.status_code == 200 and TITLE_OPEN in page.text
    entry = "assignee (the case passed to a new mentor): Ada (synthetic) → Bea (synthetic)"
    assert entry in html.unescape(page.text)
    assert calendar.task_uid(w.open_task) in _feed_tasks(client, w, w.other_mentor)


def test_ending_the_assignment_gives_the_open_tasks_back_to_the_program(client, db, world):
    w = world
    answer, page = _as_coordinator(
        client, w, "end", {"end_reason": "Synthetic: the survivor chose another program"}
    )
    assert answer.status_code == 303
    told = f"The previous mentor's open task went back to {w.program.name} (agency picks)."
    assert told in page
    db.refresh(w.open_task)
    assert (w.open_task.assignee_user_id, w.open_task.assignee_agency_id) == (None, w.program.id)
    change = db.exec(
        select(TaskChange).where(
            TaskChange.task_id == w.open_task.id, TaskChange.field == tasks.BACK_TO_PROGRAM
        )
    ).one()
    assert (change.old_value, change.new_value) == (w.mentor.display_name, w.program.name)
    assert change.actor_id == w.coordinator.id

    sign_in(client, w.mentor)
    _told_nothing_of(client, w, w.open_task, w.done_task)
    # The program's lead finds it on the program's list, no person named, to give it on.
    sign_in(client, w.lead)
    listed = client.get("/tasks?scope=agency").text
    assert w.open_task.public_id in listed
    page = html.unescape(client.get(f"/tasks/{w.open_task.public_id}").text)
    assert f"assigned to {w.program.name} (agency picks)" in page
    assert f"back to the program): Ada (synthetic) → {w.program.name}" in page


def test_a_lead_who_is_also_a_mentor_still_reads_the_cases_tasks(client, db, world):
    w = world
    _reassign(client, w)
    given_to_lead = task_on(
        db,
        w.case,
        title="SYNTHETIC-FOR-THE-LEAD",
        assignee=f"user:{w.lead.public_id}",
        actor=w.coordinator,
    )
    sign_in(client, w.lead)
    for task in (w.open_task, w.done_task, given_to_lead):
        assert client.get(f"/tasks/{task.public_id}").status_code == 200
    listed = client.get("/tasks?scope=agency&status=all").text
    assert w.open_task.public_id in listed and w.done_task.public_id in listed
    assert given_to_lead.public_id in client.get("/tasks").text


def test_a_refused_reassignment_leaves_the_tasks_with_the_mentor(client, db, world):
    w = world
    for mentor, words in (
        (w.mentor.public_id, "is already this case"),
        ("nobody", "Choose a mentor from the list."),
    ):
        answer, _page = _as_coordinator(client, w, "assign", {"mentor": mentor, "reason": "Why"})
        assert answer.status_code == 400 and words in html.unescape(answer.text)
    no_reason, _page = _as_coordinator(client, w, "end", {"end_reason": ""})
    assert no_reason.status_code == 400
    db.refresh(w.open_task)
    assert w.open_task.assignee_user_id == w.mentor.id
    assert not db.exec(select(TaskChange).where(TaskChange.field.in_(tasks.ASSIGNEE_FIELDS))).all()


def test_a_deactivated_mentors_open_tasks_go_back_to_the_program(db, world):
    w = world
    staff.deactivate(
        db,
        w.mentor,
        viewer=Assigner(w.lead, w.program, frozenset({Role.AGENCY_LEAD.value})),
        at=make.AT,
    )
    db.flush()
    db.refresh(w.open_task)
    db.refresh(w.done_task)
    assert (w.open_task.assignee_user_id, w.open_task.assignee_agency_id) == (None, w.program.id)
    assert w.done_task.assignee_user_id == w.mentor.id
    assert (
        db.exec(
            select(Task).where(Task.assignee_user_id == w.mentor.id, Task.status != TaskStatus.DONE)
        ).all()
        == []
    )


def test_a_task_is_not_given_by_name_to_a_mentor_who_does_not_hold_the_case(client, db, world):
    """The picker offers the case's own mentor, not the program's other mentors: a task
    named to one of them would sit on nobody's list (they do not read the case)."""
    sign_in(client, world.coordinator)
    page = client.get(f"/cases/{world.case.public_id}").text
    assert f"user:{world.mentor.public_id}" in page
    assert f"user:{world.other_mentor.public_id}" not in page
    before = len(db.exec(select(Task)).all())
    answer = client.post(
        f"/cases/{world.case.public_id}/tasks",
        data={
            "csrf_token": make.csrf_from(page),
            "title": "SYNTHETIC-NOBODYS-TASK",
            "assignee": f"user:{world.other_mentor.public_id}",
            "due_date": "2026-11-09",
            "priority": "normal",
        },
    )
    assert answer.status_code == 400
    assert "Choose a person or agency taking part in the case." in html.unescape(answer.text)
    assert len(db.exec(select(Task)).all()) == before
    # The program's lead, who reads every case, may still be named.
    assert tasks.takes_tasks(db, world.case, world.lead)
    assert not tasks.takes_tasks(db, world.case, world.other_mentor)
