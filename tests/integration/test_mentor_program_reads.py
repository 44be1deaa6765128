"""Survivor-mentor programs: the no-contact list reads an assignment's day in the MDT's
zone, and a program lead's read of an entry, or of a mentor's court dates, is audited. Each
test failed before its fix (found by a review). Synthetic, obviously fictional data only."""

import json
from datetime import UTC, datetime

from mentor_helpers import appointment, court_visit, mentor_world
from sqlmodel import select

from portal.models import AuditEntry, Role
from portal.services import mentor_assignments

import factories as make


def test_no_contact_counts_the_assignment_day_in_the_mdt_zone(client, db, keys, clock):
    """Assigned 1 Nov at 21:00 in the MDT's zone, New York (2 Nov 02:00 UTC): on 15 Nov,
    with 14 days without contact, the case has had none for 14 days and is flagged."""
    w = mentor_world(db, keys)
    lead = make.user(db, w.program, Role.AGENCY_LEAD, username="synthetic.nc.lead")
    assignment = mentor_assignments.current_assignment(db, w.case)
    assignment.assigned_at = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 1 Nov, 21:00 NY
    db.add(assignment)
    db.flush()
    clock.at = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)  # 15 Nov, noon in New York
    make.login(client, lead.username)
    page = client.get("/mentoring/reports?start=2026-11-01&end=2026-11-15&days=14")
    assert page.status_code == 200
    section = page.text[page.text.index('id="nocontact-h"') :]
    assert w.case.reference in section, "assigned 14 days ago in the MDT's zone, not flagged"


def test_program_lead_reading_an_entry_is_audited(client, db, keys):
    w = mentor_world(db, keys)
    lead = make.user(db, w.program, Role.AGENCY_LEAD, username="synthetic.lead")
    entry = court_visit(db, w.case, w.mentor, notes="Synthetic note for a fictional survivor")
    before = len(db.exec(select(AuditEntry).where(AuditEntry.agency_id == w.program.id)).all())
    make.login(client, lead.username)
    page = client.get(f"/mentoring/accompaniments/{entry.public_id}")
    assert page.status_code == 200 and "Synthetic note" in page.text
    after = db.exec(
        select(AuditEntry).where(AuditEntry.agency_id == w.program.id).order_by(AuditEntry.id)
    ).all()
    reads = [e for e in after[before:] if not e.tag.startswith("auth:") and "login" not in e.tag]
    assert reads, "the lead's read of the entry (notes included) left no audit entry"


# --- a mentor's court dates, read by someone else --------------------------------------


def _dates_read(db, w, reader) -> list[AuditEntry]:
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.program.id,
            AuditEntry.actor_user_ref == reader.public_id,
            AuditEntry.tag == "mentoring:appointment:viewed",
        )
    ).all()


def test_the_lead_reading_a_mentors_court_dates_is_in_the_programs_log_in_words(client, db, keys):
    """The lead's page of a mentor shows each case's next date: a court appearance on 10
    November at 9:30, at a courthouse, where the survivor will be. It wrote nothing to the
    program's log. Now the read is one entry for the case, under the mentor accompaniment
    section, which the lead's log page shows in words, and finds by case and section."""
    w = mentor_world(db, keys)
    court = appointment(db, w)
    lead = make.user(db, w.program, Role.AGENCY_LEAD, username="synthetic.dates.lead")
    lead.display_name = "Synthetic Dates Lead"
    db.add(lead)
    db.flush()
    make.login(client, lead.username)
    page = client.get(f"/mentoring/mentors/{w.mentor.public_id}")
    assert page.status_code == 200
    assert w.case.reference in page.text and "Court appearance" in page.text
    reads = _dates_read(db, w, lead)
    assert [(e.case_ref, e.section_key, e.decision) for e in reads] == [
        (w.case.reference, "mentor_accompaniment", "released")
    ], f"the lead read {w.case.reference}'s court date with no entry in the program's log"
    assert json.loads(reads[0].detail)["appointments"] == [court.public_id]
    found = client.get(f"/audit?case_ref={w.case.reference}&section=mentor_accompaniment")
    assert found.status_code == 200
    row = next(r for r in found.text.split("<tbody>")[1].split("</tr>") if "court dates" in r)
    assert "a mentor&#39;s court dates and appointments read" in row, row
    assert "Mentor accompaniment" in row and lead.display_name in row
    assert "mentoring:appointment" not in found.text and "mentor_accompaniment</" not in row


def test_a_mentor_reading_the_dates_on_their_own_cases_writes_no_read(client, db, keys):
    """The mentor's own dates (their caseload, the case page, their dashboard) are theirs to
    keep: not a read of anyone else's records, as their own accompaniments are not."""
    w = mentor_world(db, keys)
    appointment(db, w)
    make.login(client, w.mentor.username)
    for url in ("/mentor", f"/mentor/cases/{w.case.public_id}", "/"):
        page = client.get(url)
        assert page.status_code == 200 and "Court appearance" in page.text, url
    assert _dates_read(db, w, w.mentor) == []
