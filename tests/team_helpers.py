"""A small MDT for the one-door tests (issue 14): a coordinator with no client of its own,
two agencies each serving one survivor on the case, and a system-based third."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from disclosure_helpers import SIGNER

import consent
from portal.models import AgencyKind, Discipline, Role
from portal.requester import Requester
from portal.services import cases, casework, meetings, releases, tasks

import factories as make

NY = ZoneInfo("America/New_York")
TODAY = date(2026, 11, 2)
DECISION_NOTE = "SYNTHETIC-DECISION-NOTE"
TASK_TITLE = "SYNTHETIC-TASK-TITLE"


def _release(db, keys, agency, client, staff, recipients, sections):
    row = releases.draft_release(
        db,
        client,
        recipients=[r.public_id for r in recipients],
        sections=sections,
        purpose="mdt_case_review",
        effective_at=make.AT,
        expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=staff,
        at=make.AT,
    )
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=staff,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    return row


class Team:
    """A coordinator with no client of its own, two agencies each serving one survivor on
    the case, and a third (law enforcement) taking part with a client record of its own."""

    def __init__(self, db, keys, *, birth=None):
        """`birth`: the clients' birth date (default: the factories', an adult's)."""
        self.coordinator = make.agency(db, keys, name="Coordinating CAC (synthetic)")
        self.a = make.agency(db, keys, discipline=Discipline.HEALTH, name="Clinic A (synthetic)")
        self.b = make.agency(db, keys, discipline=Discipline.SHELTER, name="Shelter B (synthetic)")
        self.r = make.agency(
            db,
            keys,
            kind=AgencyKind.SYSTEM,
            discipline=Discipline.LAW_ENFORCEMENT,
            name="Unit R (synthetic)",
        )
        self.staff = {
            agency.id: make.user(db, agency, Role.MDT_COORDINATOR, Role.ADVOCATE)
            for agency in (self.coordinator, self.a, self.b, self.r)
        }
        self.case = make.mdt_case(db, self.coordinator)
        self.clients = {}
        for agency in (self.a, self.b, self.r):
            self.clients[agency.id] = make.client_record(
                db, agency, keys, **({"birth": birth} if birth else {})
            )
            cases.link_client(
                db,
                self.case,
                agency,
                self.clients[agency.id],
                actor=None,
                at=make.AT,
                confirmed=True,
            )
        db.flush()

    def requester(self, agency, role=Role.ADVOCATE) -> Requester:
        return make.requester(
            self.staff[agency.id], agency, {role.value}, purpose="mdt_case_review"
        )

    def joined(self, db, keys, agency, staff, recipients):
        """`agency` joins the case by the page's path: invited, its own survivor's release
        naming `recipients` for participation, its link confirmed by `staff`. The survivor,
        that release and the link."""
        survivor = make.client_record(db, agency, keys)
        casework.add_agency(db, self.case, agency.public_id, actor=None, at=make.AT)
        joined = _release(db, keys, agency, survivor, staff, recipients, ["participation"])
        link = casework.confirm_link(
            db,
            self.case,
            agency,
            client_reference=survivor.reference,
            actor=staff,
            at=make.AT,
            keys=keys,
        )
        return survivor, joined, link

    def release(self, db, keys, agency, recipients, sections=("mdt_decisions", "mdt_tasks")):
        return _release(
            db,
            keys,
            agency,
            self.clients[agency.id],
            self.staff[agency.id],
            recipients,
            list(sections),
        )

    def task(self, db, *, writer=None, assignee=None, title: str = TASK_TITLE, **extra):
        """A task on the case, due in a week, written by `writer` (Clinic A's staff) for
        `assignee` (Unit R's staff)."""
        return tasks.create_task(
            db,
            self.case,
            title=title,
            assignee=assignee or f"user:{self.staff[self.r.id].public_id}",
            due_date=(TODAY + timedelta(days=7)).isoformat(),
            offered=None,
            actor=writer or self.staff[self.a.id],
            at=make.AT,
            today=TODAY,
            **extra,
        )

    def hand_task(self, db, task, agency) -> None:
        """The coordinator, told of everyone, hands `task` to `agency`'s staff."""
        tasks.update_task(
            db,
            task,
            self.case,
            assignee=f"user:{self.staff[agency.id].public_id}",
            due_date=task.due_date.isoformat(),
            priority="normal",
            offered=None,
            actor=self.staff[self.coordinator.id],
            at=make.AT,
        )
        db.flush()

    def decision(self, db) -> None:
        coordinator = self.staff[self.coordinator.id]
        meeting = meetings.schedule_meeting(
            db,
            self.coordinator,
            day=TODAY.isoformat(),
            clock="10:00",
            place="Room 1",
            case_ids=[self.case.public_id],
            actor=coordinator,
            at=make.AT - timedelta(days=1),
            tz=NY,
        )
        meetings.hold_meeting(db, meeting, actor=coordinator, at=make.AT, today=TODAY)
        self.meeting = meeting
        item = meetings.agenda(db, meeting, self.coordinator)[0].item
        meetings.record_decision(
            db,
            meeting,
            item,
            recommendation=meetings.recommendation_types(db, self.coordinator)[0].label,
            text=DECISION_NOTE,
            actor=coordinator,
            at=make.AT,
        )
        db.flush()


def joining_release(db, keys, agency, client, coordinating, sections=("identity",)):
    """The release under which `agency`'s client may join a case `coordinating` runs."""
    staff = make.user(db, agency, Role.CASE_MANAGER)
    return _release(db, keys, agency, client, staff, [coordinating], list(sections))
