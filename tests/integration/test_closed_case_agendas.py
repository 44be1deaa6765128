"""Closing a case takes it off the agendas of the meetings not yet held, as the coordinator
chooses on the close page: partners' meeting pages and calendars stop listing it, the
meetings' changes, the case's history and the audit log keep the record; a held meeting's
item stays, and reopening puts nothing back."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlmodel import select

from portal.models import AuditEntry, Role
from portal.models.workflow import AgendaItem, CaseEvent, Meeting, MeetingChange
from portal.services import calendar, case_closing, cases, meetings

import factories as make

NY = ZoneInfo("America/New_York")
SOON_PLACE, LATER_PLACE = "Synthetic Room 7", "Synthetic Annex 2"


class World:
    """A CAC's case (with a partner) on two coming meetings' agendas and on one held today
    (minutes taken), another case beside it on the first, to which the coordinator named
    the partner; a second MDT's coming meeting."""

    def __init__(self, db, keys, clock):
        self.home = make.agency(db, keys, name="Coordinating CAC (synthetic)")
        self.partner = make.agency(db, keys, name="Partner Agency (synthetic)")
        self.elsewhere = make.agency(db, keys, name="Other MDT (synthetic)")
        self.coordinator = make.user(db, self.home, Role.MDT_COORDINATOR)
        self.partner_staff = make.user(db, self.partner, Role.CASE_MANAGER)
        today = clock().astimezone(NY).date()
        self.case = self._case(db, self.home, [self.partner], today)
        self.other_case = self._case(db, self.home, [], today)

        def schedule(agency, days, clock_time, place, case_ids, invited=()):
            return meetings.schedule_meeting(
                db,
                agency,
                day=(today + timedelta(days=days)).isoformat(),
                clock=clock_time,
                place=place,
                invited=invited,
                case_ids=case_ids,
                actor=self.coordinator,
                at=clock(),
                tz=NY,
            )

        self.schedule = schedule
        both = [self.case.public_id, self.other_case.public_id]
        # The partner is named on the first: invited to it whatever its agenda holds.
        self.soon = schedule(
            self.home, 2, "10:00", SOON_PLACE, both, invited=[self.partner.public_id]
        )
        self.later = schedule(self.home, 9, "14:30", LATER_PLACE, [self.case.public_id])
        self.held = schedule(self.home, 0, "16:00", "Held room", [self.case.public_id])
        meetings.hold_meeting(db, self.held, actor=self.coordinator, at=clock(), today=today)
        meetings.record_minutes(
            db,
            self.held,
            self.item(db, self.held),
            "Discussed (synthetic).",
            actor=self.coordinator,
            at=clock(),
        )
        foreign_case = self._case(db, self.elsewhere, [], today)
        self.foreign = schedule(self.elsewhere, 3, "09:00", "Elsewhere", [foreign_case.public_id])
        db.flush()

    def _case(self, db, agency, partners, today):
        case = cases.open_case(
            db,
            agency,
            intake_date=today - timedelta(days=3),
            referral_source="hotline",
            actor=None,
            at=make.AT,
            today=today,
            agencies=partners,
        )
        db.flush()
        return case

    def item(self, db, meeting, case=None):
        return db.exec(
            select(AgendaItem).where(
                AgendaItem.meeting_id == meeting.id,
                AgendaItem.case_id == (case or self.case).id,
            )
        ).first()

    def sequence(self, db, meeting) -> int:
        return db.exec(select(Meeting.sequence).where(Meeting.id == meeting.id)).one()


def _sign_in(client, user) -> str:
    client.cookies.clear()
    make.login(client, user.username)
    return make.csrf_of_page(client)


def _close(client, token, w, *, take_off, listed=None, reason="Services complete (synthetic)"):
    listed = [w.soon.public_id, w.later.public_id] if listed is None else listed
    return client.post(
        f"/cases/{w.case.public_id}/close",
        data={
            "csrf_token": token,
            "reason": reason,
            "take_off": take_off,
            "agenda_listed": listed,
        },
    )


