"""Two writes at once that lock the same rows must take them in one order: the case, its
mentor assignment, the tasks, then the audit logs (portal/audit/chain.py, `lock_logs`).
Taken in opposite orders, PostgreSQL aborts one of the two as a deadlock, and the person
whose write it was is told to try again, their change thrown away.

Each test runs two transactions that really commit, in two threads, and makes them
interleave at the locks: the first pauses just after it locks its first row of the kind
named, until the second has locked its own first row, or waits for a lock the first
holds (`databases.until`; at most three seconds). Only PostgreSQL can deadlock: on
SQLite every writer takes the node's one write lock before its first locking read, so
the second simply waits; the tests run there too, to show both writes are still done.
Synthetic, obviously fictional data only."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from mentor_helpers import as_coordinator, mentor_world, task_on
from sqlalchemy import event
from sqlmodel import Session, select

from portal.audit import chain
from portal.auth.sessions import Viewer
from portal.db import unit_of_work
from portal.models import Agency, MdtCase, MentorAssignment, Role, StaffRole, StaffUser
from portal.models.workflow import Meeting, Task
from portal.services import api_tokens, case_closing, meetings, mentor_assignments, staff, tasks

import factories as make
from databases import lock_waiters, outcome_of, until

LATER = make.AT + timedelta(hours=1)
TODAY = date(2026, 11, 2)


# What a statement locks, as its SQL says (FOR UPDATE is not rendered on SQLite, where
# the node's write lock is taken before the first locking read instead).
LOCKED_BY_SQL = {
    "case": re.compile(r"FROM mdt_case .*FOR UPDATE|^UPDATE mdt_case", re.S),
    "assignment": re.compile(
        r"FROM mentor_assignment .*FOR UPDATE|^UPDATE mentor_assignment", re.S
    ),
    "task": re.compile(r"FROM task .*FOR UPDATE|^UPDATE task ", re.S),
}


def interleaved(
    engine, monkeypatch, first, second, *, first_locks: set[str], second_locks: set[str]
) -> dict[str, str]:
    """Run `first` and `second`, each in a unit of work of its own: `first` pauses just
    after it first locks one of `first_locks` ("case", "assignment", "task", "log"),
    `second` starts then, and `first` goes on once `second` has locked one of
    `second_locks`, or once `second` waits for a lock `first` holds. Returns each
    one's outcome: "done", "refused 409", or the error."""
    first_held, second_held = threading.Event(), threading.Event()
    wanted = {"first": first_locks, "second": second_locks}
    waiting = lock_waiters(engine, monkeypatch)

    def locked(kind: str) -> None:
        name = threading.current_thread().name
        if kind not in wanted.get(name, ()):
            return
        if name == "first" and not first_held.is_set():
            first_held.set()
            until(second_held, waiting)
        elif name == "second":
            second_held.set()

    def after(conn, cursor, statement, parameters, context, executemany):
        for kind, sql in LOCKED_BY_SQL.items():
            if sql.search(statement):
                locked(kind)

    # The logs' heads are read by the driver, past SQLAlchemy's events: every lock of one
    # goes through `lock_head` (`lock_logs` too, after its one query for several).
    lock_head = chain.lock_head

    def lock_head_then(db, agency_id):
        head = lock_head(db, agency_id)
        locked("log")
        return head

    monkeypatch.setattr(chain, "lock_head", lock_head_then)
    outcomes: dict[str, str] = {}

    def run(name, work):
        outcomes[name] = outcome_of(engine, work)

    event.listen(engine, "after_cursor_execute", after)
    try:
        one = threading.Thread(target=run, args=("first", first), name="first")
        one.start()
        assert first_held.wait(timeout=10), outcomes
        two = threading.Thread(target=run, args=("second", second), name="second")
        two.start()
        for thread in (one, two):
            thread.join(timeout=30)
    finally:
        event.remove(engine, "after_cursor_execute", after)
    return outcomes


def test_the_pause_ends_once_the_other_write_waits_for_this_one(committed_engine, monkeypatch):
    """The harness's pause (`databases.until`) ends when the second write is seen waiting
    for a lock the first holds, not when its seconds run out. Waited out, three seconds
    left the second only the rest of its own 5 s lock wait for the first's remaining work,
    and a loaded CI machine overran it: the second was told it waited 5 s for the write
    lock. Here the pause could last a minute: the second would have given up long before."""
    waiting = lock_waiters(committed_engine, monkeypatch)
    outcome: list[str] = []

    def second() -> None:
        outcome.append(outcome_of(committed_engine, lambda db: chain.lock_head(db, None)))

    with unit_of_work(committed_engine) as db:
        chain.lock_head(db, None)  # the node log's head: its row, or on SQLite the write lock
        waiter = threading.Thread(target=second)
        waiter.start()
        until(threading.Event(), waiting, timeout=60)
        assert waiting() and waiter.is_alive(), outcome
    waiter.join(timeout=30)
    assert outcome == ["done"]


def _close(ids):
    def close(db):
        case_closing.close_case(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: the survivor moved away",
            take_off=(),
            listed=None,
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
            today=TODAY,
        )

    return close


