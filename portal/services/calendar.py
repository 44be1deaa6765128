"""iCalendar output: one meeting as a file, and each user's private, revocable feed.

Calendars leave the portal and sync to phones: they carry case references only (never a
client's name, never a task's free text), and every UID is stable so an update replaces
the event instead of duplicating it.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.auth.permissions import Permission, allows, caseload_only
from portal.errors import Forbidden, NotFound
from portal.models import Agency, MdtCase, StaffUser
from portal.models.workflow import (
    ACTIVE_TASK_STATUSES,
    AgendaItem,
    CalendarFeed,
    Meeting,
    MeetingInvite,
    MeetingStatus,
    Task,
)
from portal.services import casework, meetings, mentor_appointments, staff, visibility

PRODID = "-//MDT Portal//MDT workflow//EN"
UID_DOMAIN = "mdt-portal.invalid"
FEED_PAST_DAYS = 30
FEED_AHEAD_DAYS = mentor_appointments.APPOINTMENT_HORIZON_DAYS + 1  # every date a mentor can enter
APPOINTMENT_MINUTES = 60  # appointments carry a start only: shown as an hour

# What a feed may carry, each under the permission its own pages ask: the token stands in
# for a signed-in owner, so it reads no more than the owner's roles allow now (roles
# change after a feed is issued; an administrator must receive no survivor's case by it).
FEED_PERMISSIONS = (Permission.MEETING_READ, Permission.TASK_READ, Permission.ACCOMPANIMENT_LOG)


def meeting_uid(meeting: Meeting) -> str:
    return _meeting_uid_of(meeting.public_id)


def _meeting_uid_of(public_id: str) -> str:
    return f"meeting-{public_id}@{UID_DOMAIN}"


def task_uid(task: Task) -> str:
    return f"task-{task.public_id}@{UID_DOMAIN}"


def appointment_uid(public_id: str) -> str:
    return f"appointment-{public_id}@{UID_DOMAIN}"


def _add_end(event: Event, start, length: timedelta) -> None:
    """DTEND, unless the start is too close to year 9999 for it (a date stored before
    dates were bounded): RFC 5545 then reads a day-long or instant event, and the feed
    still serves every other entry."""
    with contextlib.suppress(OverflowError):
        event.add("dtend", start + length)


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    return calendar


def _meeting_event(meeting: Meeting, references: list[str], *, stamp: datetime, none: str) -> Event:
    event = Event()
    event.add("uid", meeting_uid(meeting))
    event.add("dtstamp", stamp)
    event.add("dtstart", meeting.starts_at)
    _add_end(event, meeting.starts_at, timedelta(minutes=meeting.duration_minutes))
    event.add("sequence", meeting.sequence)
    event.add("summary", "MDT case review meeting")
    if meeting.place:
        event.add("location", meeting.place)
    if meeting.video_url:
        event.add("url", meeting.video_url)
    cases = ", ".join(references) if references else none
    event.add("description", f"Cases: {cases}")
    event.add("status", "CANCELLED" if meeting.status == MeetingStatus.CANCELLED else "CONFIRMED")
    return event


def _no_longer_invited_event(
    invitation: MeetingInvite, meeting_public_id: str, *, stamp: datetime
) -> Event:
    """The meeting as cancelled for an agency whose invitation ended, as the agency last
    knew it then (its time and calendar sequence), and nothing of its place, its agenda or
    any change since, which are no longer the agency's to know."""
    event = Event()
    event.add("uid", _meeting_uid_of(meeting_public_id))
    event.add("dtstamp", stamp)
    event.add("dtstart", invitation.ended_starts_at)
    event.add("sequence", invitation.ended_sequence)
    event.add("summary", "MDT case review meeting (no longer invited)")
    event.add(
        "description",
        "Your agency is no longer invited: no case it takes part in is on this meeting's "
        "agenda now.",
    )
    event.add("status", "CANCELLED")
    return event


def _none_listed(meeting: Meeting, agency_id: int, holder_id: int | None) -> str:
    """What the event says of an agenda that lists none of the reader's cases: only the
    coordinating agency's staff read the whole agenda, where none means none yet. Others
    read the cases they take part in (a mentor, those they hold), as the meeting page."""
    if holder_id is not None:
        return "none that you hold"
    if agency_id == meeting.coordinating_agency_id:
        return "to be set"
    return "none that your agency takes part in"


def _references(
    db: Session, meeting: Meeting, agency_id: int, holder_id: int | None = None
) -> list[str]:
    """The agenda's cases the agency takes part in; with `holder_id`, only those that
    mentor holds now (as `meetings.agenda`)."""
    held = () if holder_id is None else (visibility.held_by(holder_id),)
    return list(
        db.exec(
            select(MdtCase.reference)
            .join(AgendaItem, AgendaItem.case_id == MdtCase.id)
            .where(AgendaItem.meeting_id == meeting.id, casework.participates(agency_id), *held)
            .order_by(AgendaItem.position)
        ).all()
    )


def meeting_ics(
    db: Session, meeting: Meeting, *, agency_id: int, at: datetime, holder_id: int | None = None
) -> bytes:
    calendar = _calendar("MDT meeting")
    references = _references(db, meeting, agency_id, holder_id)
    none = _none_listed(meeting, agency_id, holder_id)
    calendar.add_component(_meeting_event(meeting, references, stamp=at, none=none))
    return calendar.to_ical()


def _carried(roles: frozenset[str]) -> frozenset[Permission]:
    return frozenset(p for p in FEED_PERMISSIONS if allows(roles, p))


def may_hold_feed(db: Session, user: StaffUser) -> bool:
    """Whether the user's roles let a feed carry anything at all."""
    return bool(_carried(frozenset(staff.roles_of(db, user))))


