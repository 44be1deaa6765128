"""A page that asks several owners' points in turn never takes an audit log behind one it
already holds. Its answers commit owner by owner (`case_records.write_sides`), but its
own agency's log could be held from an entry written before (its own staff's reads): the
next owner's log was then taken behind it. Two people opening case pages at once, one in
each of two agencies, each held their own log and waited for the other's: on PostgreSQL
one of them was aborted as a deadlock and told to try again.

The order is checked as it is taken (conftest's `audit_logs_locked_in_order`, in every
test): a deadlock needs a second request at the right moment, the order only this one.
Synthetic, obviously fictional data only."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from test_screening_pages import _minor_screened_and_reported

from portal.models import AgencyKind, Discipline, Role
from portal.services import cases, meetings

import factories as make
from team_helpers import Team, _release


def test_a_case_page_takes_each_owners_log_in_order(
    client, db, keys, clock, audit_logs_locked_in_order
):
    team = Team(db, keys, birth=make.MINOR_BIRTH)
    r_staff = team.staff[team.r.id]
    _minor_screened_and_reported(
        db, keys, clock, team.r, r_staff, team.clients[team.r.id], "LE-2026-777004"
    )
    viewers = (make.user(db, team.a, Role.ADVOCATE), r_staff)
    for viewer in viewers:
        client.cookies.clear()
        make.login(client, viewer.username)
        assert client.get(f"/cases/{team.case.public_id}").status_code == 200
        assert audit_logs_locked_in_order == [], viewer.username


def test_a_meeting_page_of_several_cases_takes_each_owners_log_in_order(
    client, db, keys, clock, audit_logs_locked_in_order
):
    """A meeting's page asks, case by case, whether the viewer may be told that a
    community-based agency takes part, and commits each owner's answers before the next
    case. The viewer's receipts of a case were kept for the commit: written at the next
    case's commit, after that case's owner's log was taken, behind it. An investigator on
    the demo's meeting pages (its agency's id below the shelter's) broke the order."""
    coordinating = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    investigators = make.agency(
        db,
        keys,
        kind=AgencyKind.SYSTEM,
        discipline=Discipline.LAW_ENFORCEMENT,
        name="Unit V (synthetic)",
    )
    shelter = make.agency(db, keys, discipline=Discipline.SHELTER, name="Shelter S (synthetic)")
    coordinator = make.user(db, coordinating, Role.MDT_COORDINATOR)
    investigator = make.user(db, investigators, Role.INVESTIGATOR)
    shelter_staff = make.user(db, shelter, Role.CASE_MANAGER)
    agenda = []
    for number in range(2):
        case = make.mdt_case(db, coordinating)
        for agency in (investigators, shelter):
            survivor = make.client_record(db, agency, keys, given=f"Robin{number}")
            cases.link_client(db, case, agency, survivor, actor=None, at=make.AT, confirmed=True)
        # The shelter's survivor lets the investigators be told the shelter takes part.
        _release(db, keys, shelter, survivor, shelter_staff, [investigators], ["participation"])
        agenda.append(case.public_id)
    meeting = meetings.schedule_meeting(
        db,
        coordinating,
        day=(clock().date() + timedelta(days=2)).isoformat(),
        clock="10:00",
        place="Room 2 (synthetic)",
        case_ids=agenda,
        actor=coordinator,
        at=clock(),
        tz=ZoneInfo("America/New_York"),
    )
    db.flush()
    make.login(client, investigator.username)
    assert client.get(f"/meetings/{meeting.public_id}").status_code == 200
    assert audit_logs_locked_in_order == []
