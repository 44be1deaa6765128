"""A survivor-mentor's court dates and appointments in their calendar feed."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
from mentor_helpers import mentor_world

from portal.services import calendar, mentoring

import factories as make

NY = ZoneInfo("America/New_York")


def appointment(db, w, day="2026-11-10", clock="09:30", kind="court_appearance"):
    made = mentoring.add_appointment(
        db,
        w.case,
        {"date": day, "time": clock, "kind": kind, "place_type": "courthouse"},
        actor=w.mentor,
        at=make.AT,
        tz=NY,
    )
    db.flush()
    return made


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


def test_cancelled_dates_and_other_mentors_dates_stay_out(db, keys):
    w = mentor_world(db, keys)
    court = appointment(db, w)
    mentoring.cancel_appointment(db, w.mentor, court.public_id, at=make.AT)
    db.flush()
    assert events(calendar.feed_ics(db, w.mentor, at=make.AT)) == {}
    appointment(db, w, kind="medical")
    assert events(calendar.feed_ics(db, w.other_mentor, at=make.AT)) == {}
    assert len(events(calendar.feed_ics(db, w.mentor, at=make.AT))) == 1
