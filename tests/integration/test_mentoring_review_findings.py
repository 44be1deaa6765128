"""Survivor-mentor assignments, accompaniment log, appointments and program reports, as a
review found them: each test is named after what should happen, and fails on the code as
the review found it. Synthetic, obviously fictional data only."""

from __future__ import annotations

import re
from datetime import date, timedelta

from form_markup import Page
from mentor_helpers import as_coordinator, mentor_world
from page_text import page_text
from sqlmodel import func, select
from test_mentoring_pages import entries, entry_form, sign_in

from portal.models import AuditEntry, MentorAppointment, Role
from portal.services import casework, mentor_assignments, mentor_program, mentoring, staff

import factories as make

COLLEAGUE_NOTE = "SYNTHETIC-NOTE-BY-THE-FIRST-MENTOR"


def form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form posting to `action`, as the browser sends them
    (the CSRF token, and any one-time token a fix may add)."""
    (form,) = [f for f in Page(html).all("form") if f.get("action") == action]
    return {
        e.get("name"): e.get("value") or ""
        for e in form.descendants()
        if e.tag == "input" and e.get("type") == "hidden" and e.get("name")
    }


def program_lead(db, w, username="synthetic.review.lead"):
    return make.user(db, w.program, Role.AGENCY_LEAD, username=username)


def appointments(db) -> int:
    return db.exec(select(func.count(MentorAppointment.id))).one()


# --- lost or doubled data -----------------------------------------------------------------


def test_a_double_tapped_save_logs_the_accompaniment_once(client, db, keys):
    # Before: a mentor on a phone with a slow connection taps Save twice (or the browser
    # resends the POST); two identical entries are logged and the program's reports count
    # the accompaniment, its hours and the case twice.
    w = mentor_world(db, keys)
    sign_in(client, w.mentor.username)
    log = f"/mentor/cases/{w.case.public_id}/log"
    data = {**entry_form(""), **form_fields(client.get(log).text, log)}
    first = client.post(log, data=data)
    again = client.post(log, data=data)
    assert first.status_code == 303
    assert entries(db) == 1, f"one accompaniment saved {entries(db)} times ({again.status_code})"


def test_a_double_tapped_add_date_enters_the_court_date_once(client, db, keys):
    # Before: the same court date posted twice (double tap, resent POST) is entered twice:
    # the caseload, the case page and the mentor's calendar feed list it twice.
    w = mentor_world(db, keys)
    sign_in(client, w.mentor.username)
    case_url = f"/mentor/cases/{w.case.public_id}"
    action = f"{case_url}/appointments"
    data = {
        **form_fields(client.get(case_url).text, action),
        "date": "2026-11-12",
        "time": "13:30",
        "kind": "court_appearance",
        "place_type": "courthouse",
    }
    first = client.post(action, data=data)
    again = client.post(action, data=data)
    assert first.status_code == 303
    assert appointments(db) == 1, f"one date entered {appointments(db)} times ({again.status_code})"


def test_an_entry_dated_eleven_months_back_can_still_be_corrected_later(client, db, keys, clock):
    # Before: the correction form re-checks the entry's own, unchanged date against "at most
    # a year ago"; an entry logged on 2 Nov 2026 for 10 Nov 2025 cannot be corrected at all
    # from 11 Nov 2026 on (not even its notes), though corrections are the only way to fix
    # an entry once its 24 hours have passed.
    w = mentor_world(db, keys)
    sign_in(client, w.mentor.username)
    log = f"/mentor/cases/{w.case.public_id}/log"
    token = make.csrf_of_page(client, log)
    assert client.post(log, data=entry_form(token, occurred_on="2025-11-10")).status_code == 303
    (entry,) = mentoring.program_entries(db, w.program, case=w.case)
    clock.advance(days=30)
    sign_in(client, w.mentor.username)
    edit = f"/mentor/accompaniments/{entry.public_id}/edit"
    token = make.csrf_of_page(client, edit)
    corrected = client.post(
        edit,
        data=entry_form(
            token,
            occurred_on="2025-11-10",
            notes="Synthetic corrected note",
            reason="Synthetic: the note named the wrong hearing",
        ),
    )
    assert corrected.status_code == 303, re.findall(
        r'class="field-error"[^>]*>([^<]*)', corrected.text
    )


# --- words that mislead -------------------------------------------------------------------


def test_the_caseload_never_says_a_contact_was_a_negative_number_of_days_ago(client, db, keys):
    # Before: an entry dated tomorrow is accepted (a day's grace), and the caseload then
    # reads "Last contact: -1 days ago".
    w = mentor_world(db, keys)
    sign_in(client, w.mentor.username)
    log = f"/mentor/cases/{w.case.public_id}/log"
    token = make.csrf_of_page(client, log)
    logged = client.post(log, data=entry_form(token, occurred_on="2026-11-03"))
    if logged.status_code == 303:  # a fix may instead refuse a date after the MDT's today
        caseload = client.get("/mentor").text
        assert not re.search(r"-\d+ days? ago", caseload), "the caseload says -1 days ago"


def test_a_three_year_report_charts_its_last_month(client, db, keys):
    # Before: a period the form accepts (at most 3 x 366 days) can span 37 calendar months,
    # and the chart draws only the first 36: with the only accompaniment in this month, the
    # lead reads "1 accompaniments" above a chart saying "No accompaniment in this period".
    w = mentor_world(db, keys)
    lead = program_lead(db, w)
    mentoring.log_accompaniment(
        db,
        w.case,
        given=mentoring.AccompanimentInput(
            occurred_on=date(2026, 11, 1),
            kind="medical",
            duration_minutes=30,
            place_type="hospital_clinic",
            outcome="went_ahead",
        ),
        actor=w.mentor,
        at=make.AT,
    )
    db.flush()
    sign_in(client, lead.username)
    page = client.get("/mentoring/reports?start=2023-11-01&end=2026-11-02")
    if page.status_code == 200:  # a fix may instead refuse a period of over 36 months
        assert "<strong>1</strong> accompaniments" in page.text
        assert "No accompaniment in this period" not in page.text
        assert "Nov 2026: 1" in page.text


def test_the_assign_page_does_not_offer_a_first_assessment_deadline_already_past(client, db, keys):
    # Before: a case with intake on 1 Oct and no mentor reads, on 2 Nov, "From the first
    # assessment: not yet — a mentor assigned by 2026-10-04 counts": a date a month gone,
    # as if assigning now could still count.
    w = mentor_world(db, keys)
    late = make.mdt_case(db, w.coordinating, intake=date(2026, 10, 1))
    db.flush()
    sign_in(client, w.coordinator.username)
    page = client.get(f"/mentoring/cases/{late.public_id}")
    assert page.status_code == 200
    (said,) = re.findall(r"From the first assessment</dt>\s*<dd>(.*?)</dd>", page.text, re.S)
    assert not said.startswith("not yet"), said


def test_a_date_added_to_a_closed_case_is_refused_or_shown(client, db, keys):
    # Before: the mentor's case page still opens once the case is closed; adding a court
    # date there says "Date added to your caseload." but the date shows nowhere: not on the
    # case page, the caseload, nor the calendar feed (each lists open cases only).
    w = mentor_world(db, keys)
    casework.close_case(
        db,
        w.case,
        reason="Synthetic: closed",
        actor=w.coordinator,
        at=make.AT,
        today=make.AT.date(),
    )
    db.flush()
    sign_in(client, w.mentor.username)
    case_url = f"/mentor/cases/{w.case.public_id}"
    page = client.get(case_url)
    if page.status_code == 404:
        return  # the closed case is no longer the mentor's to add dates to: fixed
    action = f"{case_url}/appointments"
    # A page that no longer offers the form (fixed) is posted to all the same: refused.
    offered = action in page.text
    added = client.post(
        action,
        data={
            **(
                form_fields(page.text, action)
                if offered
                else {"csrf_token": make.csrf_from(page.text)}
            ),
            "date": "2026-11-12",
            "time": "13:30",
            "kind": "court_appearance",
            "place_type": "courthouse",
        },
    )
    if added.status_code == 303:
        assert offered
        assert "Thu 12 Nov 2026, 13:30" in client.get(case_url).text, (
            "the mentor was told the date was added; it shows nowhere"
        )
    else:
        assert 400 <= added.status_code < 500
        assert appointments(db) == 0


def test_a_case_whose_mentor_was_deactivated_counts_as_having_no_mentor(client, db, keys):
    # Before: the program lead deactivates a mentor who has left; the survivor's case keeps
    # them as its mentor, and the coordinator's dashboard says "Every open case has a
    # mentor" while nobody can log in to accompany the survivor.
    w = mentor_world(db, keys)
    lead = program_lead(db, w)
    staff.deactivate(
        db,
        w.mentor,
        viewer=mentor_program.Assigner(lead, w.program, frozenset({"agency_lead"})),
        at=make.AT,
    )
    db.flush()
    sign_in(client, w.coordinator.username)
    dashboard = client.get("/").text
    unassigned = dashboard.split("Open cases with no mentor", 1)[1].split("</section>", 1)[0]
    assert w.case.reference in unassigned, "the case of a deactivated mentor is not listed"


# --- disclosure not audited ---------------------------------------------------------------


def test_a_mentor_reading_a_colleagues_notes_on_the_case_page_is_audited(client, db, keys):
    # Before: the case passes to a second mentor of the program; opening it shows the first
    # mentor's notes (what the survivor told) and the program's log records nothing, while
    # the program lead's read of the same entry is recorded (ACCOMPANIMENT_VIEWED).
    w = mentor_world(db, keys)
    mentoring.log_accompaniment(
        db,
        w.case,
        given=mentoring.AccompanimentInput(
            occurred_on=date(2026, 11, 1),
            kind="mental_health",
            duration_minutes=45,
            place_type="counselling_office",
            outcome="went_ahead",
            notes=COLLEAGUE_NOTE,
        ),
        actor=w.mentor,
        at=make.AT - timedelta(hours=2),
    )
    mentor_assignments.assign_mentor(
        db,
        w.case,
        mentor_public_id=w.other_mentor.public_id,
        reason="Synthetic: first mentor on leave",
        viewer=as_coordinator(w),
        at=make.AT,
    )
    db.flush()
    sign_in(client, w.other_mentor.username)

    def reads() -> list[str]:
        return db.exec(
            select(AuditEntry.tag).where(
                AuditEntry.agency_id == w.program.id,
                AuditEntry.actor_user_ref == w.other_mentor.public_id,
                AuditEntry.subject == w.case.reference,
            )
        ).all()

    before = reads()
    page = client.get(f"/mentor/cases/{w.case.public_id}")
    assert page.status_code == 200 and COLLEAGUE_NOTE in page.text
    assert len(reads()) > len(before), "a colleague's notes were read with no audit entry"


# --- what the pages promise -----------------------------------------------------------------


def test_the_mentor_pages_say_what_a_release_shows_of_the_log(client, db, keys):
    # Before: the case page said notes "are not shared with other agencies unless the
    # survivor's release covers them", while the log form said notes are kept in the
    # program only. A release never shows the notes (AccompanimentLog) but does show the
    # follow-up, which nothing on the form said.
    w = mentor_world(db, keys)
    sign_in(client, w.mentor.username)
    case_page = page_text(client.get(f"/mentor/cases/{w.case.public_id}").text)
    assert "notes are not shared with other agencies unless" not in case_page.lower()
    assert "never your notes" in case_page
    form = Page(client.get(f"/mentor/cases/{w.case.public_id}/log").text)
    (follow_up,) = [e for e in form.all("input") if e.get("name") == "follow_up"]
    read_with_it = " ".join(form.text_of(hint) for hint in follow_up.described_by())
    assert "may see this" in read_with_it
    assert "never shown to another agency" in form.text_of("notes-hint")
