"""Mentor assignments and the coordinator's lists, as a reviewer suspected them: each test
is named after what should happen, and failed on the code the reviewer read. Synthetic,
obviously fictional data only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from mentor_helpers import mentor_world
from sqlmodel import Session, select

from portal.db import unit_of_work
from portal.errors import Conflict
from portal.models import Agency, MdtCase, MentorAssignment, Role, StaffUser
from portal.services import mentor_assignments, mentor_program

import factories as make
from databases import BACKENDS, migrated_engine


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    """A database of its own whose transactions really commit, one per request."""
    with migrated_engine(request.param, tmp_path, pool_size=4, lock_wait_ms=5_000) as engine:
        yield engine


def test_ending_and_reassigning_one_mentor_at_once_keep_one_of_the_two(
    committed_engine, keys, monkeypatch
):
    # Before: the coordinator presses "End assignment" while the program's lead reassigns
    # the case to another mentor. Both read the same current assignment, both wrote it and
    # both were told it was done: the case ended up with the new mentor though its
    # coordinator was told "no mentor now", the ended row carrying whichever reason was
    # written last, and the history showing an end and a reassignment of one assignment.
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        lead = make.user(db, w.program, Role.AGENCY_LEAD)
        ids = {
            "case": w.case.id,
            "coordinator": w.coordinator.id,
            "coordinating": w.coordinating.id,
            "lead": lead.id,
            "program": w.program.id,
        }
        other_mentor = w.other_mentor.public_id

    # Both requests have read the case's current assignment before either writes.
    both_read = threading.Barrier(2, timeout=10)
    read = mentor_assignments.current_assignment

    def read_then_wait(db, case):
        current = read(db, case)
        both_read.wait()
        return current

    monkeypatch.setattr(mentor_assignments, "current_assignment", read_then_wait)
    later = make.AT + timedelta(hours=1)

    def end(db):
        viewer = mentor_program.Assigner(
            db.get(StaffUser, ids["coordinator"]),
            db.get(Agency, ids["coordinating"]),
            frozenset({"mdt_coordinator"}),
        )
        mentor_assignments.end_assignment(
            db,
            db.get(MdtCase, ids["case"]),
            reason="Synthetic: survivor asked",
            viewer=viewer,
            at=later,
        )

    def reassign(db):
        viewer = mentor_program.Assigner(
            db.get(StaffUser, ids["lead"]),
            db.get(Agency, ids["program"]),
            frozenset({"agency_lead"}),
        )
        mentor_assignments.assign_mentor(
            db,
            db.get(MdtCase, ids["case"]),
            mentor_public_id=other_mentor,
            reason="Synthetic: mentor on leave",
            viewer=viewer,
            at=later,
        )

    outcomes: dict[str, str] = {}

    def run(name, work):
        try:
            with unit_of_work(committed_engine) as db:
                work(db)
            outcomes[name] = "done"
        except Conflict as error:
            outcomes[name] = f"refused {error.status_code}"
        except BaseException as error:  # reported by the assertion below
            outcomes[name] = repr(error)

    threads = [threading.Thread(target=run, args=a) for a in (("end", end), ("reassign", reassign))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["done", "refused 409"], outcomes
    with Session(committed_engine) as db:
        rows = db.exec(
            select(MentorAssignment)
            .where(MentorAssignment.case_id == ids["case"])
            .order_by(MentorAssignment.id)
        ).all()
    first = rows[0]
    if outcomes["end"] == "done":
        assert len(rows) == 1 and first.end_reason == "Synthetic: survivor asked"
    else:
        assert len(rows) == 2 and rows[1].ended_at is None
        assert first.end_reason == "Synthetic: mentor on leave"
