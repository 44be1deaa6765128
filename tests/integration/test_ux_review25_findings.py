"""Pages as a review in Chromium found them (every demo role, 360 and 1280 px): each test
is named after what should happen and failed on the code the review read. Synthetic data
only."""

from __future__ import annotations

from sqlmodel import select
from test_mentoring_pages import mdt  # noqa: F401 - a fixture
from test_workflow_pages import a_case, sign_in

from portal.models import Client, Role
from portal.services import cases, casework

import factories as make


def test_a_client_page_is_titled_by_reference_never_by_the_survivors_name(client, db, keys):
    # Before: the client page's <title> was the survivor's full name. A title outlives the
    # session: the browser's history, its tabs, a synced phone or a shared office computer
    # keep it, where anyone who opens them reads who the agency serves. Every other page
    # of a client is titled by the agency's reference.
    import re

    agency = make.agency(db, keys)
    person = make.client_record(db, agency, keys, given="Wren", family="Titlecheck")
    sign_in(client, db, agency, Role.ADVOCATE)
    page = client.get(f"/clients/{person.public_id}").text
    (title,) = re.findall(r"<title>(.*?)</title>", page, re.S)
    assert "Wren" not in title and "Titlecheck" not in title
    assert person.reference in title
    assert "Wren Titlecheck" in page  # the page itself still names the client to its staff


def test_the_meeting_form_names_the_mdt_time_zone_in_words(client, db, keys):
    # Before: "In the MDT's time zone (America/New_York)." under the date, the zone's code,
    # where every page's footer says "America/New York (EST)".
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get("/meetings/new").text
    assert "America/New_York" not in page
    assert "In the MDT&#39;s time zone (America/New York, EST)." in page


def test_the_task_assignee_list_names_the_coordinating_agency_once(client, db, keys):
    # Before: where the coordinating agency had linked its own client record, the case
    # page's and the task page's "Assignee" listed it, and each of its staff, twice: it
    # took part once as coordinator and once by its link.
    agency = make.agency(db, keys)
    partner = make.agency(db, keys, name="Shelter House (synthetic)")
    case = a_case(db, agency, [partner])
    own = make.client_record(db, agency, keys)
    cases.link_client(db, case, agency, own, actor=None, at=make.AT, confirmed=True)
    user, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get(f"/cases/{case.public_id}").text
    assert page.count(f'value="agency:{agency.public_id}"') == 1
    assert page.count(f'value="user:{user.public_id}"') == 1
    assert page.count(f'value="agency:{partner.public_id}"') == 1


def test_a_spanish_preview_names_the_mdt_meeting_of_its_minutes_in_spanish(client, db, keys):
    # Before: the Spanish preview, read with the survivor, headed the minutes it would
    # share "MDT meeting 2026-11-02 (held)", in English among Spanish labels.
    from types import SimpleNamespace

    from test_meetings_review_findings import MINUTES, _coordinator_with_minutes
    from test_release_pages import signed_release

    agency, coordinator, case, meeting, _item = _coordinator_with_minutes(db, keys)
    partner = make.agency(db, keys, name="Shelter House (synthetic)")
    link = casework.own_link(db, case, agency)
    person = db.get(Client, link.client_id)
    make.login(client, coordinator.username)
    team = SimpleNamespace(
        token=make.csrf_of_page(client, "/clients"), client_row=person, community=partner
    )
    url = signed_release(client, team, sections=["mdt_minutes"], language="es")
    page = client.get(f"{url}/preview?as={partner.public_id} advocate").text
    day = meeting.meeting_date.isoformat()
    assert MINUTES in page
    assert f"MDT meeting {day}" not in page
    assert f"Reunión del equipo (MDT) del {day} (celebrada)" in page
    english = client.get(f"{url}/preview?as={partner.public_id} advocate&language=en").text
    assert f"MDT meeting {day} (held)" in english


def test_a_survivors_details_typed_into_a_section_are_not_kept_by_the_browser(client, db, keys):
    # Before: the section forms (identity, address and safe contact, safety plan…) asked
    # nothing of the browser, which keeps what is typed into a text box and offers it again
    # in any box of the same name: a survivor's name, safe phone or address suggested to the
    # next person at a shared computer. Registering and searching clients already said
    # autocomplete="off".
    from form_markup import Page

    agency = make.agency(db, keys)
    person = make.client_record(db, agency, keys)
    sign_in(client, db, agency, Role.ADVOCATE)
    kept, typed = {}, {}
    for key in ("identity", "safe_contact", "safety_plan", "needs_assessment"):
        page = Page(client.get(f"/clients/{person.public_id}/sections/{key}").text)
        boxes = [
            e
            for e in page.all("input")
            if (e.get("type") or "text") in ("text", "email", "tel") and e.get("name") != "q"
        ]
        kept[key] = [e.get("name") for e in boxes if e.get("autocomplete") != "off"]
        typed[key] = [e.get("name") for e in boxes]
    assert typed["identity"] and typed["needs_assessment"], typed
    assert kept == {key: [] for key in kept}


