"""Survivor-mentor pages over HTTP: caseload scoping, the log and its edit window,
assignment, the dashboard panel, and the program lead's reports and CSV."""

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from mentor_helpers import mentor_world
from page_text import page_text
from sqlmodel import func, select

import consent
from portal.models import (
    Accompaniment,
    AccompanimentAmendment,
    AccompanimentKind,
    Agency,
    AgencyKind,
    AuditEntry,
    Discipline,
    MentorAssignment,
    Role,
)
from portal.requester import Requester
from portal.services import case_records, casework, mentor_assignments, mentor_program

import factories as make

NOTE = "Synthetic note only the program may read"
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def mdt(db, keys):
    coordinating = make.agency(db, keys)
    program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    other_program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    people = {
        "coordinator": make.user(db, coordinating, Role.MDT_COORDINATOR, username="coord"),
        "lead": make.user(db, program, Role.AGENCY_LEAD, username="prog.lead"),
        "mentor": make.user(db, program, Role.SURVIVOR_MENTOR, username="men.one"),
        "mentor2": make.user(db, program, Role.SURVIVOR_MENTOR, username="men.two"),
        "other_lead": make.user(db, other_program, Role.AGENCY_LEAD, username="other.lead"),
        "advocate_lead": make.user(db, coordinating, Role.AGENCY_LEAD, username="adv.lead"),
    }
    case = make.mdt_case(db, coordinating, intake=date(2026, 10, 30))
    other_case = make.mdt_case(db, coordinating, intake=date(2026, 10, 31))
    coordinator = mentor_program.Assigner(
        people["coordinator"], coordinating, frozenset({Role.MDT_COORDINATOR.value})
    )
    for which, mentor in ((case, people["mentor"]), (other_case, people["mentor2"])):
        mentor_assignments.assign_mentor(
            db,
            which,
            mentor_public_id=mentor.public_id,
            reason=None,
            viewer=coordinator,
            at=make.AT,
        )
    db.flush()
    return {"case": case, "other_case": other_case, "program": program, **people}


def entry_form(token, **changes):
    return {
        "csrf_token": token,
        "occurred_on": "2026-11-02",
        "kind": "state_attorney",
        "duration_minutes": "1:15",
        "place_type": "prosecutor_office",
        "outcome": "went_ahead",
        "follow_up_needed": "on",
        "follow_up": "Ask about the next hearing",
        "notes": NOTE,
        **changes,
    }


def sign_in(client, username: str) -> None:
    client.cookies.clear()  # whoever was signed in before
    make.login(client, username)


def entries(db) -> int:
    return db.exec(select(func.count(Accompaniment.id))).one()


def test_mentor_sees_only_their_own_caseload(client, mdt):
    sign_in(client, "men.one")
    page = client.get("/mentor")
    assert page.status_code == 200
    assert mdt["case"].reference in page.text and mdt["other_case"].reference not in page.text
    assert client.get(f"/mentor/cases/{mdt['other_case'].public_id}").status_code == 404
    assert client.get(f"/mentor/cases/{mdt['other_case'].public_id}/log").status_code == 404
    token = make.csrf_of_page(client, "/mentor")
    refused = client.post(
        f"/mentor/cases/{mdt['other_case'].public_id}/log", data=entry_form(token)
    )
    assert refused.status_code == 404
    # The mentor is not a lead: program pages are not theirs at all.
    assert client.get("/mentoring/reports").status_code == 403


def test_mentor_logs_an_accompaniment_from_the_caseload(client, db, mdt):
    sign_in(client, "men.one")
    caseload = client.get("/mentor").text
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    assert log_link in caseload
    form = client.get(log_link)
    assert 'value="2026-11-02"' in form.text  # today's date is filled in
    assert 'name="csrf_token" value=""' not in form.text  # every form carries its token
    saved = client.post(log_link, data=entry_form(make.csrf_from(form.text)))
    assert saved.status_code == 303 and saved.headers["location"] == "/mentor"
    entry = db.exec(select(Accompaniment)).one()
    assert (entry.duration_minutes, entry.kind, entry.follow_up_needed) == (
        75,
        "state_attorney",
        True,
    )
    assert entry.agency_id == mdt["program"].id
    assert "Accompaniment logged" in client.get("/mentor").text
    assert "today" in client.get("/mentor").text  # days since last contact