def test_a_task_added_while_the_case_closes_is_added_or_refused_never_lost(
    committed_engine, keys, monkeypatch
):
    """The coordinator closes the case while a colleague adds a task to it. Before, on
    PostgreSQL: the close held the MDT's log and then waited for the case, the new task
    held the case (as a reassignment does) and then waited for the log, and PostgreSQL
    aborted one of the two as a deadlock. Now the close holds the case first: the task
    waits, then finds the case closed (409), or comes first and the close follows it."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        ids = {"case": w.case.id, "coordinator": w.coordinator.id}
        program = w.program.public_id

    def add_task(db):
        tasks.create_task(
            db,
            db.get(MdtCase, ids["case"]),
            title="Synthetic: bring the bus pass",
            assignee=f"agency:{program}",
            due_date="2026-11-09",
            offered=None,
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
            today=TODAY,
        )

    outcomes = interleaved(
        committed_engine,
        monkeypatch,
        _close(ids),
        add_task,
        first_locks={"log"},
        second_locks={"case"},
    )
    assert outcomes["first"] == "done", outcomes
    assert outcomes["second"] in ("done", "refused 409"), outcomes


def test_a_mentor_assigned_while_the_case_closes_is_assigned_or_refused_never_lost(
    committed_engine, keys, monkeypatch
):
    """As above, with the program's lead assigning a new mentor to the case as it closes
    (the assignment holds the case, then the logs)."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        ids = {"case": w.case.id, "coordinator": w.coordinator.id}
        other = w.other_mentor.public_id

    def reassign(db):
        mentor_assignments.assign_mentor(
            db,
            db.get(MdtCase, ids["case"]),
            mentor_public_id=other,
            reason="Synthetic: mentor on leave",
            viewer=as_coordinator(w),
            at=LATER,
        )

    outcomes = interleaved(
        committed_engine,
        monkeypatch,
        _close(ids),
        reassign,
        first_locks={"log"},
        second_locks={"case"},
    )
    assert outcomes["first"] == "done", outcomes
    assert outcomes["second"] in ("done", "refused 409"), outcomes


@pytest.mark.parametrize("closing_first", [True, False], ids=["close_first", "agenda_first"])
def test_a_case_put_on_an_agenda_as_it_closes_is_one_or_the_other(
    committed_engine, keys, monkeypatch, closing_first
):
    """The close and an addition of the case to a meeting's agenda at once, either one
    locking first: the other waits, neither is aborted. The addition coming second is told
    the case is closed; the close coming second is told the agendas changed since its page
    (the meeting now has the case), and nothing is closed (409)."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        meeting = meetings.schedule_meeting(
            db,
            w.coordinating,
            day="2026-11-20",
            clock="10:00",
            place="Synthetic room 1",
            actor=w.coordinator,
            at=make.AT,
            tz=ZoneInfo("America/New_York"),
        )
        ids = {"case": w.case.id, "coordinator": w.coordinator.id, "meeting": meeting.id}
        case_public, coordinating = w.case.public_id, w.coordinating.id

    def close(db):
        case_closing.close_case(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: the survivor moved away",
            take_off=(),
            listed=(),  # the page showed no meeting coming
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
            today=TODAY,
        )

    def add(db):
        meetings.add_to_agenda(
            db,
            db.get(Meeting, ids["meeting"]),
            db.get(Agency, coordinating),
            case_public,
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
        )

    first, second = (close, add) if closing_first else (add, close)
    outcomes = interleaved(
        committed_engine,
        monkeypatch,
        first,
        second,
        first_locks={"case", "log"},
        second_locks={"case"},
    )
    assert outcomes == {"first": "done", "second": "refused 409"}, outcomes


def _issues_a_token(db, w) -> None:
    """The world's mentor is also a lead of the program, who issued an API token: when the
    account is deactivated, it is revoked, with an entry in the program's log."""
    db.add(StaffRole(user_id=w.mentor.id, role=Role.AGENCY_LEAD.value, granted_at=make.AT))
    db.flush()
    api_tokens.create_token(
        db,
        Viewer(
            w.mentor,
            w.program,
            frozenset({Role.AGENCY_LEAD.value, Role.SURVIVOR_MENTOR.value}),
            None,
        ),
        name="records system",
        scopes=["cases:read"],
        acting_role=Role.SURVIVOR_MENTOR.value,
        at=make.AT,
    )


def _deactivate(ids):
    def deactivate(db):
        lead = db.get(StaffUser, ids["lead"])
        staff.deactivate(
            db,
            db.get(StaffUser, ids["mentor"]),
            viewer=Viewer(lead, db.get(Agency, ids["program"]), frozenset({"agency_lead"}), None),
            at=LATER,
        )

    return deactivate