def test_the_close_page_lists_the_meetings_not_yet_held_ticked(client, db, keys, clock):
    w = World(db, keys, clock)
    _sign_in(client, w.coordinator)
    page = client.get(f"/cases/{w.case.public_id}/close")
    assert page.status_code == 200
    assert "on the agenda of 2 meetings not yet held" in page.text
    # In words, in the MDT's zone (15:00 UTC is 10:00 in New York on 2 November 2026).
    assert f"The MDT meeting of Wed 04 Nov 2026, 10:00 EST · {SOON_PLACE}" in page.text
    assert f"The MDT meeting of Wed 11 Nov 2026, 14:30 EST · {LATER_PLACE}" in page.text
    for meeting in (w.soon, w.later):
        assert f'name="take_off" value="{meeting.public_id}" checked' in page.text
        assert f'name="agenda_listed" value="{meeting.public_id}"' in page.text
    # The held meeting is history, and another MDT's meeting none of this case's.
    assert w.held.public_id not in page.text and "Held room" not in page.text
    assert w.foreign.public_id not in page.text


def test_a_meeting_whose_time_has_passed_but_not_marked_held_comes_unticked(
    client, db, keys, clock
):
    """Its outcome for the case may still be recorded there: taken off by default, it could
    not be. The coordinator may tick it."""
    w = World(db, keys, clock)
    clock.advance(days=3)  # the first meeting's time has passed; it is not marked held
    _sign_in(client, w.coordinator)
    page = client.get(f"/cases/{w.case.public_id}/close").text
    assert "its time has passed; not marked held" in page
    assert f'name="take_off" value="{w.soon.public_id}" checked' not in page
    assert f'name="take_off" value="{w.later.public_id}" checked' in page
    # Refused for want of a reason, the form keeps what the coordinator ticked.
    token = make.csrf_from(page)
    refused = _close(client, token, w, take_off=[w.soon.public_id], reason="")
    assert refused.status_code == 400
    assert f'name="take_off" value="{w.soon.public_id}" checked' in refused.text
    assert f'name="take_off" value="{w.later.public_id}" checked' not in refused.text


def test_closing_takes_the_case_off_the_meetings_not_yet_held(client, db, keys, clock):
    w = World(db, keys, clock)
    _sign_in(client, w.partner_staff)
    assert w.case.reference in client.get(f"/meetings/{w.soon.public_id}").text
    token = _sign_in(client, w.coordinator)
    closed = _close(client, token, w, take_off=[w.soon.public_id, w.later.public_id])
    assert closed.status_code == 303
    page = client.get(closed.headers["location"])
    assert "Taken off the agenda of 2 meetings not yet held." in page.text
    assert "Taken off the agenda of the MDT meeting of " + w.soon.meeting_date.isoformat() in (
        page.text
    )
    db.expire_all()
    assert w.case.status == "closed"
    assert w.item(db, w.soon) is None and w.item(db, w.later) is None
    # The other case stays on the agenda, and the held meeting's item with its minutes.
    assert w.item(db, w.soon, w.other_case) is not None
    assert w.item(db, w.held).minutes == "Discussed (synthetic)."
    # Calendars replace the events: the sequence moved, only for the meetings changed.
    assert (w.sequence(db, w.soon), w.sequence(db, w.later), w.sequence(db, w.held)) == (1, 1, 0)
    changes = db.exec(
        select(MeetingChange).where(MeetingChange.meeting_id.in_([w.soon.id, w.later.id]))
    ).all()
    assert sorted(c.kind for c in changes) == ["taken_off_agenda", "taken_off_agenda"]
    assert {c.reason for c in changes} == {f"{w.case.reference}: the case was closed."}
    events = db.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == w.case.id, CaseEvent.kind == "taken_off_agenda"
        )
    ).all()
    assert sorted(e.reason for e in events) == sorted(
        m.meeting_date.isoformat() for m in (w.soon, w.later)
    )
    audited = db.exec(
        select(AuditEntry).where(
            AuditEntry.tag == "mdt:meeting:agenda_changed",
            AuditEntry.subject.in_([w.soon.public_id, w.later.public_id]),
        )
    ).all()
    assert len(audited) == 2 and all(w.case.reference in str(a.detail) for a in audited)
    meeting_page = client.get(f"/meetings/{w.soon.public_id}").text
    assert f"taken off agenda — {w.case.reference}: the case was closed." in meeting_page
    # The invited partner no longer sees the case, on the page or in the calendar file.
    _sign_in(client, w.partner_staff)
    seen = client.get(f"/meetings/{w.soon.public_id}")
    assert seen.status_code == 200 and w.case.reference not in seen.text
    ics = client.get(f"/meetings/{w.soon.public_id}/calendar.ics")
    event = icalendar.Calendar.from_ical(ics.content).walk("VEVENT")[0]
    assert event["SEQUENCE"] == 1 and w.case.reference not in ics.text