def test_each_open_link_of_the_programs_log_says_which_entry_it_opens(client, db, mdt):  # noqa: F811
    # Before: the mentor program's "Recent accompaniment" ended every row with a link named
    # "Open" under an empty header: a screen reader's list of links read "Open, Open,
    # Open…", nothing of which entry each one opens.
    from form_markup import Page
    from test_mentoring_pages import entry_form
    from test_mentoring_pages import sign_in as sign_in_as

    sign_in_as(client, "men.one")
    token = make.csrf_of_page(client, "/mentor")
    logged = client.post(f"/mentor/cases/{mdt['case'].public_id}/log", data=entry_form(token))
    assert logged.status_code == 303, logged.text
    sign_in_as(client, "prog.lead")
    page = Page(client.get("/mentoring/program").text)
    links = [
        " ".join(a.text.split())
        for a in page.all("a")
        if (a.get("href") or "").startswith("/mentoring/accompaniments/")
    ]
    assert links == [f"Open the entry of 2026-11-02 on {mdt['case'].reference}"]
    headers = [" ".join(th.text.split()) for th in page.all("th")]
    assert "" not in headers


def test_each_meetings_calendar_link_says_what_it_is_for(client, db, keys):
    # Before: the meetings list ended each row with a link named ".ics" under an empty
    # header: a file extension, read to a screen reader as "dot i c s", the same on every row.
    from form_markup import Page
    from test_meetings_review_findings import scheduled_meeting

    agency = make.agency(db, keys)
    case = a_case(db, agency)
    coordinator, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    meeting = scheduled_meeting(db, agency, coordinator, [case.public_id])
    page = Page(client.get("/meetings").text)
    (link,) = [a for a in page.all("a") if (a.get("href") or "").endswith("/calendar.ics")]
    words = " ".join(link.text.split())
    assert words == f"Add to your calendar the meeting of {meeting.meeting_date.isoformat()}"
    assert "" not in [" ".join(th.text.split()) for th in page.all("th")]


def test_ending_a_restriction_on_who_may_sign_asks_first(client, db, keys):
    # Before: on the client page each person recorded as never to sign for the client (a
    # suspected exploiter, someone a court order keeps away) had an "End this restriction"
    # button that ended it at once: one tap on the wrong row of the list and that person can
    # sign the survivor's releases again. Recording a person asks first; ending did not.
    from form_markup import Page
    from test_release_pages import Team

    from portal.models import RestrictedPerson

    team = Team(client, db, keys)
    recorded = client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={"csrf_token": team.token, "name": "Dana Suspect", "reason": "court_order"},
    )
    assert recorded.status_code == 303, recorded.text
    person = db.exec(select(RestrictedPerson)).one()
    team.user = make.user(db, team.owner, Role.AGENCY_LEAD)
    team.sign_in_again(client)
    end_url = f"/restrictions/{person.public_id}/end"
    page = Page(client.get(f"/clients/{team.client_row.public_id}").text)
    assert not [f for f in page.all("form") if f.get("action") == end_url], "ends in one tap"
    assert [a for a in page.all("a") if a.get("href") == end_url]
    asks = client.get(end_url)
    assert asks.status_code == 200
    assert "can sign releases for client" in asks.text and team.client_row.reference in asks.text
    assert "Dana Suspect" not in asks.text  # the page names no one; the client page does
    token = make.csrf_from(asks.text)
    refused = client.post(end_url, data={"csrf_token": token, "end_reason": ""})
    assert refused.status_code == 400 and "The reason for ending it is required." in refused.text
    assert "can sign releases for client" in refused.text  # still the page that asks
    db.refresh(person)
    assert person.ended_at is None
    ended = client.post(end_url, data={"csrf_token": token, "end_reason": "Order lifted (demo)"})
    assert ended.status_code == 303
    db.refresh(person)
    assert person.ended_at is not None


def test_the_spanish_printed_release_names_a_signer_without_brackets_in_brackets(client, db, keys):
    # Before: the form the survivor signs read "Firmado por: Robin Example (la persona
    # cliente (por sí misma))", brackets inside brackets, where the English reads "Robin
    # Example (the client themself)".
    from test_release_pages import Team, signed_release

    team = Team(client, db, keys)
    url = signed_release(client, team, language="es")
    page = client.get(f"{url}/print").text
    assert "Robin Example (la persona cliente, por sí misma)" in page


def test_the_spanish_accountings_staff_line_is_read_as_english(client, db, keys):
    # Before: inside the Spanish accounting (<article lang="es">) the staff's line "Back to
    # the audit log · Use your browser's Print to print this accounting. · Language:" stayed
    # English and was marked Spanish: a screen reader read English words with Spanish
    # sounds.
    from form_markup import Page
    from test_release_pages import Team

    team = Team(client, db, keys)
    team.user = make.user(db, team.owner, Role.AGENCY_LEAD)
    team.sign_in_again(client)
    url = f"/audit/accounting?client={team.client_row.public_id}&language=es"
    page = Page(client.get(url).text)
    (back,) = [a for a in page.all("a") if "Back to the audit log" in a.text]
    language = next(n.get("lang") for n in (back, *back.ancestors()) if n.get("lang"))
    assert language == "en"
    (heading,) = page.all("h1")
    assert next(n.get("lang") for n in heading.ancestors() if n.get("lang")) == "es"
