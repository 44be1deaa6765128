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
from databases import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    """A database of its own whose transactions really commit, one per request."""
    with migrated_engine(request.param, tmp_path, pool_size=4, lock_wait_ms=5_000) as engine:
        yield engine


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

    def read_then_wait(*args, **kwargs):
        # The task form has read the mentor as the case's; the end commits before it writes
        # (or, if the form holds the assignment, waits for it: then the wait times out).
        held = hold_tasks(*args, **kwargs)
        if threading.current_thread().name == "task":
            read_it.set()
            ended.wait(timeout=3)
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
        assert db.exec(
            select(MentorAssignment).where(
                MentorAssignment.case_id == ids["case"], MentorAssignment.ended_at.is_(None)
            )
        ).all() == []
        left = db.exec(
            select(Task).where(
                Task.case_id == ids["case"],
                Task.assignee_user_id == ids["mentor"],
                Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]),
            )
        ).all()
        assert left == [], "an open task is named to a mentor who no longer holds the case"