def test_bad_input_is_400_with_messages_beside_fields_and_nothing_saved(client, db, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    token = make.csrf_of_page(client, log_link)
    audit_before = db.exec(select(func.count(AuditEntry.id))).one()
    cases = [
        ({"duration_minutes": "-20"}, "The duration cannot be negative."),
        ({"duration_minutes": "26h"}, "A duration over 24 hours is not possible"),
        ({"occurred_on": "2026-11-09"}, "This date is in the future"),
        ({"kind": "karaoke"}, "Choose a kind of accompaniment from the list."),
    ]
    for change, message in cases:
        response = client.post(log_link, data=entry_form(token, **change))
        assert response.status_code == 400, change
        assert message in response.text
        assert "Nothing was saved" in response.text
        assert NOTE in response.text  # the values are kept
    assert entries(db) == 0
    assert db.exec(select(func.count(AuditEntry.id))).one() == audit_before


def test_edit_window_23h59_edits_24h01_only_amends(client, db, clock, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    token = make.csrf_of_page(client, log_link)
    client.post(log_link, data=entry_form(token))
    entry = db.exec(select(Accompaniment)).one()
    edit = f"/mentor/accompaniments/{entry.public_id}/edit"

    clock.advance(hours=23, minutes=59)
    sign_in(client, "men.one")  # the session has idled out meanwhile
    token = make.csrf_of_page(client, edit)
    assert "Save changes" in client.get(edit).text
    edited = client.post(edit, data=entry_form(token, duration_minutes="50"))
    assert edited.status_code == 303
    db.refresh(entry)
    assert entry.duration_minutes == 50
    assert db.exec(select(func.count(AccompanimentAmendment.id))).one() == 0

    clock.advance(minutes=2)  # 24h01 after logging
    token = make.csrf_of_page(client, edit)
    page = client.get(edit).text
    assert "Add correction" in page and "Delete this entry" not in page
    refused = client.post(edit, data=entry_form(token, duration_minutes="40"))
    assert refused.status_code == 400 and "Reason for the correction is required" in refused.text
    assert (
        client.post(
            f"/mentor/accompaniments/{entry.public_id}/delete", data={"csrf_token": token}
        ).status_code
        == 403
    )
    amended = client.post(
        edit, data=entry_form(token, duration_minutes="40", reason="Left earlier than noted")
    )
    assert amended.status_code == 303
    db.refresh(entry)
    assert entry.duration_minutes == 40 and entry.deleted_at is None
    (amendment,) = db.exec(select(AccompanimentAmendment)).all()
    assert amendment.duration_minutes == 50  # what the amendment replaced stays

    # The program lead sees the original and the amendment.
    sign_in(client, "prog.lead")
    page = client.get(f"/mentoring/accompaniments/{entry.public_id}").text
    assert "As first written" in page and "Amendment 1" in page
    assert "50 min" in page and "40 min" in page and "Left earlier than noted" in page
    tags = set(db.exec(select(AuditEntry.tag).where(AuditEntry.agency_id == mdt["program"].id)))
    assert {
        "mentoring:accompaniment:logged",
        "mentoring:accompaniment:edited",
        "mentoring:accompaniment:amended",
    } <= tags


def test_delete_inside_the_window(client, db, clock, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    token = make.csrf_of_page(client, log_link)
    client.post(log_link, data=entry_form(token))
    entry = db.exec(select(Accompaniment)).one()
    gone = client.post(
        f"/mentor/accompaniments/{entry.public_id}/delete", data={"csrf_token": token}
    )
    assert gone.status_code == 303
    db.refresh(entry)
    assert entry.deleted_at is not None
    assert client.get(f"/mentor/accompaniments/{entry.public_id}/edit").status_code == 404


def test_another_programs_lead_gets_404_for_our_mentor_and_entries(client, db, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    client.post(log_link, data=entry_form(make.csrf_of_page(client, log_link)))
    entry = db.exec(select(Accompaniment)).one()
    mentor_page = f"/mentoring/mentors/{mdt['mentor'].public_id}"
    entry_page = f"/mentoring/accompaniments/{entry.public_id}"

    sign_in(client, "prog.lead")
    own = client.get(mentor_page)
    assert own.status_code == 200 and mdt["case"].reference in own.text
    assert client.get(entry_page).status_code == 200

    sign_in(client, "other.lead")
    for path in (mentor_page, entry_page):
        response = client.get(path)
        assert response.status_code == 404 and mdt["case"].reference not in response.text
    missing = "11111111-1111-4111-8111-111111111111"
    assert client.get(f"/mentoring/mentors/{missing}").status_code == 404  # same answer
    report = client.get("/mentoring/reports")
    assert report.status_code == 200 and "<strong>0</strong> accompaniments" in report.text

    sign_in(client, "adv.lead")  # a lead whose agency is no mentor program
    assert client.get("/mentoring/reports").status_code == 404
    assert client.get(mentor_page).status_code == 404


def test_notes_never_reach_the_coordinator(client, db, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    client.post(log_link, data=entry_form(make.csrf_of_page(client, log_link)))
    sign_in(client, "coord")
    for path in ("/", "/mentoring/assignments", f"/mentoring/cases/{mdt['case'].public_id}"):
        page = client.get(path)
        assert page.status_code == 200 and NOTE not in page.text
    assert client.get("/mentor").status_code == 403


def test_coordinator_assigns_and_reassigns_with_history(client, db, mdt, keys):
    coordinating = db.get(Agency, mdt["case"].coordinating_agency_id)
    new_case = make.mdt_case(db, coordinating, intake=date(2026, 11, 1))
    sign_in(client, "coord")
    dashboard = client.get("/").text
    assert "Open cases with no mentor" in dashboard and new_case.reference in dashboard
    assign_page = f"/mentoring/cases/{new_case.public_id}"
    token = make.csrf_of_page(client, assign_page)
    bad = client.post(f"{assign_page}/assign", data={"csrf_token": token, "mentor": "nobody"})
    assert bad.status_code == 400 and "Choose a mentor from the list." in bad.text
    done = client.post(
        f"{assign_page}/assign", data={"csrf_token": token, "mentor": mdt["mentor"].public_id}
    )
    assert done.status_code == 303
    page = client.get(assign_page).text
    assert "yes — first assigned 2026-11-02" in page_text(page)
    no_reason = client.post(
        f"{assign_page}/assign", data={"csrf_token": token, "mentor": mdt["mentor2"].public_id}
    )
    assert no_reason.status_code == 400 and "Reason is required" in no_reason.text
    client.post(
        f"{assign_page}/assign",
        data={"csrf_token": token, "mentor": mdt["mentor2"].public_id, "reason": "Language match"},
    )
    history = client.get(assign_page).text
    assert "Language match" in history
    assert 'name="csrf_token" value=""' not in history
    rows = db.exec(select(MentorAssignment).where(MentorAssignment.case_id == new_case.id)).all()
    assert len(rows) == 2 and sum(r.ended_at is None for r in rows) == 1
    assert new_case.reference not in client.get("/").text.split("Open cases with no mentor")[1]


def test_program_lead_cannot_assign_another_programs_case(client, db, mdt):
    sign_in(client, "other.lead")
    assert client.get(f"/mentoring/cases/{mdt['case'].public_id}").status_code == 404
    token = make.csrf_of_page(client, "/")
    refused = client.post(
        f"/mentoring/cases/{mdt['case'].public_id}/assign",
        data={"csrf_token": token, "mentor": mdt["mentor"].public_id},
    )
    assert refused.status_code == 404


def test_mentor_dashboard_and_upcoming_dates(client, db, mdt):
    sign_in(client, "men.one")
    case_page = f"/mentor/cases/{mdt['case'].public_id}"
    token = make.csrf_of_page(client, case_page)
    added = client.post(
        f"{case_page}/appointments",
        data={
            "csrf_token": token,
            "date": "2026-11-12",
            "time": "13:30",
            "kind": "court_appearance",
            "place_type": "courthouse",
        },
    )
    assert added.status_code == 303
    assert 'name="csrf_token" value=""' not in client.get(case_page).text
    past = client.post(
        f"{case_page}/appointments",
        data={"csrf_token": token, "date": "2026-10-01", "kind": "medical", "place_type": "school"},
    )
    assert past.status_code == 400 and "This date has passed" in past.text
    dashboard = client.get("/").text
    assert "My caseload" in dashboard and "Thu 12 Nov 2026, 13:30" in dashboard
    assert "Thu 12 Nov 2026, 13:30 EST · Court appearance" in page_text(client.get("/mentor").text)
    # Cancelling a date asks first (one tap on a phone otherwise), then cancels it.
    date_id = re.search(r'href="/mentor/appointments/([^/"]+)/cancel"', client.get(case_page).text)
    cancel = f"/mentor/appointments/{date_id.group(1)}/cancel"
    asked = client.get(cancel)
    assert asked.status_code == 200 and "Thu 12 Nov 2026, 13:30 EST" in asked.text
    assert f'action="{cancel}"' in asked.text and "Keep the date" in asked.text
    assert client.post(cancel, data={"csrf_token": token}).status_code == 303
    assert "Thu 12 Nov 2026, 13:30" not in client.get("/mentor").text
    assert client.get(cancel).status_code == 404  # cancelled: nothing left to ask about


def test_reports_page_chart_and_csv(client, db, mdt):
    sign_in(client, "men.one")
    log_link = f"/mentor/cases/{mdt['case'].public_id}/log"
    token = make.csrf_of_page(client, log_link)
    for day, minutes in (("2026-10-31", "60"), ("2026-11-01", "30"), ("2026-11-02", "45")):
        client.post(log_link, data=entry_form(token, occurred_on=day, duration_minutes=minutes))
    sign_in(client, "prog.lead")
    page = client.get("/mentoring/reports?start=2026-11-01&end=2026-11-30&days=14")
    assert page.status_code == 200
    assert "<strong>2</strong> accompaniments, <strong>1.2</strong> hours" in page.text
    svg = page.text[page.text.index("<svg viewBox") : page.text.index("</svg>")]
    assert "<rect" in svg and "style=" not in svg
    assert "style=" not in page.text  # nothing the CSP would block
    bad = client.get("/mentoring/reports?start=2026-12-01&end=2026-11-01")
    assert bad.status_code == 400 and "The end date is before the start date." in bad.text
    # A digit int() cannot read ("²", %C2%B2) is a bad number of days, not a 500.
    odd = client.get("/mentoring/reports?days=%C2%B2")
    assert odd.status_code == 400 and "a whole number from 1 to 365" in odd.text
    assert client.get("/mentoring/reports.csv?days=%C2%B2").status_code == 400

    csv = client.get("/mentoring/reports.csv?start=2026-10-01&end=2026-11-30")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.headers["cache-control"] == "no-store"  # mentors' names and what they did
    lines = csv.text.strip().splitlines()
    assert lines[0] == "period_start,period_end,mentor,kind,accompaniments,hours,kind_code"
    assert lines[1:] == [
        f"2026-10-01,2026-11-30,Test Person,{AccompanimentKind.STATE_ATTORNEY.label},3,2.25,"
        "state_attorney"
    ]
    assert NOTE not in csv.text
    exported = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "mentoring:report:exported")
    ).one()
    assert exported.agency_id == mdt["program"].id


def test_program_page_lists_only_own_mentors(client, db, mdt):
    sign_in(client, "prog.lead")
    page = client.get("/mentoring/program").text
    assert mdt["mentor"].public_id in page and mdt["mentor2"].public_id in page
    sign_in(client, "other.lead")
    page = client.get("/mentoring/program").text
    assert mdt["mentor"].public_id not in page
    assert re.search(r"No survivor-mentors on your staff yet", page)


def test_a_number_of_days_too_long_to_read_is_a_bad_number_not_a_500(client, db, mdt):
    """int() reads no more than 4,300 digits: a longer number is refused like any other."""
    sign_in(client, "prog.lead")
    for path in ("/mentoring/reports", "/mentoring/reports.csv"):
        answer = client.get(path, params={"days": "9" * 5000})
        assert answer.status_code == 400, path
    assert (
        "a whole number from 1 to 365"
        in client.get("/mentoring/reports", params={"days": "9" * 5000}).text
    )


# --- another program's mentoring: its own to tell (the fact of service) ----------------


def named(db, person, display_name):
    person.display_name = display_name  # the factory calls everyone "Test Person"
    db.add(person)
    return person


def second_program_takes_over(db, keys, w):
    """Program P1 (mentor_world's) held the case; the coordinator gives it to P2's mentor."""
    named(db, w.coordinator, "Cora Coordinator")
    named(db, w.mentor, "Mona P1-Mentor")
    named(db, w.other_mentor, "Otto P1-Mentor")
    second = make.agency(
        db, keys, discipline=Discipline.SURVIVOR_MENTOR, name="Program Two (synthetic)"
    )
    lead = make.user(db, second, Role.AGENCY_LEAD)
    mentor_two = named(db, make.user(db, second, Role.SURVIVOR_MENTOR), "Tess P2-Mentor")
    assign_as_coordinator(db, w, mentor_two, "Synthetic: closer to the survivor's home")
    return second, lead, mentor_two


def assign_as_coordinator(db, w, mentor, reason, at=make.AT):
    mentor_assignments.assign_mentor(
        db,
        w.case,
        mentor_public_id=mentor.public_id,
        reason=reason,
        viewer=mentor_program.Assigner(
            w.coordinator, w.coordinating, frozenset({"mdt_coordinator"})
        ),
        at=at,
    )
    db.flush()


def test_the_assignment_page_names_no_program_the_lead_was_not_told_of(client, db, keys):
    w = mentor_world(db, keys)  # program P1's mentor holds the case
    second, lead, mentor_two = second_program_takes_over(db, keys, w)
    # P1 (community-based) taking part is its own to tell: P2's point is not told of it.
    asking = Requester.of(
        lead, second, {"agency_lead"}, purpose=consent.Purpose.MDT_CASE_REVIEW.value
    )
    told, untold = case_records.told_participants(
        db, asking, w.case, casework.participants(db, w.case), at=make.AT, tz=NEW_YORK, keys=keys
    )
    assert w.program.id not in {p.agency.id for p in told} and untold >= 1
    sign_in(client, lead.username)
    page = client.get(f"/mentoring/cases/{w.case.public_id}")
    assert page.status_code == 200
    assert w.program.name not in page.text, "assignment history names program P1 to P2's lead"
    assert w.mentor.display_name not in page.text
    assert "another program" in page.text  # that a change happened, and no more
    assert "first assigned in another program" in page.text  # P1's date left out
    # P2's own row stays whole: its mentor, the coordinator who assigned them, and why.
    assert mentor_two.display_name in page.text and second.name in page.text
    assert w.coordinator.display_name in page.text and "closer to the survivor" in page.text
    # The coordinator still reads every program's row.
    sign_in(client, w.coordinator.username)
    coordinators = client.get(f"/mentoring/cases/{w.case.public_id}").text
    assert w.program.name in coordinators and w.mentor.display_name in coordinators


def test_the_lead_is_not_told_whose_mentor_holds_the_case_now(client, db, keys):
    w = mentor_world(db, keys)
    _second, lead, mentor_two = second_program_takes_over(db, keys, w)
    later = make.AT + timedelta(days=1)
    assign_as_coordinator(db, w, w.other_mentor, "Synthetic: the survivor asked", at=later)
    sign_in(client, lead.username)  # P2 still takes part: its link stays
    page = client.get(f"/mentoring/cases/{w.case.public_id}")
    assert page.status_code == 200
    for name in (w.program.name, w.mentor.display_name, w.other_mentor.display_name):
        assert name not in page.text
    assert "a mentor of another program" in page.text and "Reassign" in page.text
    # Its own mentor's time on the case, and when and why it ended, the lead still reads.
    assert mentor_two.display_name in page.text
    assert "2026-11-03" in page.text and "the survivor asked" in page.text


def test_the_assignments_list_names_no_other_community_program_to_a_lead(client, db, keys):
    """The list of cases a lead may assign to says only "a mentor of another program" where
    another community-based program's mentor holds a case the lead does not coordinate."""
    w = mentor_world(db, keys)
    later = make.AT + timedelta(days=1)
    _second, lead, _mentor_two = second_program_takes_over(db, keys, w)
    assign_as_coordinator(db, w, w.other_mentor, "Synthetic: the survivor asked", at=later)
    sign_in(client, lead.username)
    page = client.get("/mentoring/assignments")
    assert page.status_code == 200 and w.case.reference in page.text
    for name in (w.program.name, w.other_mentor.display_name):
        assert name not in page.text, "the list names program P1 to P2's lead"
    assert "a mentor of another program" in page.text
    sign_in(client, w.coordinator.username)  # the coordinator is told of every program
    listed = client.get("/mentoring/assignments").text
    assert w.program.name in listed and w.other_mentor.display_name in listed


def test_a_system_based_program_taking_part_is_named_to_another_lead(client, db, keys):
    w = mentor_world(db, keys)
    w.program.kind = AgencyKind.SYSTEM  # its taking part is not its own to withhold
    db.add(w.program)
    db.flush()
    _second, lead, _mentor_two = second_program_takes_over(db, keys, w)
    sign_in(client, lead.username)
    page = client.get(f"/mentoring/cases/{w.case.public_id}").text
    assert w.program.name in page and w.mentor.display_name in page
