"""Review findings in screening, mandated reports and compelled disclosures (issue 20).

Each test fails on the code as reviewed, for the reason its comment gives, and passes once
the defect is fixed. Synthetic data only."""

from __future__ import annotations

import re
from datetime import date, timedelta

from disclosure_helpers import world
from sqlmodel import select
from starlette.testclient import TestClient
from test_screening_need_to_know_and_words import NY, _minor_screened, _row, _screening_raw

from portal.models import (
    AuditEntry,
    CompelledDisclosure,
    Discipline,
    MandatedReport,
    MentorAssignment,
    Role,
)
from portal.services import cases, screenings
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

MINOR = date(2012, 3, 4)


def _report_form(token, staff, clock, number="LE-R-0001"):
    return {
        "csrf_token": token,
        "recipient": "law_enforcement",
        "made_at": f"{(clock() - timedelta(minutes=30)).astimezone(NY):%Y-%m-%dT%H:%M}",
        "made_by": staff.public_id,
        "report_number": number,
        "client_told": "yes",
    }


# -- a partner's mandated reports, counted on the coordinator's dashboard ------------------


def test_coordinator_dashboard_does_not_count_a_partners_mandated_report_without_release(
    client, db, keys, clock
):
    # An advocacy agency screens a minor on a case another agency coordinates and makes a
    # mandated report. Without any release of the screening, the case page keeps the report
    # from the coordinator (case_records.told_history asks the owner's point). Yet the
    # coordinator's dashboard reads the partner's mandated_report table directly (no
    # disclosure point, no audit entry) and says "Mandated reports, last 30 days: 1": with
    # one case on its books, the coordinator learns that the partner's screening found a
    # reportable concern about this survivor.
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, birth=MINOR)
    owner_advocate = make.user(db, w.owner, Role.ADVOCATE)
    _minor_screened(db, keys, clock, w.owner, owner_advocate, w.client, report_number="LE-P-1")
    coordinator = make.user(db, w.partner, Role.MDT_COORDINATOR)
    make.login(client, coordinator.username)
    case_page = client.get(f"/cases/{w.case.public_id}").text
    assert "Mandated report" not in case_page  # the one door keeps it, as it should
    row = _row(client.get("/").text, "Mandated reports, last")
    count = row.split("<td>", 1)[1].split("</td>", 1)[0].strip()
    assert count == "0", (
        f"the coordinator's dashboard counts {count} mandated report(s) a partner made, read "
        "from the partner's records without its disclosure point or any release"
    )


# -- own staff whom the policy keeps the screening from --------------------------------------


def test_case_timeline_keeps_an_own_mandated_report_from_a_role_denied_the_screening(
    client, db, keys, clock
):
    # The coordinating agency screens its own minor and records a mandated report. A
    # survivor-mentor of the same agency, whom the default policy never lets read a
    # screening (the client page hides the same report from them: compelled_disclosures.
    # shown_to), opens the case page and reads "Mandated report to law enforcement by
    # <agency>": told_history shows every report the viewer's own agency made, whatever
    # the agency's own policy says, and audits nothing.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    case = make.mdt_case(db, agency)
    cases.link_client(db, case, agency, survivor, actor=None, at=make.AT, confirmed=True)
    _minor_screened(db, keys, clock, agency, advocate, survivor, report_number="LE-OWN-1")
    mentor = make.user(db, agency, Role.SURVIVOR_MENTOR)
    # A mentor opens only a case they hold: this one is theirs (written as a row, since the
    # assignment pages take mentors from mentor programs only).
    db.add(
        MentorAssignment(
            case_id=case.id, mentor_id=mentor.id, mentor_agency_id=agency.id, assigned_at=make.AT
        )
    )
    db.flush()
    make.login(client, mentor.username)
    client_page = client.get(f"/clients/{survivor.public_id}")
    assert "LE-OWN-1" not in client_page.text  # the client page keeps it from the mentor
    page = client.get(f"/cases/{case.public_id}")
    assert page.status_code == 200
    assert "Mandated report" not in page.text, (
        "the case timeline tells a survivor-mentor, whom the agency's policy keeps the "
        "screening from, that a mandated report was made about the minor"
    )


# -- double submit ----------------------------------------------------------------------------