def test_an_agency_invited_for_the_closed_case_alone_is_invited_no_more(client, db, keys, clock):
    w = World(db, keys, clock)
    today = clock().astimezone(NY).date()
    # The partner also takes part in another case, on a fourth meeting beside this one.
    partner_case = w._case(db, w.home, [w.partner], today)
    shared = w.schedule(
        w.home, 5, "11:00", "Shared room", [w.case.public_id, partner_case.public_id]
    )
    shown = [w.soon.public_id, shared.public_id, w.later.public_id]
    _sign_in(client, w.partner_staff)
    for meeting in (w.soon, shared, w.later):
        assert client.get(f"/meetings/{meeting.public_id}").status_code == 200
    token = _sign_in(client, w.coordinator)
    closed = _close(client, token, w, take_off=shown, listed=shown)
    assert closed.status_code == 303
    page = client.get(closed.headers["location"]).text
    assert (
        "No longer invited where no case of theirs is left on the agenda: Partner Agency "
        "(synthetic)." in page
    )
    # Still invited: named to the first, and for its other case to the fourth. The third
    # discusses nothing of theirs now: its page and calendar file are not theirs any more.
    _sign_in(client, w.partner_staff)
    for meeting in (w.soon, shared):
        assert client.get(f"/meetings/{meeting.public_id}").status_code == 200
    assert client.get(f"/meetings/{w.later.public_id}").status_code == 404
    assert client.get(f"/meetings/{w.later.public_id}/calendar.ics").status_code == 404
    assert w.later.public_id not in client.get("/meetings").text
    # The coordinator's log says whose invitation ended, by the agency's public id.
    details = {
        entry.subject: json.loads(entry.detail)
        for entry in db.exec(
            select(AuditEntry).where(AuditEntry.tag == "mdt:meeting:agenda_changed")
        ).all()
        if entry.subject in shown
    }
    assert details[w.later.public_id] == {
        "removed": w.case.reference,
        "uninvited": [w.partner.public_id],
    }
    assert "uninvited" not in details[w.soon.public_id]
    assert "uninvited" not in details[shared.public_id]


def test_a_meeting_an_agency_is_no_longer_invited_to_stays_in_its_feed_as_cancelled(
    client, db, keys, clock
):
    """Its calendar feed dropped the meeting unseen, which leaves the event in calendars
    that hold it (found by review): it says the meeting is off for the agency, with its
    time and nothing of its place or agenda. Invited again for a case, it is on again."""
    w = World(db, keys, clock)
    token = _sign_in(client, w.coordinator)
    shown = [w.soon.public_id, w.later.public_id]
    assert _close(client, token, w, take_off=shown, listed=shown).status_code == 303
    db.expire_all()
    uid = calendar.meeting_uid(w.later)
    feed = icalendar.Calendar.from_ical(calendar.feed_ics(db, w.partner_staff, at=clock()))
    (event,) = [e for e in feed.walk("VEVENT") if str(e["UID"]) == uid]
    assert event["STATUS"] == "CANCELLED" and event["SEQUENCE"] == 1
    said = event.to_ical().decode()
    assert "no longer invited" in said
    for kept_from_them in (LATER_PLACE, w.case.reference):
        assert kept_from_them not in said
    # Moved since, the meeting is no longer the partner's to follow: its feed keeps it as
    # it was when the invitation ended (found by review).
    ended_start = event.decoded("DTSTART")
    meetings.reschedule_meeting(
        db,
        w.later,
        day=(w.later.meeting_date + timedelta(days=1)).isoformat(),
        clock="09:00",
        reason="Room taken (synthetic)",
        actor=w.coordinator,
        at=clock(),
        tz=NY,
    )
    db.flush()
    feed = icalendar.Calendar.from_ical(calendar.feed_ics(db, w.partner_staff, at=clock()))
    (event,) = [e for e in feed.walk("VEVENT") if str(e["UID"]) == uid]
    assert event.decoded("DTSTART") == ended_start and event["SEQUENCE"] == 1
    # Reopened and put on that agenda again, the case brings its agencies back, with a
    # sequence past the cancellation's, so calendars take the meeting back.
    reopened = client.post(
        f"/cases/{w.case.public_id}/reopen", data={"csrf_token": token, "reason": "Back (syn.)"}
    )
    assert reopened.status_code == 303
    meetings.add_cases_to_agenda(
        db, w.later, w.home, [w.case.public_id], actor=w.coordinator, at=clock()
    )
    db.flush()
    feed = icalendar.Calendar.from_ical(calendar.feed_ics(db, w.partner_staff, at=clock()))
    (event,) = [e for e in feed.walk("VEVENT") if str(e["UID"]) == uid]
    assert event["STATUS"] == "CONFIRMED" and w.case.reference in event.to_ical().decode()
    assert event["SEQUENCE"] > 2  # the reschedule's, then taken up again
    _sign_in(client, w.partner_staff)
    assert client.get(f"/meetings/{w.later.public_id}").status_code == 200


