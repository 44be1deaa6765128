"""A survivor-mentor's court dates and appointments in their calendar feed."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
from mentor_helpers import appointment, mentor_world

from portal.services import calendar, meetings, mentor_appointments

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


def test_a_meeting_whose_agenda_holds_none_of_a_mentors_cases_says_so_not_to_be_set(db, keys):
    """The other mentor's program takes part in the agenda's case, which they do not hold:
    the agenda is set, so "to be set" would send them looking for cases that will come."""
    w = mentor_world(db, keys)
    meeting = meetings.schedule_meeting(
        db,
        w.coordinating,
        day="2026-11-05",
        clock="10:00",
        place="Room 3",
        case_ids=[w.case.public_id],
        actor=w.coordinator,
        at=make.AT,
        tz=ZoneInfo("America/New_York"),
    )
    db.flush()

    def description(user) -> str:
        feed = events(calendar.feed_ics(db, user, at=make.AT))
        return str(feed[calendar.meeting_uid(meeting)]["DESCRIPTION"])

    assert description(w.mentor) == f"Cases: {w.case.reference}"
    assert description(w.other_mentor) == "Cases: none that you hold"
    assert description(w.coordinator) == f"Cases: {w.case.reference}"
    empty = meetings.schedule_meeting(
        db,
        w.coordinating,
        day="2026-11-06",
        clock="10:00",
        place="Room 3",
        case_ids=[],
        actor=w.coordinator,
        at=make.AT,
        tz=ZoneInfo("America/New_York"),
    )
    db.flush()
    feed = events(calendar.feed_ics(db, w.coordinator, at=make.AT))
    assert str(feed[calendar.meeting_uid(empty)]["DESCRIPTION"]) == "Cases: to be set"