def test_posting_the_same_mandated_report_twice_records_it_once(client, db, keys, clock):
    # The report form is a plain POST: a double click or a browser resubmit records the
    # same report (same screening, same report number) twice, so the client's accounting
    # of disclosures lists two compelled disclosures to law enforcement where one was
    # made, and the case timeline and the coordinator's count say two reports.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    made = _minor_screened(db, keys, clock, agency, advocate, survivor)
    make.login(client, advocate.username)
    page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
    token = make.csrf_of_page(client, page)
    form = {**_report_form(token, advocate, clock, number="LE-TWICE-1"), "confirmed": "yes"}
    first = client.post(page + "/reports", data=form)
    again = client.post(page + "/reports", data=form)
    assert first.status_code == 303
    reports = db.exec(select(MandatedReport).where(MandatedReport.client_id == survivor.id)).all()
    compelled = db.exec(
        select(CompelledDisclosure).where(CompelledDisclosure.client_id == survivor.id)
    ).all()
    assert (len(reports), len(compelled)) == (1, 1), (
        f"one report posted twice is recorded {len(reports)} times and enters the accounting "
        f"{len(compelled)} times (second POST answered {again.status_code})"
    )


def test_a_mandated_report_is_checked_before_it_is_kept_for_good(client, db, keys, clock):
    """A recorded report stays on the case's timeline and in the survivor's accounting of
    disclosures, and nothing corrects it; one press recorded it. Now the form leads to a
    page saying what will be kept, and a second press there records it."""
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    made = _minor_screened(db, keys, clock, agency, advocate, survivor)
    make.login(client, advocate.username)
    page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
    form = {
        **_report_form(make.csrf_of_page(client, page), advocate, clock, number="LE-ASK-1"),
        "client_told": "no",
        "client_notice": "Telling would put the client at risk (synthetic).",
    }
    asked = client.post(page + "/reports", data=form)
    assert asked.status_code == 200 and "Record this mandated report?" in asked.text
    assert "made to law enforcement on" in asked.text and "number LE-ASK-1" in asked.text
    assert "The client was not told: Telling would put the client at risk" in asked.text
    assert "cannot be changed or removed once recorded" in asked.text
    assert db.exec(select(MandatedReport)).all() == []
    confirmed = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text)
    )
    assert confirmed["confirmed"] == "yes" and confirmed["report_number"] == "LE-ASK-1"
    done = client.post(page + "/reports", data=confirmed)
    assert done.status_code == 303, done.text
    (report,) = db.exec(select(MandatedReport)).all()
    assert report.report_number == "LE-ASK-1"


# -- bad input ---------------------------------------------------------------------------------


def _no_raise(app):
    return TestClient(
        app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False
    )


def test_a_screening_time_at_the_end_of_year_9999_is_refused_not_a_500(app, db, keys, clock):
    # "9999-12-31T23:59" typed (or posted) as the screening's time: in the MDT's zone it is
    # past the year 9999 in UTC, and converting it raises OverflowError before the "not in
    # the future" check: a 500 instead of a message beside the field.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    with _no_raise(app) as browser:
        make.login(browser, advocate.username)
        base = f"/clients/{survivor.public_id}/screenings"
        token = make.csrf_of_page(browser, base)
        raw = _screening_raw(clock(), screened_at="9999-12-31T23:59")
        answer = browser.post(base, data={"csrf_token": token, **raw})
    assert answer.status_code == 400, answer.status_code
    assert "future" in answer.text or "must be between" in answer.text


def test_a_mandated_report_made_at_the_end_of_year_9999_is_refused_not_a_500(app, db, keys, clock):
    # The same on the mandated report's "When": a 500 for a typo.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    made = _minor_screened(db, keys, clock, agency, advocate, survivor)
    with _no_raise(app) as browser:
        make.login(browser, advocate.username)
        page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
        token = make.csrf_of_page(browser, page)
        form = {**_report_form(token, advocate, clock), "made_at": "9999-12-31T23:59"}
        answer = browser.post(page + "/reports", data=form)
    assert answer.status_code == 400, answer.status_code
    assert "future" in answer.text or "must be between" in answer.text


# -- the dashboard's rows: a screening's result told to own staff, unaudited -----------------


