"""Minutes and accompaniment in the case summary over HTTP: through the owner's block."""

from disclosure_helpers import release
from elsewhere_helpers import MINUTES, NOTE, mentor_world, minutes_world
from page_text import page_text
from sqlmodel import select

from portal.models import AuditEntry, Role, StaffUser

import factories as make


def _block(client, w, owner):
    return client.get(
        f"/cases/{w.case.public_id}/summary/owners/{owner.public_id}?purpose=mdt_case_review"
    )


def test_partner_reads_minutes_only_under_a_release(client, db, keys, clock):
    w, _ = minutes_world(db, keys)
    clock.advance(hours=1)
    make.login(client, w.partner_staff.username)
    withheld = _block(client, w, w.owner)
    assert withheld.status_code == 200
    assert MINUTES not in withheld.text
    assert 'data-section="mdt_minutes" data-gate="no_consent"' in withheld.text
    release(db, keys, w, ["mdt_minutes"])
    released = _block(client, w, w.owner)
    assert MINUTES in released.text
    tags = db.exec(
        select(AuditEntry.tag).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.subject == w.case.reference
        )
    ).all()
    assert "disclosure:section:withheld" in tags and "disclosure:section:released" in tags


def test_the_section_pages_do_not_offer_minutes_as_a_form(client, db, keys):
    w, _ = minutes_world(db, keys)
    lead = make.user(db, w.owner, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    make.login(client, lead.username)
    listing = client.get(f"/clients/{w.client.public_id}/sections")
    assert listing.status_code == 200 and "mdt_minutes" not in listing.text
    assert client.get(f"/clients/{w.client.public_id}/sections/mdt_minutes").status_code == 404


def test_coordinator_reads_accompaniment_without_notes(client, db, keys, clock):
    w, coordinator = mentor_world(db, keys)
    release(db, keys, w, ["mentor_accompaniment"])
    clock.advance(hours=1)
    person = db.exec(select(StaffUser).where(StaffUser.public_id == coordinator.user)).one()
    make.login(client, person.username)
    block = _block(client, w, w.owner)
    assert block.status_code == 200
    assert "Court appearance, 1 h 30 min, Courthouse, went ahead" in block.text
    assert NOTE not in block.text


def test_summary_timeline_shows_the_cases_meetings(client, db, keys):
    w, meeting = minutes_world(db, keys)
    make.login(client, w.partner_staff.username)
    page = client.get(f"/cases/{w.case.public_id}/summary")
    assert page.status_code == 200
    assert f"{meeting.meeting_date.isoformat()} — MDT meeting (held)" in page_text(page.text)
    timeline = page.text.split('id="timeline-h"')[1].split("</section>")[0]
    assert f"{meeting.meeting_date.isoformat()} — MDT meeting (held)" in page_text(timeline)
    assert MINUTES not in timeline  # the timeline names dates and states, never minutes


def test_a_mentors_calendar_feed_over_http_has_their_court_date(client, db, keys):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import icalendar
    from mentor_helpers import mentor_world

    from portal.models import AccompanimentKind, PlaceType
    from portal.services import calendar, mentor_appointments

    w = mentor_world(db, keys)
    court = mentor_appointments.add_appointment(
        db,
        w.case,
        given=mentor_appointments.AppointmentInput(
            starts_at=datetime(2026, 11, 10, 9, 30, tzinfo=ZoneInfo("America/New_York")),
            kind=AccompanimentKind.COURT_APPEARANCE,
            place_type=PlaceType.COURTHOUSE,
        ),
        actor=w.mentor,
        at=make.AT,
    )
    token = calendar.issue_feed(db, w.mentor, at=make.AT)
    db.flush()
    feed = client.get(f"/calendar/{token}")
    assert feed.status_code == 200
    (event,) = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert str(event["UID"]) == calendar.appointment_uid(court.public_id)
    assert w.case.reference in str(event["SUMMARY"])
