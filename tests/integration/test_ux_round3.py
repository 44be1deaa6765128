"""Pages as a third UX review at 360 and 1280 px found them. Each test is named after what
should hold and failed before its fix. Synthetic data only."""

from __future__ import annotations

import re
from datetime import timedelta

from page_text import page_text
from test_workflow_pages import TODAY, a_case, scheduled_on_the_page, sign_in

from portal.models import Role
from portal.services import tasks

import factories as make

OPTIONS = re.compile(r'<select id="priority" name="priority">(.*?)</select>', re.S)


def _option_words(html: str) -> list[str]:
    found = OPTIONS.search(html)
    assert found, "no priority to choose on the page"
    return re.findall(r"<option [^>]*>([^<]*)</option>", found[1])


def test_a_tasks_priority_is_offered_and_shown_in_words(client, db, keys):
    """The priority was offered as its stored value ('low', 'normal', 'high', 'urgent') in the
    new task's form and the task's own, and the task list's cell and the task's history wrote
    it so, where every other choice on the page reads as words."""
    agency = make.agency(db, keys)
    me, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency)
    task = tasks.create_task(
        db,
        case,
        title="Call the school (synthetic)",
        assignee=f"user:{me.public_id}",
        due_date="2026-11-05",
        priority="high",
        offered=None,
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    words = ["Low", "Normal", "High", "Urgent"]
    assert _option_words(client.get(f"/cases/{case.public_id}").text) == words
    page = client.get(f"/tasks/{task.public_id}").text
    assert _option_words(page) == words
    assert "· high priority ·" in page_text(page)
    listing = client.get("/tasks").text
    cells = re.findall(r'<td data-label="Priority">([^<]*)</td>', listing)
    assert cells == ["High"]
    edited = client.post(
        f"/tasks/{task.public_id}/edit",
        data={
            "csrf_token": token,
            "seen": re.search(r'name="seen" value="([^"]*)"', page)[1],
            "assignee": f"user:{me.public_id}",
            "due_date": "2026-11-05",
            "priority": "urgent",
        },
    )
    assert edited.status_code == 303
    assert "priority: High → Urgent" in page_text(client.get(f"/tasks/{task.public_id}").text)


def test_a_staff_members_page_names_their_roles_once(client, db, keys):
    """A lead's page for a staff member read 'Roles' twice: the panel's heading, then the
    legend of the checkboxes under it, hidden from the eye but read out and shown without
    the style sheet, two headings of one panel."""
    agency = make.agency(db, keys)
    member = make.user(db, agency, Role.ADVOCATE)
    sign_in(client, db, agency, Role.AGENCY_LEAD)
    page = client.get(f"/admin/staff/{member.public_id}").text
    assert page_text(page).count("Roles") == 1
    # The checkboxes are still named as a group, by the panel's heading.
    heading = re.search(r'<h2 id="([^"]+)">Roles</h2>', page)
    assert heading and f'<fieldset aria-labelledby="{heading[1]}"' in page


SUMMARY = re.compile(r'<div class="error-summary" role="alert"[^>]*>\s*<h\d[^>]*>(.*?)</h\d>', re.S)


def test_closing_a_case_without_a_reason_says_what_to_do(client, db, keys):
    """Closing a case with no reason came back headed 'This could not be done yet', which
    says neither what was missing nor what to do; the one thing to do is give the reason."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner])
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    refused = client.post(f"/cases/{case.public_id}/close", data={"csrf_token": token})
    assert refused.status_code == 400
    headings = SUMMARY.findall(refused.text)
    assert headings == [f"Give a reason for closing, then press ‘Close {case.reference}’."]
    assert '<a href="#reason">' in refused.text  # the message still leads to the field


def test_the_next_meeting_and_the_meetings_tab_say_when_it_starts(client, db, keys):
    """The coordinator's dashboard listed a waiting case's next meeting by its date alone
    ('2026-11-05'), and the meeting's browser tab read 'Meeting 2026-11-05': a coordinator
    had to open the meeting to learn it starts at 14:00, where the meetings list, the case
    page and the meeting's heading say 'Thu 05 Nov 2026, 14:00 EST'."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner], intake=TODAY - timedelta(days=2))
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    created = scheduled_on_the_page(
        client, token, [case], day=TODAY + timedelta(days=3), time="14:00"
    )
    assert created.status_code == 303
    dashboard = client.get("/").text
    cells = re.findall(r'<td data-label="Next meeting">(.*?)</td>', dashboard, re.S)
    assert [page_text(cell) for cell in cells] == ["Thu 05 Nov 2026, 14:00 EST"]
    meeting = client.get(created.headers["location"]).text
    title = re.search(r"<title>(.*?)</title>", meeting, re.S)[1]
    assert title.startswith("MDT meeting · Thu 05 Nov 2026, 14:00 EST ·"), title