def test_dashboard_naming_a_minor_with_a_clear_concern_is_in_the_agencys_log(
    client, db, keys, clock
):
    # The coordinator's row "Minors with a clear concern and no MDT case" names the client
    # (reference, link, day screened): it tells what the screening found. Every other read
    # of a screening by own staff is in the agency's log (the screening pages through
    # need_to_know, the client page's mandated reports through shown_to); this one is
    # decided (screening_panel._screenings_seen_by) and shown with no entry, so the lead
    # cannot answer "who was told of this minor's screening".
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    _minor_screened(db, keys, clock, agency, advocate, survivor)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    make.login(client, coordinator.username)
    seen = {e.id for e in db.exec(select(AuditEntry).where(AuditEntry.agency_id == agency.id))}
    row = _row(client.get("/").text, "Minors with a clear concern and no MDT case")
    assert survivor.reference in row  # named to the coordinator, as the policy allows
    reads = [
        e
        for e in db.exec(select(AuditEntry).where(AuditEntry.agency_id == agency.id))
        if e.id not in seen
        and e.client_ref == survivor.public_id
        and e.section_key == "screening"
        and e.actor_user_ref == coordinator.public_id
    ]
    assert reads, "the dashboard told the coordinator a minor's screening result unaudited"


# -- the screening section partners read --------------------------------------------------


def _adult_screened(db, keys, clock, staff, survivor, *, band, choice=None):
    raw = _screening_raw(clock(), age_group="adult", band=band)
    if band == "no_concern":
        raw.update(action="none", action_reason="Synthetic: nothing seen.")
    given = screening_forms.read_screening(raw, tz=NY, now=clock())
    made = screenings.start(
        db, survivor, given=given, actor=staff, keys=keys, at=clock(), minors=MinorSigning()
    )
    screenings.finalise(db, made, actor=staff, keys=keys, tz=NY, window_hours=48, at=clock())
    if choice:
        screenings.record_choice(db, made, choice=choice, actor=staff, keys=keys, tz=NY, at=clock())
    db.flush()
    return made


def test_a_follow_up_screening_does_not_tell_partners_the_survivor_never_asked_for_the_mdt(
    db, keys, clock
):
    # An adult survivor said yes to MDT involvement on a clear-concern screening: it is
    # written to the screening section, which partners read under her release. A month
    # later a follow-up screening (no concern) is finalised before anyone asks her choice
    # again; publish() writes "Not shared: the survivor has not asked for MDT involvement"
    # over the section. Partners on her case now read that she never asked for the MDT
    # (she did) and lose the screening that opened the case.
    from portal.services import section_versions

    w = world(db, keys, owner_discipline=Discipline.ADVOCACY)
    advocate = make.user(db, w.owner, Role.ADVOCATE)
    _adult_screened(db, keys, clock, advocate, w.client, band="clear_concern", choice="yes")
    clock.advance(days=30)
    _adult_screened(db, keys, clock, advocate, w.client, band="no_concern")
    latest = section_versions.latest(db, w.client, "screening")
    content = section_versions.open_content(db, latest, keys=keys)
    assert "has not asked for MDT involvement" not in str(content.get("result")), (
        f"the section partners read now says: {content.get('result')!r}"
    )


def test_posting_the_same_compelled_disclosure_twice_records_it_once(client, db, keys, clock):
    # The lead's "Record a compelled disclosure" form is a plain POST as well: a double
    # click records the same subpoena twice, and the client's accounting of disclosures
    # (what the survivor is given on request) lists two disclosures where one was made.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    survivor = make.client_record(db, agency, keys)
    make.login(client, lead.username)
    page = f"/clients/{survivor.public_id}"
    form = {
        "csrf_token": make.csrf_of_page(client, page),
        "recipient": "Synthetic County Court",
        "basis": "subpoena",
        "basis_detail": "Subpoena SYN-2026-17",
        "sections": ["medical"],
        "disclosed_on": "2026-10-30",
        "client_told": "yes",
        "confirmed": "yes",  # past the page that asks first
    }
    first = client.post(page + "/compelled-disclosures", data=form)
    again = client.post(page + "/compelled-disclosures", data=form)
    assert first.status_code == 303, first.status_code
    found = db.exec(
        select(CompelledDisclosure).where(CompelledDisclosure.client_id == survivor.id)
    ).all()
    assert len(found) == 1, (
        f"one subpoena posted twice is recorded {len(found)} times "
        f"(second POST answered {again.status_code})"
    )


# -- a refused MDT path that says nothing ---------------------------------------------------


