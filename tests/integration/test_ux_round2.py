"""Pages as a second UX review at 360 and 1280 px found them: what a coordinator met on the
case and meeting pages. Each test is named after what should hold and failed before its fix.
Synthetic data only."""

from __future__ import annotations

import re
from datetime import timedelta

from page_text import page_text
from sqlmodel import select
from test_workflow_pages import TODAY, a_case, scheduled_on_the_page, sign_in

from portal.models import Role
from portal.models.workflow import Meeting
from portal.services import meetings

import factories as make

SUMMARY = re.compile(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', re.S)


def _top(html: str) -> str:
    """The page above its first panel: what a phone shows when the page comes back."""
    return html.split('<div class="grid">', 1)[0]


def test_a_refused_form_far_down_the_case_page_is_said_at_its_top(client, db, keys):
    """A task without a title came back as the case page, at its top, with 'Title is
    required.' beside the form three screens below on a phone: nothing at the top said
    that nothing was saved, and the coordinator could take the task for created."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner])
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    refused = client.post(
        f"/cases/{case.public_id}/tasks",
        data={"csrf_token": token, "title": "", "details": "Typed (synthetic)"},
    )
    assert refused.status_code == 400
    summaries = SUMMARY.findall(_top(refused.text))
    assert summaries, "nothing above the case page's panels says the task was not created"
    assert "nothing was saved" in summaries[0]
    assert '<a href="#title">Title is required.</a>' in summaries[0]
    assert "Typed (synthetic)" in refused.text  # what was typed is kept
    cadence = client.post(
        f"/cases/{case.public_id}/cadence", data={"csrf_token": token, "review_every_days": "2"}
    )
    assert cadence.status_code == 400
    assert 'href="#review_every_days"' in "".join(SUMMARY.findall(_top(cadence.text)))


def test_a_refused_decision_on_the_meeting_page_is_said_at_its_top(client, db, keys):
    """A decision refused on a held meeting's page came back at the top of the page, its
    message at the foot of the agenda, screens below on a phone."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner], intake=TODAY - timedelta(days=5))
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    created = scheduled_on_the_page(client, token, [case])
    meeting_url = created.headers["location"]
    assert client.post(meeting_url + "/hold", data={"csrf_token": token}).status_code == 303
    meeting = db.exec(select(Meeting).where(Meeting.public_id == meeting_url.split("/")[-1])).one()
    item = meetings.agenda(db, meeting, agency)[0].item
    refused = client.post(
        f"{meeting_url}/items/{item.public_id}/decisions",
        data={"csrf_token": token, "recommendation": "Astrology", "text": "Agreed (synthetic)"},
    )
    assert refused.status_code == 400
    summaries = SUMMARY.findall(_top(refused.text))
    assert summaries, "nothing above the meeting page's panels says the decision was refused"
    assert f'href="#rec-{item.public_id}"' in summaries[0]


def test_a_refused_decision_keeps_its_notes_beside_its_own_item(client, db, keys):
    """A decision refused on a held meeting's page (its recommendation type no longer
    offered: another coordinator stopped offering it while the page was open) came back
    with its notes gone, and the message at the foot of the agenda, under the last case,
    not the one the decision was for."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    first = a_case(db, agency, [partner], intake=TODAY - timedelta(days=5))
    second = a_case(db, agency, [partner], intake=TODAY - timedelta(days=4))
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    created = scheduled_on_the_page(client, token, [first, second])
    meeting_url = created.headers["location"]
    assert client.post(meeting_url + "/hold", data={"csrf_token": token}).status_code == 303
    meeting = db.exec(select(Meeting).where(Meeting.public_id == meeting_url.split("/")[-1])).one()
    rows = meetings.agenda(db, meeting, agency)
    posted = next(r.item for r in rows if r.case.id == first.id)
    refused = client.post(
        f"{meeting_url}/items/{posted.public_id}/decisions",
        data={"csrf_token": token, "recommendation": "Astrology", "text": "Agreed (synthetic)"},
    )
    assert refused.status_code == 400
    articles = dict(
        re.findall(
            r'<article class="agenda-item" id="item-([^"]+)">(.*?)</article>', refused.text, re.S
        )
    )
    own = articles[posted.public_id]
    assert 'value="Agreed (synthetic)"' in own, "the decision's notes were not kept"
    assert 'class="field-error"' in own, "the message is not beside the decision's own form"
    others = [html for ref, html in articles.items() if ref != posted.public_id]
    assert others and not any("field-error" in html for html in others)


def test_the_case_and_meeting_pages_say_when_a_meeting_starts_as_the_list_does(client, db, keys):
    """/meetings leads each meeting with 'Tue 03 Nov 2026, 14:30 EST' (212a6f4); the case
    page listed the same meeting as '2026-11-03 · scheduled', with no time, and the meeting's
    own heading read '2026-11-03 14:30 EST', with no weekday."""
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner])
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    created = scheduled_on_the_page(
        client, token, [case], day=TODAY + timedelta(days=1), time="14:30"
    )
    assert created.status_code == 303
    starts = "Tue 03 Nov 2026, 14:30 EST"
    case_page = page_text(client.get(f"/cases/{case.public_id}").text)
    assert f"{starts} · scheduled" in case_page
    heading = re.search(r"<h1>(.*?)</h1>", client.get(created.headers["location"]).text, re.S)
    assert heading and starts in heading.group(1)