@pytest.mark.parametrize("issued_a_token", [False, True], ids=["mentor", "mentor_who_issued"])
def test_a_mentor_deactivated_as_their_assignment_is_ended_ends_it_once(
    committed_engine, keys, monkeypatch, issued_a_token
):
    """The program's lead deactivates a mentor's account while the coordinator ends the
    mentor's assignment to a case. Before, on PostgreSQL: the deactivation held the logs
    (to end the mentor's assignments, or before that to revoke the API tokens the mentor
    had issued as a lead) and then waited for the assignment; the end held the assignment
    and then waited for the logs; PostgreSQL aborted one of the two as a deadlock. Now the
    deactivation holds the mentor's assignments first: the end waits and is told the
    mentor changed just now (409), or comes first and the deactivation passes it by."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        lead = make.user(db, w.program, Role.AGENCY_LEAD)
        task_on(
            db,
            w.case,
            title="Synthetic: find a quiet room",
            assignee=f"user:{w.mentor.public_id}",
            actor=w.coordinator,
        )
        if issued_a_token:
            _issues_a_token(db, w)
        ids = {
            "case": w.case.id,
            "mentor": w.mentor.id,
            "lead": lead.id,
            "program": w.program.id,
        }

    def end(db):
        mentor_assignments.end_assignment(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: the survivor chose another program",
            viewer=as_coordinator(w),
            at=LATER,
        )

    outcomes = interleaved(
        committed_engine,
        monkeypatch,
        _deactivate(ids),
        end,
        first_locks={"log"},
        second_locks={"assignment"},
    )
    assert outcomes["first"] == "done", outcomes
    assert outcomes["second"] in ("done", "refused 409"), outcomes
    with Session(committed_engine) as db:
        assert not db.get(StaffUser, ids["mentor"]).is_active
        current = db.exec(
            select(MentorAssignment).where(
                MentorAssignment.case_id == ids["case"], MentorAssignment.ended_at.is_(None)
            )
        ).all()
        assert current == []
        left = db.exec(
            select(Task).where(Task.case_id == ids["case"], Task.assignee_user_id == ids["mentor"])
        ).all()
        assert left == [], "an open task is left with the deactivated mentor"


def test_cases_put_on_an_agenda_together_as_one_of_them_closes_is_one_or_the_other(
    committed_engine, keys, monkeypatch
):
    """The coordinator adds two cases to a meeting's agenda in one go while the second
    is closed. The addition holds both cases (in one order) before the MDT's log, as the
    close holds its case before the log: had it held each case as it came to it, the
    second after the log the first one's addition took, the two would have deadlocked."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        second_case = make.mdt_case(db, w.coordinating, intake=date(2026, 10, 21))
        meeting = meetings.schedule_meeting(
            db,
            w.coordinating,
            day="2026-11-20",
            clock="10:00",
            place="Synthetic room 1",
            actor=w.coordinator,
            at=make.AT,
            tz=ZoneInfo("America/New_York"),
        )
        ids = {"case": second_case.id, "coordinator": w.coordinator.id, "meeting": meeting.id}
        chosen = [w.case.public_id, second_case.public_id]
        coordinating = w.coordinating.id

    def add(db):
        meetings.add_cases_to_agenda(
            db,
            db.get(Meeting, ids["meeting"]),
            db.get(Agency, coordinating),
            chosen,
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
        )

    def close(db):
        case_closing.close_case(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: the survivor moved away",
            take_off=(),
            listed=(),
            actor=db.get(StaffUser, ids["coordinator"]),
            at=LATER,
            today=TODAY,
        )

    outcomes = interleaved(
        committed_engine, monkeypatch, add, close, first_locks={"log"}, second_locks={"case"}
    )
    assert outcomes == {"first": "done", "second": "refused 409"}, outcomes


def test_a_mentor_lead_deactivated_as_another_case_gets_a_mentor_of_the_program_both_done(
    committed_engine, keys, monkeypatch
):
    """The program's lead deactivates a mentor who is also a lead and issued an API token,
    while the coordinator assigns another case to another mentor of the program. The
    deactivation wrote the program's log first (the token's revocation), then, ending the
    mentor's assignment, the coordinating agency's; the assignment writes the coordinating
    agency's log, then the program's. Taken so, the two deadlocked on PostgreSQL. Now the
    deactivation holds every log it writes to at once, in the one order, before any."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        lead = make.user(db, w.program, Role.AGENCY_LEAD)
        _issues_a_token(db, w)
        other_case = make.mdt_case(db, w.coordinating, intake=date(2026, 10, 22))
        ids = {
            "mentor": w.mentor.id,
            "lead": lead.id,
            "program": w.program.id,
            "other_case": other_case.id,
        }
        other_mentor = w.other_mentor.public_id
    assert w.coordinating.id < w.program.id  # the order lock_logs takes them in

    def assign(db):
        mentor_assignments.assign_mentor(
            db,
            db.get(MdtCase, ids["other_case"]),
            mentor_public_id=other_mentor,
            reason=None,
            viewer=as_coordinator(w),
            at=LATER,
        )

    outcomes = interleaved(
        committed_engine,
        monkeypatch,
        _deactivate(ids),
        assign,
        first_locks={"log"},
        second_locks={"log"},
    )
    assert outcomes == {"first": "done", "second": "done"}, outcomes