def test_starting_the_mdt_path_from_an_old_screening_says_why_it_is_refused(
    client, db, keys, clock
):
    # A minor's screening recorded from paper, screened almost ten years ago (the form
    # takes up to ten years back). A few days later the coordinator starts the MDT path:
    # the intake date (the screening's day) is now more than ten years ago, open_case
    # refuses it on the field "intake_date", and the page comes back 400 with that message
    # nowhere on it (the MDT-path form shows only a referral-source error): the coordinator
    # is told nothing, and no case is opened.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    staff = make.user(db, agency, Role.ADVOCATE, Role.MDT_COORDINATOR)
    survivor = make.client_record(db, agency, keys, birth=date(2012, 3, 4))
    when = clock() - timedelta(days=3649)
    raw = _screening_raw(clock(), screened_at=f"{when.astimezone(NY):%Y-%m-%dT%H:%M}")
    given = screening_forms.read_screening(raw, tz=NY, now=clock())
    made = screenings.start(
        db, survivor, given=given, actor=staff, keys=keys, at=clock(), minors=MinorSigning()
    )
    screenings.finalise(db, made, actor=staff, keys=keys, tz=NY, window_hours=48, at=clock())
    db.flush()
    clock.advance(days=3)
    make.login(client, staff.username)
    page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
    token = make.csrf_of_page(client, page)
    answer = client.post(
        page + "/mdt-path", data={"csrf_token": token, "referral_source": "hotline"}
    )
    assert answer.status_code == 400, answer.status_code
    assert "ten years" in answer.text, "the refusal's reason is not on the page"


# -- the risk-screen clock ---------------------------------------------------------------------


def test_correcting_a_note_after_the_risk_screen_is_done_starts_no_second_clock(db, keys, clock):
    # A minor's clear concern started the 48-hour risk screen; the screen and a first safety
    # plan were recorded in time: done. The next day the screener corrects a typo in the
    # screening's notes (inside its seven days). _after_final calls start_clock again, which
    # looks only for a running or a stopped clock of the screening, not a done one, and
    # starts a second clock from the same identification: already past its deadline, it
    # shows as "overdue" on the coordinator's dashboard for a survivor whose risk screen
    # was done on time.
    from portal.services import risk_screens, sections

    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    made = _minor_screened(db, keys, clock, agency, advocate, survivor)
    screen = risk_screens.open_clock(db, survivor)
    clock.advance(hours=3)
    risk_screens.record_screen(
        db,
        screen,
        given=risk_screens.RiskNotesInput(survivor_notes="Synthetic risk notes."),
        actor=advocate,
        keys=keys,
        at=clock(),
    )
    plan = {"stage": "leaving", "emergency_contacts": "Advocate line 555-0100"}
    sections.save_section(db, survivor, "safety_plan", plan, actor=advocate, keys=keys, at=clock())
    db.flush()
    assert risk_screens.status(screen, clock()) == "done"
    clock.advance(days=2)
    raw = _screening_raw(clock(), notes="Synthetic screening note, typo corrected.")
    raw["screened_at"] = f"{made.screened_at.astimezone(NY):%Y-%m-%dT%H:%M}"
    _edit(db, keys, made, screening_forms.read_screening(raw, tz=NY, now=clock()), advocate, clock)
    states = [risk_screens.status(s, clock()) for s in risk_screens.for_client(db, survivor)]
    assert states == ["done"], f"the survivor's risk-screen clocks are now: {states}"


# -- a colleague's save, silently overwritten ---------------------------------------------


