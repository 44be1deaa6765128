"""A survivor-mentor opens the cases they hold, not every case their program is on.

DESIGN.md: a survivor-mentor comes "to see their caseload". The default policy releases a
survivor's identity, safe contact and safety strategies to the survivor-mentor role, so a
second mentor of the same program, never assigned to the survivor, must not reach the
case page, its summary, its owners' fragments or its packet, nor see the case listed.
Someone who reads cases in another role too (the program's lead) still reads them all.
"""

import pathlib
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from mentor_helpers import (
    as_mentor,
    case_held_by,
    court_visit,
    end_mentor,
    mentor_token,
    mentor_world,
    sign_in,
    task_on,
)
from page_text import page_text
from sqlmodel import select

from portal.errors import NotFound
from portal.models import AuditEntry, CaseLink, Role
from portal.services import cases, meetings

import factories as make

CASE_PAGES = ("", "/summary", "/packet")


@pytest.fixture
def world(db, keys):
    w = mentor_world(db, keys)
    # Assigning the mentor made the program part of the case: every person of the program
    # passes the agency's check, which is what the caseload check must narrow.
    w.lead = make.user(db, w.program, Role.AGENCY_LEAD, Role.SURVIVOR_MENTOR)
    db.flush()
    return w


def _held_by_the_other_mentor(db, world):
    """A second case of the coordinating agency, held by the program's other mentor."""
    return case_held_by(db, world, world.other_mentor, intake=date(2026, 10, 21))


def test_the_assigned_mentor_opens_the_case_and_its_summary(client, world):
    sign_in(client, world.mentor)
    for page in CASE_PAGES:
        assert client.get(f"/cases/{world.case.public_id}{page}").status_code == 200, page
    dashboard = client.get("/").text
    assert world.case.reference in dashboard and "MDT cases you mentor" in dashboard
    # Beside "My caseload", which counts open cases only, the list says why it may hold more.
    assert "your caseload counts only the open ones" in dashboard


def test_another_mentor_of_the_program_is_answered_as_if_the_case_did_not_exist(client, world):
    sign_in(client, world.other_mentor)
    for page in (*CASE_PAGES, f"/summary/owners/{world.coordinating.public_id}"):
        answer = client.get(f"/cases/{world.case.public_id}{page}")
        assert answer.status_code == 404, page
        assert world.case.reference not in answer.text
    dashboard = client.get("/").text
    assert world.case.reference not in dashboard
    assert "No MDT case is assigned to you yet" in dashboard


def test_a_mentor_whose_assignment_ended_no_longer_opens_the_case(client, db, world):
    end_mentor(db, world, world.case)
    sign_in(client, world.mentor)
    assert client.get(f"/cases/{world.case.public_id}/summary").status_code == 404


def test_the_programs_lead_still_reads_every_case_of_the_program(client, world):
    sign_in(client, world.lead)
    for page in CASE_PAGES:
        assert client.get(f"/cases/{world.case.public_id}{page}").status_code == 200, page


def test_an_api_token_acting_as_a_mentor_lists_and_opens_only_held_cases(client, db, world):
    bearer = mentor_token(db, world, "cases:read", "summary:read")
    listing = client.get("/api/v1/cases", headers=bearer).json()
    assert listing["items"] == [] and listing["total"] == 0
    for path in ("", "/summary"):
        answer = client.get(f"/api/v1/cases/{world.case.public_id}{path}", headers=bearer)
        assert answer.status_code == 404, path


def test_the_case_loader_narrows_to_the_holder(db, world):
    mentor, other = as_mentor(world, world.mentor), as_mentor(world, world.other_mentor)
    assert cases.case_for(db, mentor, world.case.public_id).id == world.case.id
    with pytest.raises(NotFound):
        cases.case_for(db, other, world.case.public_id)
    held = cases.cases_for_agency(db, world.program, window_days=14, holder=world.other_mentor)
    assert held == [] and cases.count_cases_for_agency(db, world.program, holder=world.mentor) == 1


def test_no_handler_opens_a_case_by_id_without_the_viewers_caseload():
    """Pages and API operations open a case through `cases.case_for` (or the coordinator's
    own loader), never `access_case` with the agency alone, which skips the caseload."""
    root = pathlib.Path(__file__).resolve().parents[2] / "portal"
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("web", "api")
        for path in sorted((root / folder).glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "access_case(" in line
    ]
    assert offenders == []


def test_a_meeting_shows_a_mentor_only_the_agenda_items_of_cases_they_hold(client, db, world):
    other_case = _held_by_the_other_mentor(db, world)
    meeting = meetings.schedule_meeting(
        db,
        world.coordinating,
        day="2026-11-04",
        clock="10:00",
        place="Room 1",
        invited=[world.program.public_id],
        case_ids=[world.case.public_id, other_case.public_id],
        actor=world.coordinator,
        at=make.AT,
        tz=ZoneInfo("America/New_York"),
    )
    db.flush()
    sign_in(client, world.mentor)
    page = client.get(f"/meetings/{meeting.public_id}").text
    assert world.case.reference in page and other_case.reference not in page
    # The meeting's calendar file names the same cases as its page.
    ics = client.get(f"/meetings/{meeting.public_id}/calendar.ics").text
    assert world.case.reference in ics and other_case.reference not in ics
    sign_in(client, world.lead)
    page = client.get(f"/meetings/{meeting.public_id}").text
    assert world.case.reference in page and other_case.reference in page
    ics = client.get(f"/meetings/{meeting.public_id}/calendar.ics").text
    assert world.case.reference in ics and other_case.reference in ics


def _task(db, world, case, assignee: str, title: str):
    return task_on(db, case, title=title, assignee=assignee, actor=world.coordinator)