def feed_ics(db: Session, user: StaffUser, *, at: datetime) -> bytes:
    """The user's meetings (their agency coordinates or is invited), their tasks' due
    dates and, for a survivor-mentor, the court dates and appointments on their current
    cases (from the mentor program's own records), from a month back on; each only while
    the user's roles allow reading it."""
    roles = frozenset(staff.roles_of(db, user))
    carried = _carried(roles)
    # As on the pages: one who reads cases only as a survivor-mentor is told only of the
    # cases they hold now, and of the tasks on them (`tasks.access_task`).
    holder_id = user.id if caseload_only(roles) else None
    calendar = _calendar("MDT Portal")
    since = at - timedelta(days=FEED_PAST_DAYS)
    if Permission.MEETING_READ in carried:
        for meeting in db.exec(
            select(Meeting)
            .where(meetings.visible_to(user.agency_id), Meeting.starts_at >= since)
            .order_by(Meeting.starts_at)
        ).all():
            references = _references(db, meeting, user.agency_id, holder_id)
            none = _none_listed(meeting, user.agency_id, holder_id)
            calendar.add_component(_meeting_event(meeting, references, stamp=at, none=none))
        # A meeting the agency is no longer invited to stays in the feed as cancelled for
        # it, as a cancelled appointment does: dropped, it would stay in calendars that
        # hold it, and its people might come to a meeting of other survivors' cases.
        for invitation, public_id in meetings.ended_invitations(db, user.agency_id, since=since):
            calendar.add_component(_no_longer_invited_event(invitation, public_id, stamp=at))
    if Permission.TASK_READ in carried:
        held = (visibility.held_by(user.id),) if holder_id is not None else ()
        for task, reference in db.exec(
            select(Task, MdtCase.reference)
            .join(MdtCase, MdtCase.id == Task.case_id)
            .where(
                Task.assignee_user_id == user.id,
                Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]),
                casework.participates(user.agency_id),
                *held,
            )
            .order_by(Task.due_date)
        ).all():
            calendar.add_component(_task_event(task, reference, stamp=at))
    if Permission.ACCOMPANIMENT_LOG in carried:
        for row in mentor_appointments.upcoming_for_mentor(
            db,
            user,
            start=since,
            end=at + timedelta(days=FEED_AHEAD_DAYS),
            include_cancelled=True,
        ):
            calendar.add_component(_appointment_event(row, stamp=at))
    return calendar.to_ical()


def _task_event(task: Task, reference: str, *, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", task_uid(task))
    event.add("dtstamp", stamp)
    event.add("dtstart", task.due_date)
    _add_end(event, task.due_date, timedelta(days=1))
    event.add("summary", f"Task due · {reference} · {task.priority} priority")
    event.add("description", f"Open the portal for the task on {reference}.")
    return event


def _appointment_event(row: mentor_appointments.UpcomingRow, *, stamp: datetime) -> Event:
    """A mentor's court date or appointment: kind, kind of place and case reference only."""
    event = Event()
    event.add("uid", appointment_uid(row.public_id))
    event.add("dtstamp", stamp)
    event.add("dtstart", row.starts_at)
    _add_end(event, row.starts_at, timedelta(minutes=APPOINTMENT_MINUTES))
    event.add("summary", f"{row.kind_label} · {row.case_reference}")
    event.add("description", f"Survivor-mentor date on {row.case_reference} ({row.place_label}).")
    # A cancelled date stays in the feed as cancelled: dropping it would leave it in
    # calendars that already hold it (RFC 5545 STATUS).
    event.add("status", "CANCELLED" if row.cancelled else "CONFIRMED")
    return event


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def active_feed(db: Session, user: StaffUser) -> CalendarFeed | None:
    return db.exec(
        select(CalendarFeed).where(
            CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None)
        )
    ).first()


def issue_feed(db: Session, user: StaffUser, *, at: datetime) -> str:
    """A new feed token (shown once); any earlier feed URL stops working. Refused to a
    user whose roles let a feed carry nothing: it would only be a live credential."""
    if not may_hold_feed(db, user):
        raise Forbidden(
            "A calendar feed carries MDT meetings and task due dates, which your roles do "
            "not let you read: no feed address was made."
        )
    _revoke_all(db, user, at=at)
    token = secrets.token_urlsafe(32)
    db.add(CalendarFeed(user_id=user.id, token_hash=_hash(token), created_at=at))
    record(db, AuditTag.CALENDAR_FEED_ISSUED, agency_id=user.agency_id, actor=user, at=at)
    return token


def revoke_feed(db: Session, user: StaffUser, *, at: datetime) -> None:
    _revoke_all(db, user, at=at)
    record(db, AuditTag.CALENDAR_FEED_REVOKED, agency_id=user.agency_id, actor=user, at=at)


def _revoke_all(db: Session, user: StaffUser, *, at: datetime) -> None:
    staff.end_calendar_feeds(db, user, at=at)


def user_for_token(db: Session, token: str) -> StaffUser:
    """The feed's owner, if the token is live, the account active and its roles still let
    a feed carry something; else 404, the same for each, as for a token never issued."""
    if not token or len(token) > 100:
        raise NotFound("calendar")
    row = db.exec(
        select(StaffUser)
        .join(CalendarFeed, CalendarFeed.user_id == StaffUser.id)
        .join(Agency, Agency.id == StaffUser.agency_id)
        .where(
            CalendarFeed.token_hash == _hash(token),
            CalendarFeed.revoked_at.is_(None),
            StaffUser.is_active,
            Agency.is_active,  # an agency switched off takes its staff's feeds with it
        )
    ).first()
    if row is None or not may_hold_feed(db, row):
        raise NotFound("calendar")
    return row
