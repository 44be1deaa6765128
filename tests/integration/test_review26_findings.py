"""Review of the mentor caseload, task handover, unverified release and closed-case agenda
work, as an insider with a valid account would attack it: each test is named after what
should happen, and failed on the code reviewed. Synthetic, obviously fictional data only."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from mentor_helpers import as_coordinator, mentor_world, task_on
from sqlmodel import Session, select

from portal.db import unit_of_work
from portal.errors import Invalid
from portal.models import MdtCase, MentorAssignment, StaffUser
from portal.models.workflow import ACTIVE_TASK_STATUSES, Task
from portal.services import mentor_assignments, tasks

import factories as make
from databases import lock_waiters, outcome_of, until


def _name_the_mentor(db, ids: dict, how: str, at) -> None:
    """The coordinator names the case's mentor on a task: a new one, or the program's task
    edited to name them."""
    case = db.get(MdtCase, ids["case"])
    coordinator = db.get(StaffUser, ids["coordinator"])
    mentor = f"user:{ids['mentor_public']}"
    if how == "create":
        tasks.create_task(
            db,
            case,
            title="Synthetic: bring the bus pass",
            assignee=mentor,
            due_date="2026-11-09",
            offered=None,
            actor=coordinator,
            at=at,
            today=date(2026, 11, 2),
        )
    else:
        task = db.get(Task, ids["task"])
        tasks.update_task(
            db,
            task,
            case,
            assignee=mentor,
            due_date="2026-11-09",
            priority="normal",
            offered=None,
            actor=coordinator,
            at=at,
        )


@pytest.mark.parametrize("how", ["create", "edit"])
def test_a_task_named_to_the_mentor_as_their_assignment_ends_is_not_left_with_them(
    committed_engine, keys, monkeypatch, how
):
    """The coordinator names the case's mentor on a task while the mentor's assignment is
    ended. Before: the task form read the mentor as the case's own, the end passed the
    mentor's open tasks back to the program (none yet), and the task was then saved in the
    former mentor's name: they no longer read it (access_task), so it sat on nobody's
    list. Now the task goes to the program with the others, or is refused."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        task = task_on(
            db,
            w.case,
            title="Synthetic: find a quiet room",
            assignee=f"agency:{w.program.public_id}",
            actor=w.coordinator,
        )
        ids = {
            "case": w.case.id,
            "coordinator": w.coordinator.id,
            "mentor": w.mentor.id,
            "mentor_public": w.mentor.public_id,
            "task": task.id,
        }
    later = make.AT + timedelta(hours=1)
    read_it, ended = threading.Event(), threading.Event()
    hold_tasks = tasks._hold_tasks
    waiting = lock_waiters(committed_engine, monkeypatch)

    def read_then_wait(*args, **kwargs):
        # The task form has read the mentor as the case's; the end commits before it writes
        # (or, if the form holds the assignment, waits for it: then this goes on).
        held = hold_tasks(*args, **kwargs)
        if threading.current_thread().name == "task":
            read_it.set()
            until(ended, waiting)
        return held

    monkeypatch.setattr(tasks, "_hold_tasks", read_then_wait)
    outcome: list[str] = []

    def name_them():
        try:
            with unit_of_work(committed_engine) as db:
                _name_the_mentor(db, ids, how, later)
            outcome.append("saved")
        except Invalid as error:
            outcome.append(f"refused {error.status_code}")
        except BaseException as error:  # reported by the assertion below
            outcome.append(repr(error))

    thread = threading.Thread(target=name_them, name="task")
    thread.start()
    assert read_it.wait(timeout=10)
    with unit_of_work(committed_engine) as db:
        mentor_assignments.end_assignment(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: the survivor chose another program",
            viewer=as_coordinator(w),
            at=later,
        )
    ended.set()
    thread.join(timeout=20)
    assert outcome and (outcome[0] == "saved" or outcome[0].startswith("refused 4")), outcome
    with Session(committed_engine) as db:
        assert (
            db.exec(
                select(MentorAssignment).where(
                    MentorAssignment.case_id == ids["case"], MentorAssignment.ended_at.is_(None)
                )
            ).all()
            == []
        )
        left = db.exec(
            select(Task).where(
                Task.case_id == ids["case"],
                Task.assignee_user_id == ids["mentor"],
                Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]),
            )
        ).all()
        assert left == [], "an open task is named to a mentor who no longer holds the case"


def test_a_mentor_task_edited_while_the_case_passes_to_another_mentor_is_saved_and_passed(
    committed_engine, keys, monkeypatch
):
    """The coordinator changes the priority of a task named to the case's mentor while the
    program's case passes to another mentor. Before, on PostgreSQL: the edit held the task
    and then waited for the logs, the reassignment held the logs (pass_from_mentor) and
    then waited for the task, and PostgreSQL aborted one of the two as a deadlock (the
    person was told to try again, their work lost). Now both are done: the edit first, the
    task then passed to the new mentor."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        task = task_on(
            db,
            w.case,
            title="Synthetic: find a quiet room",
            assignee=f"user:{w.mentor.public_id}",
            actor=w.coordinator,
        )
        ids = {
            "case": w.case.id,
            "coordinator": w.coordinator.id,
            "task": task.id,
            "other_mentor": w.other_mentor.id,
        }
    later = make.AT + timedelta(hours=1)
    read_it, passed = threading.Event(), threading.Event()
    current_assignee = tasks._current_assignee
    waiting = lock_waiters(committed_engine, monkeypatch)

    def read_then_wait(db, task):
        # The edit holds the task; the reassignment starts before it writes.
        found = current_assignee(db, task)
        if threading.current_thread().name == "edit":
            read_it.set()
            until(passed, waiting)
        return found

    monkeypatch.setattr(tasks, "_current_assignee", read_then_wait)
    outcomes: dict[str, str] = {}

    def run(name, work):
        outcomes[name] = outcome_of(committed_engine, work)

    def edit(db):
        tasks.update_task(
            db,
            db.get(Task, ids["task"]),
            db.get(MdtCase, ids["case"]),
            assignee=tasks.KEEP_ASSIGNEE,
            due_date="2026-11-09",
            priority="high",
            offered=None,
            actor=db.get(StaffUser, ids["coordinator"]),
            at=later,
        )

    def reassign(db):
        mentor_assignments.assign_mentor(
            db,
            db.get(MdtCase, ids["case"]),
            mentor_public_id=w.other_mentor.public_id,
            reason="Synthetic: mentor on leave",
            viewer=as_coordinator(w),
            at=later,
        )
        passed.set()

    editing = threading.Thread(target=run, args=("edit", edit), name="edit")
    editing.start()
    assert read_it.wait(timeout=10)
    reassigning = threading.Thread(target=run, args=("reassign", reassign), name="reassign")
    reassigning.start()
    for thread in (editing, reassigning):
        thread.join(timeout=30)
    assert outcomes == {"edit": "done", "reassign": "done"}, outcomes
    with Session(committed_engine) as db:
        saved = db.get(Task, ids["task"])
        assert (saved.priority, saved.assignee_user_id) == ("high", ids["other_mentor"])
