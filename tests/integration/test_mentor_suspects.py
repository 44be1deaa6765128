"""Mentor assignments and the coordinator's lists, as a reviewer suspected them: each test
is named after what should happen, and failed on the code the reviewer read. Synthetic,
obviously fictional data only."""

from __future__ import annotations

import threading
from datetime import timedelta

from form_markup import Page
from mentor_helpers import mentor_world
from sqlmodel import Session, select

from portal.db import unit_of_work
from portal.models import Agency, MdtCase, MentorAssignment, Role, StaffUser
from portal.services import convening, mentor_assignments, mentor_program

import factories as make
from databases import outcome_of


def _coordinator_ends(db, ids: dict, *, at) -> None:
    """The case's coordinator ends its mentor assignment ("Synthetic: survivor asked")."""
    viewer = mentor_program.Assigner(
        db.get(StaffUser, ids["coordinator"]),
        db.get(Agency, ids["coordinating"]),
        frozenset({"mdt_coordinator"}),
    )
    mentor_assignments.end_assignment(
        db, db.get(MdtCase, ids["case"]), reason="Synthetic: survivor asked", viewer=viewer, at=at
    )


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
        _coordinator_ends(db, ids, at=later)

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
        outcomes[name] = outcome_of(committed_engine, work)

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


# --- the coordinator's lists ----------------------------------------------------------------


def test_the_dashboard_says_how_many_more_cases_wait_and_links_to_all_of_them(client, db, keys):
    # Before: "Awaiting first MDT" listed the first 25 cases and "No review in 30 days" the
    # first 20, nothing below either table saying there were more or where to find them:
    # a coordinator with 31 cases waiting never saw the six whose deadline came last.
    from test_workflow_pages import TODAY, a_case, sign_in

    agency = make.agency(db, keys)
    waiting = [a_case(db, agency, intake=TODAY - timedelta(days=40)) for _ in range(31)]
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = Page(client.get("/").text)

    for heading, more, shown in (("first-mdt-h", "6 more", 25), ("stale-h", "11 more", 20)):
        (panel,) = [s for s in page.all("section") if s.get("aria-labelledby") == heading]
        words = " ".join(panel.text.split())
        assert more in words, f"{heading}: {words}"
        (link,) = [a for a in panel.descendants() if a.tag == "a" and "all" in a.text.lower()]
        full = client.get(link.get("href"))
        assert full.status_code == 200, link.get("href")
        listed = {c.reference for c in waiting if c.reference in full.text}
        assert len(listed) == 31, f"{link.get('href')} lists {len(listed)} of 31 (shown {shown})"


def test_the_full_lists_pages_visit_every_case_once(db, keys):
    # The full lists read a page at a time; a page across the two halves of "no review"
    # (never reviewed, then reviewed long ago) must neither skip nor repeat a case.
    from test_workflow_pages import TODAY, a_case

    agency = make.agency(db, keys)
    made = [a_case(db, agency, intake=TODAY - timedelta(days=90)) for _ in range(7)]
    for number, case in enumerate(made[:3]):
        case.last_review_date = TODAY - timedelta(days=40 + number)
        db.add(case)
    db.flush()
    stale, awaiting = [], []
    for offset in range(0, 9, 2):
        _, rows = convening.without_review(db, agency, today=TODAY, days=30, limit=2, offset=offset)
        stale += [r.reference for r in rows]
        awaiting += [
            r.reference
            for r in convening.awaiting_first_mdt(db, agency, today=TODAY, limit=2, offset=offset)
        ]
    everyone = sorted(c.reference for c in made)
    assert sorted(stale) == everyone and sorted(awaiting) == everyone
    assert stale[4:] == [made[2].reference, made[1].reference, made[0].reference]


def test_a_mentor_deactivated_while_the_coordinator_ends_the_assignment_keeps_one_end(
    committed_engine, keys, monkeypatch
):
    """Deactivating a mentor ends their assignments; the coordinator ends one of them at
    the same moment. Before: the deactivation, having read the assignment as current,
    wrote its end over the coordinator's (its reason, its time) and logged a second end of
    one assignment. Now the first end stands, and the later one ends nothing."""
    with unit_of_work(committed_engine) as db:
        w = mentor_world(db, keys)
        ids = {
            "case": w.case.id,
            "coordinator": w.coordinator.id,
            "coordinating": w.coordinating.id,
            "mentor": w.mentor.id,
        }
    later = make.AT + timedelta(hours=1)
    read_it = threading.Event()
    hold_assignments_of = mentor_assignments.hold_assignments_of

    def deactivation_starts_then_waits(db, mentor):
        # The deactivation has started (its transaction has read the mentor); the
        # coordinator's end commits before it holds the mentor's assignments. (It reads
        # them held now, so an end can no longer commit between its read and its write:
        # one sent then waits for the deactivation, test_lock_order.py.)
        if threading.current_thread().name == "deactivate":
            read_it.set()
            ended.wait(timeout=10)
        return hold_assignments_of(db, mentor)

    monkeypatch.setattr(mentor_assignments, "hold_assignments_of", deactivation_starts_then_waits)
    ended = threading.Event()
    counted: list[int] = []

    def deactivate():
        with unit_of_work(committed_engine) as db:
            mentor = db.get(StaffUser, ids["mentor"])
            counted.append(
                mentor_assignments.end_for_deactivated_mentor(db, mentor, actor=mentor, at=later)
            )

    thread = threading.Thread(target=deactivate, name="deactivate")
    thread.start()
    assert read_it.wait(timeout=10)
    with unit_of_work(committed_engine) as db:
        _coordinator_ends(db, ids, at=later)
    ended.set()
    thread.join(timeout=20)
    assert counted == [0]
    with Session(committed_engine) as db:
        (row,) = db.exec(
            select(MentorAssignment).where(MentorAssignment.case_id == ids["case"])
        ).all()
        assert row.end_reason == "Synthetic: survivor asked"