def _form_fields(html: str, action: str) -> dict[str, str]:
    """What a browser sends from the form posting to `action`, as the page holds it."""
    from form_markup import Page

    (form,) = [f for f in Page(html).all("form") if f.get("action") == action]
    sent = {}
    for element in form.descendants():
        name = element.get("name")
        if not name:
            continue
        if element.tag == "input" and element.get("type") in ("radio", "checkbox"):
            if "checked" in element.attrs:
                sent[name] = element.get("value") or ""
        elif element.tag == "input":
            sent[name] = element.get("value") or ""
        elif element.tag == "textarea":
            sent[name] = element.text
        elif element.tag == "select":
            options = [o for o in element.descendants() if o.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            sent[name] = chosen[0].get("value") or "" if chosen else ""
    return sent


def test_saving_a_screening_opened_before_a_colleagues_save_does_not_undo_it(
    client, db, keys, clock
):
    # Two advocates have the same draft screening open. The first saves a correction (why
    # screened: a return from missing, and a note). The second, whose form still holds the
    # old values, then saves her own change: the edit overwrites every field in place, and
    # the colleague's correction is gone without a word (a draft keeps no versions). The
    # section form refuses such a save (based_on, 409); the screening form does not.
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    first = make.user(db, agency, Role.ADVOCATE)
    second = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    given = screening_forms.read_screening(_screening_raw(clock()), tz=NY, now=clock())
    made = screenings.start(
        db, survivor, given=given, actor=first, keys=keys, at=clock(), minors=MinorSigning()
    )
    db.flush()
    make.login(client, second.username)
    page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
    stale = _form_fields(client.get(page).text, page)
    # The first advocate's save, meanwhile.
    clock.advance(minutes=5)
    correction = _screening_raw(
        clock(), trigger="return_from_missing", notes="COLLEAGUE-CORRECTION (synthetic)."
    )
    correction["screened_at"] = stale["screened_at"]
    _edit(
        db, keys, made, screening_forms.read_screening(correction, tz=NY, now=clock()), first, clock
    )
    clock.advance(minutes=5)
    answer = client.post(page, data={**stale, "action_reason": "", "action": "forensic_interview"})
    db.expire_all()
    kept = screenings.form_values(db, made, keys=keys, tz=NY)
    assert kept["notes"] == "COLLEAGUE-CORRECTION (synthetic).", (
        f"the colleague's saved note is gone (the stale form answered {answer.status_code}); "
        f"the screening now says: {kept['notes']!r}, why screened {kept['trigger']!r}"
    )
    assert answer.status_code == 409


def test_a_mandated_report_dated_in_year_1_is_refused_as_a_compelled_disclosure_is(
    client, db, keys, clock
):
    # The report's "When" has no lower bound: "0001-01-01T00:00" (a slip of the date
    # picker) is taken, and the report enters the client's accounting of disclosures as a
    # compelled disclosure made on 0001-01-01, a date the lead's own compelled-disclosure
    # form refuses (it holds every typed date to the request's date window).
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys, birth=MINOR)
    made = _minor_screened(db, keys, clock, agency, advocate, survivor)
    make.login(client, advocate.username)
    page = f"/clients/{survivor.public_id}/screenings/{made.public_id}"
    token = make.csrf_of_page(client, page)
    form = {**_report_form(token, advocate, clock), "made_at": "0001-01-01T00:00"}
    answer = client.post(page + "/reports", data=form)
    recorded = db.exec(
        select(CompelledDisclosure).where(CompelledDisclosure.client_id == survivor.id)
    ).all()
    assert answer.status_code == 400 and recorded == [], (
        f"answered {answer.status_code}; recorded as disclosed on "
        f"{[c.disclosed_on.isoformat() for c in recorded]}"
    )


def test_saving_a_risk_screen_opened_before_a_colleagues_save_does_not_undo_it(
    client, db, keys, clock
):
    # As for the screening: two workers had the risk screen open; the second's save put
    # back the notes the first had just saved, without a word (the notes keep no versions).
    from test_screening_pages import _screened

    from portal.services import risk_screens

    _agency, user, survivor, _, _ = _screened(client, db, keys, clock, finalised=True)
    screen = risk_screens.open_clock(db, survivor)
    url = f"/clients/{survivor.public_id}/risk-screens/{screen.public_id}"
    stale = _form_fields(client.get(url).text, url)
    db.expire_all()  # the page's read moved the log's head
    given = screening_forms.read_risk_notes(
        {"survivor_notes": "COLLEAGUE-RISK-NOTE (synthetic)"}, people=[]
    )
    risk_screens.record_screen(db, screen, given=given, actor=user, keys=keys, at=clock())
    db.flush()
    answer = client.post(url, data={**stale, "survivor_notes": "Stale form (synthetic)"})
    assert answer.status_code == 409
    assert (
        "COLLEAGUE-RISK-NOTE"
        in risk_screens.view(db, screen, keys=keys, now=clock()).survivor_notes
    )


def _edit(db, keys, made, given, actor, clock):
    """A colleague's save of the screening, straight through the service."""
    screenings.edit(
        db,
        made,
        given=given,
        actor=actor,
        keys=keys,
        minors=MinorSigning(),
        tz=NY,
        window_hours=48,
        at=clock(),
    )
    db.flush()