def test_a_mentor_sees_the_programs_tasks_only_on_cases_they_hold(client, db, world):
    other_case = _held_by_the_other_mentor(db, world)
    program = f"agency:{world.program.public_id}"
    held = _task(db, world, world.case, program, "SYNTHETIC-TASK-HELD")
    other = _task(db, world, other_case, program, "SYNTHETIC-TASK-OTHER")
    named = _task(db, world, other_case, program, "SYNTHETIC-NAMED")
    # Named to the mentor on a case they do not hold: no task is given so now (the picker
    # offers the case's own mentor), but one given before the rule, or kept as a done
    # task's history, still names them.
    named.assignee_user_id = world.mentor.id
    db.add(named)
    db.flush()
    sign_in(client, world.mentor)
    listed = client.get("/tasks?scope=agency&status=all").text
    assert held.public_id in listed and other.public_id not in listed
    assert client.get(f"/tasks/{held.public_id}").status_code == 200
    assert client.get(f"/tasks/{other.public_id}").status_code == 404
    # Given to the mentor by name on a case they do not hold: about that survivor all the
    # same, so answered and listed as a task that does not exist (tasks.access_task).
    assert client.get(f"/tasks/{named.public_id}").status_code == 404
    assert named.public_id not in client.get("/tasks?status=all").text
    sign_in(client, world.lead)
    listed = client.get("/tasks?scope=agency&status=all").text
    assert held.public_id in listed and other.public_id in listed
    assert client.get(f"/tasks/{named.public_id}").status_code == 200


def _own_accompaniment(html: str) -> str:
    """The summary's placeholder of the program's own mentor accompaniment."""
    start = html.index('data-section="mentor_accompaniment"')
    return html[start : html.index("</article>", start)]


def _held_with_a_log(db, keys, world):
    """A case the mentor holds, the program's link to it confirmed (its sections are asked
    for), with an hour at court in the program's accompaniment log (SYNTHETIC-LOG-NOTE)."""
    survivor = make.client_record(db, world.program, keys)
    case = case_held_by(db, world, world.mentor, intake=date(2026, 10, 21), client=survivor)
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == world.program.id)
    ).one()
    link.confirmed_at = make.AT
    db.add(link)
    court_visit(db, case, world.mentor, notes="SYNTHETIC-LOG-NOTE")
    return case


def test_the_summary_tells_a_mentor_where_they_keep_their_own_accompaniment_log(
    client, db, keys, world
):
    """On the summary of a survivor they hold, a mentor's own program's "Mentor
    accompaniment" read "the disclosure policy does not release mentor accompaniment to your
    agency's own staff in the role survivor-mentor", while the same mentor writes and reads
    that log on their caseload page. The policy still withholds it from the summary (none of
    the log is there, and the audit entry keeps the policy's sentence); the placeholder says
    where the log is and links to it. Someone who reads every case and holds not this one is
    sent to their caseload."""
    case = _held_with_a_log(db, keys, world)
    sign_in(client, world.mentor)
    summary = f"/cases/{case.public_id}/summary"
    for path in (summary, f"{summary}/owners/{world.program.public_id}"):
        html = client.get(path).text
        placeholder = _own_accompaniment(html)
        said = page_text(placeholder)
        assert 'data-gate="policy"' in placeholder and "does not release" not in said, path
        assert (
            "the case summary does not show mentor accompaniment to survivor-mentors (your "
            "agency's disclosure policy); you read and keep the accompaniment log on your "
            f"caseload page. Open the accompaniment log of {case.reference}"
        ) in said, path
        assert f'href="/mentor/cases/{case.public_id}"' in placeholder, path
        assert "SYNTHETIC-LOG-NOTE" not in html and "went ahead" not in said, path
    assert "SYNTHETIC-LOG-NOTE" in client.get(f"/mentor/cases/{case.public_id}").text
    logged = db.exec(select(AuditEntry.detail).where(AuditEntry.agency_id == world.program.id))
    policy = "the disclosure policy does not release mentor accompaniment to your agency's own"
    assert any(policy in (detail or "") for detail in logged), "the audit entry's reason changed"

    sign_in(client, world.lead)
    placeholder = _own_accompaniment(client.get(summary).text)
    assert 'href="/mentor"' in placeholder and "Open your caseload" in placeholder


def test_the_printed_packet_tells_a_mentor_where_their_own_accompaniment_log_is(
    client, db, keys, world
):
    """The review packet said, as the summary does, that the mentor keeps the log "on your
    caseload page", but without the link the summary has, so neither the page nor the paper
    said where that is. On paper a link is nothing: the packet names the menu item and
    writes the path out, and on screen the path is the link."""
    case = _held_with_a_log(db, keys, world)
    sign_in(client, world.mentor)
    html = client.get(f"/cases/{case.public_id}/packet").text
    placeholder = _own_accompaniment(html)
    said = page_text(placeholder)
    where = f"/mentor/cases/{case.public_id}"
    assert (
        "you read and keep the accompaniment log on your caseload page. The accompaniment log "
        f"of {case.reference} is under My caseload in the portal: {where}"
    ) in said, said
    assert f'<a href="{where}">{where}</a>' in placeholder, placeholder
    assert "Open the" not in said  # an instruction for a screen, not for paper
    assert "SYNTHETIC-LOG-NOTE" not in html and "went ahead" not in said

    sign_in(client, world.lead)
    placeholder = _own_accompaniment(client.get(f"/cases/{case.public_id}/packet").text)
    said = page_text(placeholder)
    assert "Your caseload is under My caseload in the portal: /mentor" in said, said
    assert '<a href="/mentor">/mentor</a>' in placeholder, placeholder
