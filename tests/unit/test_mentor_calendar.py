"""A survivor-mentor's court dates and appointments in their calendar feed."""

from datetime import timedelta

import icalendar
from mentor_helpers import appointment, mentor_world

from portal.services import calendar, mentor_appointments

import factories as make


def events(feed: bytes) -> dict:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")}


def test_the_mentors_feed_carries_their_dates_with_stable_uids(db, keys):
    w = mentor_world(db, keys)
    court = appointment(db, w)
    first = events(calendar.feed_ics(db, w.mentor, at=make.AT))
    second = events(calendar.feed_ics(db, w.mentor, at=make.AT + timedelta(hours=2)))
    uid = calendar.appointment_uid(court.public_id)
    assert set(first) == set(second) == {uid}
    event = first[uid]
    assert event.decoded("DTSTART") == court.starts_at
    assert str(event["SUMMARY"]) == f"Court appearance · {w.case.reference}"
    assert "Courthouse" in str(event["DESCRIPTION"])


def test_a_cancelled_date_stays_in_the_feed_marked_cancelled(db, keys):
    # Before, it dropped out of the feed, and a calendar that already held it kept it.
    w = mentor_world(db, keys)
    court = appointment(db, w)
    uid = calendar.appointment_uid(court.public_id)
    assert str(events(calendar.feed_ics(db, w.mentor, at=make.AT))[uid]["STATUS"]) == "CONFIRMED"
    mentor_appointments.cancel_appointment(db, w.mentor, court.public_id, at=make.AT)
    db.flush()
    after = events(calendar.feed_ics(db, w.mentor, at=make.AT + timedelta(hours=1)))
    assert set(after) == {uid} and str(after[uid]["STATUS"]) == "CANCELLED"
    # The caseload shows live dates only.
    live = mentor_appointments.upcoming_for_mentor(
        db, w.mentor, start=make.AT - timedelta(days=1), end=make.AT + timedelta(days=30)
    )
    assert live == []


def test_other_mentors_dates_stay_out(db, keys):
    w = mentor_world(db, keys)
    appointment(db, w, kind="medical")
    assert events(calendar.feed_ics(db, w.other_mentor, at=make.AT)) == {}
    assert len(events(calendar.feed_ics(db, w.mentor, at=make.AT))) == 1
