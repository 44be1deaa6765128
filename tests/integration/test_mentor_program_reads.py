"""Survivor-mentor programs: the no-contact list reads an assignment's day in the MDT's
zone, and a program lead's read of an entry is audited. Each test failed before its fix
(found by a review). Synthetic, obviously fictional data only."""

from datetime import UTC, date, datetime

from mentor_helpers import mentor_world
from sqlmodel import select

from portal.models import AuditEntry, Role
from portal.services import mentor_assignments, mentoring

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
    entry = mentoring.log_accompaniment(
        db,
        w.case,
        given=mentoring.AccompanimentInput(
            occurred_on=date(2026, 11, 1),
            kind="court_appearance",
            duration_minutes=60,
            place_type="courthouse",
            outcome="went_ahead",
            notes="Synthetic note for a fictional survivor",
        ),
        actor=w.mentor,
        at=make.AT,
    )
    db.flush()
    before = len(db.exec(select(AuditEntry).where(AuditEntry.agency_id == w.program.id)).all())
    make.login(client, lead.username)
    page = client.get(f"/mentoring/accompaniments/{entry.public_id}")
    assert page.status_code == 200 and "Synthetic note" in page.text
    after = db.exec(
        select(AuditEntry).where(AuditEntry.agency_id == w.program.id).order_by(AuditEntry.id)
    ).all()
    reads = [e for e in after[before:] if not e.tag.startswith("auth:") and "login" not in e.tag]
    assert reads, "the lead's read of the entry (notes included) left no audit entry"