def test_an_agency_joining_a_case_by_any_path_is_invited_to_its_coming_meetings(db, keys, clock):
    """Only the coordinator's "add an agency" invited the agency to the meetings to come
    that discuss the case; a mentor program joining it as its mentor is assigned, or an
    owner on another node being asked, was linked without (found by review): all of them
    link through `cases.link_client`, which invites now."""
    w = World(db, keys, clock)
    program = make.agency(db, keys, name="Mentor Program (synthetic)")
    cases.link_client(db, w.case, program, None, actor=w.coordinator, at=clock())
    db.flush()
    invited = {a.id for a in meetings.invited_agencies(db, w.later)}
    assert program.id in invited


def test_a_partner_at_a_meeting_already_begun_stays_invited_to_be_recorded_there(db, keys, clock):
    """A case closed while a meeting that discusses it is under way (begun, not yet marked
    held) is taken off its agenda, but the partner invited for it stays invited: its people
    may be in the room, and were refused as attendees once the meeting was marked held
    (found by review)."""
    w = World(db, keys, clock)
    now, today = clock(), clock().astimezone(NY).date()
    begun = w.schedule(
        w.home, 0, now.astimezone(NY).strftime("%H:%M"), "Room 1", [w.case.public_id]
    )
    coming = [meeting.public_id for meeting in meetings.coming_agendas(db, w.case)]
    assert begun.public_id in coming
    closed = case_closing.close_case(
        db,
        w.case,
        reason="Done (synthetic)",
        take_off=coming,
        listed=coming,
        actor=w.coordinator,
        at=clock(),
        today=today,
    )
    assert w.partner in closed.uninvited  # from the meeting to come
    meetings.hold_meeting(db, begun, actor=w.coordinator, at=clock(), today=today)
    recorded = meetings.record_attendance(
        db, begun, [w.partner_staff.public_id], actor=w.coordinator, at=clock()
    )
    assert recorded == 1


def test_an_unticked_meeting_keeps_the_case(client, db, keys, clock):
    w = World(db, keys, clock)
    token = _sign_in(client, w.coordinator)
    closed = _close(client, token, w, take_off=[w.soon.public_id])
    assert closed.status_code == 303
    page = client.get(closed.headers["location"]).text
    soon, later = "Wed 04 Nov 2026, 10:00 EST", "Wed 11 Nov 2026, 14:30 EST"
    assert f"Taken off the agenda of the meeting of {soon}, not yet held." in page
    assert f"It stays on the agenda of the meeting of {later}, as you chose." in page
    db.expire_all()
    assert w.item(db, w.soon) is None and w.item(db, w.later) is not None
    assert (w.sequence(db, w.soon), w.sequence(db, w.later)) == (1, 0)
    _sign_in(client, w.partner_staff)
    assert w.case.reference in client.get(f"/meetings/{w.later.public_id}").text


def test_reopening_puts_nothing_back_on_an_agenda(client, db, keys, clock):
    w = World(db, keys, clock)
    token = _sign_in(client, w.coordinator)
    assert _close(client, token, w, take_off=[w.soon.public_id, w.later.public_id]).status_code == (
        303
    )
    reopened = client.post(
        f"/cases/{w.case.public_id}/reopen", data={"csrf_token": token, "reason": "Back (syn.)"}
    )
    assert reopened.status_code == 303
    db.expire_all()
    assert w.case.status == "open"
    assert w.item(db, w.soon) is None and w.item(db, w.later) is None
    assert (w.sequence(db, w.soon), w.sequence(db, w.later)) == (1, 1)


def _untouched(db, w) -> None:
    db.expire_all()
    assert w.case.status == "open"
    assert w.item(db, w.soon) is not None and w.item(db, w.later) is not None
    assert (w.sequence(db, w.soon), w.sequence(db, w.later)) == (0, 0)
    assert db.exec(select(MeetingChange).where(MeetingChange.meeting_id == w.soon.id)).all() == []


def test_a_forged_or_stale_choice_is_refused_and_writes_nothing(client, db, keys, clock):
    w = World(db, keys, clock)
    token = _sign_in(client, w.coordinator)
    # Another MDT's meeting, named as if it were listed: refused in words, never a 500.
    forged = _close(
        client,
        token,
        w,
        take_off=[w.foreign.public_id],
        listed=[w.soon.public_id, w.later.public_id, w.foreign.public_id],
    )
    assert forged.status_code == 409 and "changed since this page opened" in forged.text
    assert "Elsewhere" not in forged.text
    assert f'name="take_off" value="{w.soon.public_id}"' in forged.text
    unlisted = _close(client, token, w, take_off=[w.foreign.public_id, w.soon.public_id])
    assert unlisted.status_code == 400 and "Choose the meetings from the list." in unlisted.text
    # A close posted without the page's list is asked again, the meetings listed.
    bare = client.post(
        f"/cases/{w.case.public_id}/close", data={"csrf_token": token, "reason": "Done (syn.)"}
    )
    assert bare.status_code == 409 and 'value="Done (syn.)"' in bare.text
    for meeting in (w.soon, w.later):  # ticked, as on a first view
        assert f'name="take_off" value="{meeting.public_id}" checked' in bare.text
    # A reason missing keeps the ticks as posted.
    empty = _close(client, token, w, take_off=[w.later.public_id], reason="")
    assert empty.status_code == 400
    assert f'name="take_off" value="{w.soon.public_id}">' in empty.text
    assert f'name="take_off" value="{w.later.public_id}" checked' in empty.text
    _untouched(db, w)


def test_only_the_coordinator_closes_and_takes_off(client, db, keys, clock):
    w = World(db, keys, clock)
    choice = [w.soon.public_id, w.later.public_id]
    # The partner's staff, and a coordinator of the partner agency: not their case.
    token = _sign_in(client, w.partner_staff)
    assert 400 <= _close(client, token, w, take_off=choice).status_code < 500
    partner_coordinator = make.user(db, w.partner, Role.MDT_COORDINATOR)
    token = _sign_in(client, partner_coordinator)
    assert _close(client, token, w, take_off=choice).status_code == 404
    # Staff of the coordinating agency without the coordinator's role.
    advocate = make.user(db, w.home, Role.ADVOCATE)
    token = _sign_in(client, advocate)
    assert _close(client, token, w, take_off=choice).status_code in (403, 404)
    _untouched(db, w)


def test_an_item_with_a_record_is_never_offered_or_taken_off(client, db, keys, clock):
    """Only a held meeting's items carry minutes; should a scheduled one's ever carry some
    (written before the rule, or by hand), the close leaves it as it is."""
    w = World(db, keys, clock)
    written = w.item(db, w.later)
    written.minutes = "Kept (synthetic)."
    db.add(written)
    db.flush()
    token = _sign_in(client, w.coordinator)
    page = client.get(f"/cases/{w.case.public_id}/close").text
    assert w.later.public_id not in page and w.soon.public_id in page
    closed = _close(client, token, w, take_off=[w.soon.public_id], listed=[w.soon.public_id])
    assert closed.status_code == 303
    db.expire_all()
    assert w.item(db, w.soon) is None and w.item(db, w.later).minutes == "Kept (synthetic)."
    assert w.sequence(db, w.later) == 0


def test_a_close_sent_twice_is_told_the_case_is_already_closed(client, db, keys, clock):
    """The close form sent again (a double click, the back button): the second is told the
    case is closed, not that the meetings changed and to close again."""
    w = World(db, keys, clock)
    token = _sign_in(client, w.coordinator)
    assert _close(client, token, w, take_off=[w.soon.public_id]).status_code == 303
    again = _close(client, token, w, take_off=[w.soon.public_id])
    assert again.status_code == 409
    assert "The case is already closed." in again.text
    assert "changed since this page opened" not in again.text
    db.expire_all()
    # Nothing more written: the kept meeting keeps the case, its sequence unmoved.
    assert w.item(db, w.later) is not None and w.sequence(db, w.later) == 0
    closes = db.exec(
        select(CaseEvent).where(CaseEvent.case_id == w.case.id, CaseEvent.kind == "closed")
    ).all()
    assert len(closes) == 1
