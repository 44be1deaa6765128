"""MDT meetings: schedule, agenda, reschedule or cancel, hold, attendance, minutes,
decisions, and marking a case reviewed (which stamps its first-MDT date)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, func, select

from portal.audit import AuditTag, lock_logs, record
from portal.db import insert_of, stamp_once
from portal.disclosure import own
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Actor, Agency, CaseLink, CaseStatus, MdtCase, StaffUser
from portal.models.workflow import (
    AgendaItem,
    Attendance,
    CaseEventKind,
    Decision,
    Meeting,
    MeetingChange,
    MeetingInvite,
    MeetingStatus,
    RecommendationType,
)
from portal.placeholders import sentence
from portal.requester import Requester
from portal.services import case_history, cases, casework, convening, validation, visibility

DEFAULT_RECOMMENDATIONS = (
    "Safety planning",
    "Forensic interview",
    "Medical examination",
    "Mental health referral",
    "Placement or shelter",
    "Legal advocacy",
    "Survivor-mentor assignment",
    "Education support",
    "Continue monitoring",
    "Other",
)


# ---------------------------------------------------------------- loading, with the 404 rule


def visible_to(agency_id: int):
    """SQL: the agency coordinates the meeting or was invited to it."""
    return (Meeting.coordinating_agency_id == agency_id) | exists().where(
        MeetingInvite.meeting_id == Meeting.id,
        MeetingInvite.agency_id == agency_id,
        MeetingInvite.ended_at.is_(None),
    )


def ended_invitations(
    db: Session, agency_id: int, *, since: datetime
) -> list[tuple[MeetingInvite, str]]:
    """The agency's invitations that ended (`_invitations_ended`), with their meetings'
    public ids, to meetings that were to start from `since` on as it last knew them: what
    its calendar feed says is off for it."""
    return list(
        db.exec(
            select(MeetingInvite, Meeting.public_id)
            .join(Meeting, Meeting.id == MeetingInvite.meeting_id)
            .where(
                MeetingInvite.agency_id == agency_id,
                MeetingInvite.ended_at.is_not(None),
                MeetingInvite.ended_starts_at >= since,
            )
            .order_by(MeetingInvite.ended_starts_at)
        ).all()
    )


def invited_to(meeting: Meeting):
    """SQL: the agencies invited to the meeting now (their staff may be recorded there)."""
    return select(MeetingInvite.agency_id).where(
        MeetingInvite.meeting_id == meeting.id, MeetingInvite.ended_at.is_(None)
    )


def access_meeting(db: Session, agency: Agency, public_id: str) -> Meeting:
    meeting = db.exec(
        select(Meeting).where(Meeting.public_id == public_id, visible_to(agency.id))
    ).first()
    if meeting is None:
        raise NotFound("meeting")
    return meeting


def access_managed_meeting(db: Session, agency: Agency, public_id: str) -> Meeting:
    meeting = access_meeting(db, agency, public_id)
    if meeting.coordinating_agency_id != agency.id:
        raise NotFound("meeting")
    return meeting


def meetings_for(db: Session, agency: Agency, *, limit: int = 100) -> list[Meeting]:
    return list(
        db.exec(
            select(Meeting)
            .where(visible_to(agency.id))
            .order_by(Meeting.starts_at.desc())
            .limit(limit)
        ).all()
    )


# ---------------------------------------------------------------- the instant of a meeting


def parse_start(day: object, clock: object, *, tz: ZoneInfo) -> tuple[datetime, date]:
    """A local date and time in the MDT's zone → (UTC instant, local calendar date)."""
    values = validation.collect(
        date=lambda: validation.domain_date(day, "date", label="Date"),
        time=lambda: _time(clock),
    )
    local = validation.wall_clock(values["date"], values["time"], tz=tz, field="time")
    return local.astimezone(ZoneInfo("UTC")), values["date"]


def _time(value: object) -> time:
    try:
        return time.fromisoformat(str(value or "").strip())
    except ValueError:
        raise Invalid("time", "Time must be a time of day (HH:MM).") from None


PAST_GRACE = timedelta(minutes=10)


def _not_past(starts_at: datetime, at: datetime) -> None:
    # A meeting entered as it begins (the minute may have turned while the form was filled)
    # is not "in the past"; ten minutes ago is the limit.
    if starts_at < at.replace(second=0, microsecond=0) - PAST_GRACE:
        raise Invalid("date", "The meeting cannot be in the past.")


def _place(place: object, video_url: object) -> tuple[str | None, str | None]:
    values = validation.collect(
        place=lambda: validation.text(place, "place", max_length=200, required=False) or None,
        video_url=lambda: _url(video_url),
    )
    if not values["place"] and not values["video_url"]:
        raise Invalid("place", "Give a place or a video link.")
    return values["place"], values["video_url"]


def _url(value: object) -> str | None:
    url = validation.text(value, "video_url", max_length=300, required=False, label="Video link")
    if url and not url.startswith("https://"):
        raise Invalid("video_url", "A video link starts with https://.")
    return url or None


# ---------------------------------------------------------------- scheduling


def schedule_meeting(
    db: Session,
    coordinating: Agency,
    *,
    day: object,
    clock: object,
    duration_minutes: object = 90,
    place: object = "",
    video_url: object = "",
    invited: list[str] | tuple[str, ...] = (),
    case_ids: list[str] | tuple[str, ...] = (),
    actor: Actor,
    at: datetime,
    tz: ZoneInfo,
) -> Meeting:
    values = validation.collect(
        start=lambda: parse_start(day, clock, tz=tz),
        place=lambda: _place(place, video_url),
        duration=lambda: _duration(duration_minutes),
    )
    starts_at, meeting_date = values["start"]
    _not_past(starts_at, at)
    agencies = _invited_agencies(db, coordinating, invited)
    meeting = Meeting(
        coordinating_agency_id=coordinating.id,
        starts_at=starts_at,
        meeting_date=meeting_date,
        duration_minutes=values["duration"],
        place=values["place"][0],
        video_url=values["place"][1],
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(meeting)
    db.flush()
    for agency in agencies:
        db.add(MeetingInvite(meeting_id=meeting.id, agency_id=agency.id, named=True))
    add_cases_to_agenda(db, meeting, coordinating, case_ids, actor=actor, at=at, audit=False)
    record(
        db,
        AuditTag.MEETING_SCHEDULED,
        agency_id=coordinating.id,
        actor=actor,
        subject=meeting.public_id,
        detail={"date": meeting_date.isoformat(), "cases": len(case_ids)},
        at=at,
    )
    return meeting


def _changed(
    db: Session, meeting: Meeting, kind: str, reason: str, *, actor: Actor, at, moved: bool = True
) -> None:
    """A change of a scheduled meeting in its history (`moved`: with the start it had until
    now, which a reschedule or cancellation replaces), and its calendar event's sequence
    moved on, so that subscribed calendars replace it."""
    db.add(
        MeetingChange(
            meeting_id=meeting.id,
            kind=kind,
            at=at,
            actor_id=actor.id if actor else None,
            previous_starts_at=meeting.starts_at if moved else None,
            reason=reason,
        )
    )
    meeting.sequence += 1
    db.add(meeting)


def _duration(value: object) -> int:
    try:
        minutes = int(str(value or "90").strip())
    except ValueError:
        raise Invalid("duration_minutes", "Give the length in minutes.") from None
    if not 15 <= minutes <= 480:
        raise Invalid("duration_minutes", "Choose between 15 and 480 minutes.")
    return minutes


def _invited_agencies(db: Session, coordinating: Agency, invited) -> list[Agency]:
    wanted = {str(i) for i in invited if i}
    found = list(
        db.exec(select(Agency).where(Agency.public_id.in_(wanted), Agency.is_active)).all()
    )
    if len(found) != len(wanted):
        raise Invalid("invited", "Choose the invited agencies from the list.")
    return [a for a in found if a.id != coordinating.id]


def reschedule_meeting(
    db: Session,
    meeting: Meeting,
    *,
    day: object,
    clock: object,
    reason: object,
    actor: Actor,
    at: datetime,
    tz: ZoneInfo,
) -> None:
    values = validation.collect(
        start=lambda: parse_start(day, clock, tz=tz),
        reason=lambda: validation.text(reason, "reason", max_length=500, label="Reason"),
    )
    _hold_meeting(db, meeting)
    _require_status(meeting, MeetingStatus.SCHEDULED)
    starts_at, meeting_date = values["start"]
    _not_past(starts_at, at)
    _changed(db, meeting, "rescheduled", values["reason"], actor=actor, at=at)
    meeting.starts_at, meeting.meeting_date = starts_at, meeting_date
    record(
        db,
        AuditTag.MEETING_RESCHEDULED,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        detail={"date": meeting_date.isoformat()},
        at=at,
    )


def cancel_meeting(
    db: Session, meeting: Meeting, *, reason: object, actor: Actor, at: datetime
) -> None:
    why = validation.text(reason, "reason", max_length=500, label="Reason")
    _hold_meeting(db, meeting)
    _require_status(meeting, MeetingStatus.SCHEDULED)
    _changed(db, meeting, "cancelled", why, actor=actor, at=at)
    meeting.status, meeting.status_reason = MeetingStatus.CANCELLED, why
    record(
        db,
        AuditTag.MEETING_CANCELLED,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        at=at,
    )


def hold_meeting(db: Session, meeting: Meeting, *, actor: Actor, at: datetime, today: date) -> None:
    """Open the meeting's record: from its day on, attendance and outcomes can be taken."""
    _hold_meeting(db, meeting)
    _require_status(meeting, MeetingStatus.SCHEDULED)
    if meeting.meeting_date > today:
        raise Invalid("status", "A meeting can be held on its day, not before.")
    meeting.status = MeetingStatus.HELD
    db.add(meeting)
    record(
        db,
        AuditTag.MEETING_HELD,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        at=at,
    )


def _hold_meeting(db: Session, meeting: Meeting) -> None:
    """Read the meeting again with its MDT's log held to this transaction's end (the log
    its changes are written to): a cancellation, holding or rescheduling of it at the same
    moment waits, then finds this one's, so a meeting is not both cancelled and held."""
    lock_logs(db, [meeting.coordinating_agency_id])
    db.refresh(meeting)


def _require_status(meeting: Meeting, status: MeetingStatus) -> None:
    if meeting.status != status:
        raise Conflict("status", f"The meeting is {meeting.status}; this needs it {status}.")


# ---------------------------------------------------------------- agenda


def agenda_candidates(
    db: Session, coordinating: Agency, *, limit: int = 100, besides: Meeting | None = None
) -> list[MdtCase]:
    """Open cases of this MDT, nearest their deadline (or next review) first; `besides`: a
    meeting whose agenda cases are left out (offered again, they were only refused)."""
    due = func.coalesce(MdtCase.next_review_date, MdtCase.convening_due)
    query = select(MdtCase).where(
        MdtCase.coordinating_agency_id == coordinating.id,
        MdtCase.status == CaseStatus.OPEN,
    )
    if besides is not None:
        on_it = select(AgendaItem.case_id).where(AgendaItem.meeting_id == besides.id)
        query = query.where(MdtCase.id.not_in(on_it))
    return list(
        db.exec(
            query.order_by(MdtCase.first_mdt_date.is_not(None), due, MdtCase.reference).limit(limit)
        ).all()
    )


def add_cases_to_agenda(
    db: Session,
    meeting: Meeting,
    coordinating: Agency,
    case_public_ids: Collection[object],
    *,
    actor: Actor,
    at: datetime,
    audit: bool = True,
) -> list[AgendaItem]:
    """`add_to_agenda` for each case named, in one transaction. The cases are held first,
    all of them in one fixed order, then the MDT's log: added one by one, the second case
    would be held after the log the first one's addition took, and a close of it at the
    same moment (the case, then the log) deadlock with this."""
    casework.held_cases(
        db,
        select(MdtCase.id).where(
            MdtCase.public_id.in_([str(public_id) for public_id in case_public_ids]),
            MdtCase.coordinating_agency_id == coordinating.id,
        ),
    )
    return [
        add_to_agenda(db, meeting, coordinating, public_id, actor=actor, at=at, audit=audit)
        for public_id in case_public_ids
    ]


def add_to_agenda(
    db: Session,
    meeting: Meeting,
    coordinating: Agency,
    case_public_id: object,
    *,
    actor: Actor,
    at: datetime,
    audit: bool = True,
) -> AgendaItem:
    # Only this MDT's own open cases: a case of another MDT is refused in the same words
    # as a case that does not exist.
    case = db.exec(
        select(MdtCase).where(
            MdtCase.public_id == str(case_public_id),
            MdtCase.coordinating_agency_id == coordinating.id,
        )
    ).first()
    if case is None:
        raise Invalid("case_ids", "Choose cases of your MDT from the list.")
    # Held: a close at the same moment waits for this item, or this item sees the close.
    case = casework.open_for_writes(
        db,
        case,
        field="case_ids",
        closed=f"{case.reference} is closed; reopen it to put it on an agenda.",
    )
    # The MDT's log after the case (the order of `casework.held_case`), before the
    # meeting's status is read: a cancellation at the same moment waits, or is seen.
    lock_logs(db, [meeting.coordinating_agency_id])
    status = db.exec(select(Meeting.status).where(Meeting.id == meeting.id)).one()
    if status == MeetingStatus.CANCELLED:
        raise Conflict("case_ids", "The meeting is cancelled.")
    if meeting.meeting_date < case.intake_date:
        # It could not have discussed the case, and would stamp it convened before intake.
        raise Invalid(
            "case_ids",
            f"{case.reference} came in on {case.intake_date.isoformat()}, after this "
            "meeting's day: add it to a later meeting.",
        )
    position = db.exec(
        select(func.coalesce(func.max(AgendaItem.position), 0)).where(
            AgendaItem.meeting_id == meeting.id
        )
    ).one()
    item = AgendaItem(
        meeting_id=meeting.id,
        case_id=case.id,
        position=position + 1,
        owner_agency_id=meeting.coordinating_agency_id,
    )
    try:
        with db.begin_nested():
            db.add(item)
            db.flush()
    except IntegrityError:
        raise Conflict("case_ids", f"{case.reference} is already on the agenda.") from None
    # Every agency of the case is invited to the meeting that discusses it.
    for participant in casework.participants(db, case):
        if participant.coordinating:
            continue
        cases.invite(db, meeting.id, participant.agency.id)
    if audit:
        record(
            db,
            AuditTag.MEETING_AGENDA_CHANGED,
            agency_id=meeting.coordinating_agency_id,
            actor=actor,
            subject=meeting.public_id,
            detail={"added": case.reference},
            at=at,
        )
    return item


def coming_agendas(db: Session, case: MdtCase) -> list[Meeting]:
    """The meetings not yet held (scheduled, not cancelled) whose agenda holds the case, the
    soonest first: those a close offers to take it off. An item with minutes, a review or a
    decision is a held meeting's history and is never offered, whatever the meeting's
    status says."""
    return list(
        db.exec(
            select(Meeting)
            .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
            .where(
                AgendaItem.case_id == case.id,
                Meeting.coordinating_agency_id == case.coordinating_agency_id,
                Meeting.status == MeetingStatus.SCHEDULED,
                AgendaItem.minutes.is_(None),
                AgendaItem.reviewed_at.is_(None),
                ~exists().where(Decision.agenda_item_id == AgendaItem.id),
            )
            .order_by(Meeting.starts_at, Meeting.id)
        ).all()
    )


def check_agenda_choice(
    coming: list[Meeting], chosen: Collection[str], *, listed: Collection[str] | None
) -> list[Meeting]:
    """The meetings of `coming` named in `chosen` (public ids), where nothing is written.
    `listed`: the meetings the form showed, when it came from one: refused if the coming
    meetings are no longer those (one added, cancelled or held since), so no meeting is
    passed over that the coordinator was not shown. A meeting not coming, or of another
    MDT, is refused in the same words as a stale one."""
    ids = {meeting.public_id for meeting in coming}
    if listed is not None and set(listed) != ids:
        raise Conflict(
            "take_off",
            "The meetings not yet held with this case on their agenda changed since this "
            "page opened: they are listed again below. Check them and close again.",
        )
    wanted = set(chosen)
    if not wanted <= ids:
        raise Invalid("take_off", "Choose the meetings from the list.")
    return [meeting for meeting in coming if meeting.public_id in wanted]


def take_off_agenda(
    db: Session, meeting: Meeting, case: MdtCase, *, why: str, actor: Actor, at: datetime
) -> list[Agency]:
    """Take the case off a meeting not yet held (one of `coming_agendas`): the invited
    agencies' pages and calendars stop listing it (the meeting's `sequence` moves, as for a
    reschedule, so subscribed calendars replace the event), and an agency invited for it
    alone is invited no more (`_invitations_ended`, returned), unless the meeting has begun
    (not yet marked held, its attendance is still to be recorded: its people may be in it).
    Kept: a change of the meeting (`why`, the coordinator's), an event of the case, an audit
    entry as for an addition."""
    lock_logs(db, [meeting.coordinating_agency_id])
    _hold_meeting(db, meeting)
    _require_status(meeting, MeetingStatus.SCHEDULED)
    item = db.exec(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case.id)
    ).one()
    recorded = db.exec(select(Decision.id).where(Decision.agenda_item_id == item.id)).first()
    if item.minutes is not None or item.reviewed_at is not None or recorded is not None:
        # Checked by `coming_agendas` already: an item that holds a record is never deleted.
        raise Conflict("take_off", f"{case.reference} has a record at this meeting.")
    db.delete(item)
    said = f"{case.reference}: {why}"
    _changed(db, meeting, "taken_off_agenda", said, actor=actor, at=at, moved=False)
    uninvited = [] if meeting.starts_at <= at else _invitations_ended(db, meeting, at=at)
    case_history.note(
        db,
        case,
        CaseEventKind.TAKEN_OFF_AGENDA,
        actor=actor,
        at=at,
        reason=meeting.meeting_date.isoformat(),
    )
    record(
        db,
        AuditTag.MEETING_AGENDA_CHANGED,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        detail={
            "removed": case.reference,
            **({"uninvited": [a.public_id for a in uninvited]} if uninvited else {}),
        },
        at=at,
    )
    return uninvited


def _invitations_ended(db: Session, meeting: Meeting, *, at: datetime) -> list[Agency]:
    """End the invitations made for the agenda (not named by the coordinator) of agencies
    that take part in none of the cases left on it: the meeting discusses nothing of
    theirs, and its page and calendar are no longer theirs to see. Returns them."""
    on_agenda = select(AgendaItem.case_id).where(AgendaItem.meeting_id == meeting.id)
    still_theirs = exists().where(
        CaseLink.agency_id == MeetingInvite.agency_id, CaseLink.case_id.in_(on_agenda)
    )
    ended = db.exec(
        select(MeetingInvite, Agency)
        .join(Agency, Agency.id == MeetingInvite.agency_id)
        .where(
            MeetingInvite.meeting_id == meeting.id,
            MeetingInvite.ended_at.is_(None),
            ~MeetingInvite.named,
            ~still_theirs,
        )
        .order_by(Agency.name)
    ).all()
    for invitation, _agency in ended:
        # As its calendar last had it (the sequence this change moved it to).
        invitation.ended_at, invitation.ended_starts_at = at, meeting.starts_at
        invitation.ended_sequence = meeting.sequence
        db.add(invitation)
    return [agency for _invitation, agency in ended]


@dataclass(frozen=True)
class AgendaRow:
    item: AgendaItem
    case: MdtCase


def agenda(
    db: Session, meeting: Meeting, viewer_agency: Agency, *, holder: StaffUser | None = None
) -> list[AgendaRow]:
    """The agenda as this agency may see it: only cases it takes part in; with `holder`,
    only the cases that mentor holds (cases.caseload_holder). The minutes are not read
    here: the coordinating agency's staff read them by `read_minutes` (their role under
    its policy, audited); a partner only through the owner's disclosure point (the case
    summary), as the decisions (`case_records.meeting_decisions`)."""
    held = () if holder is None else (visibility.held_by(holder.id),)
    rows = db.exec(
        select(AgendaItem, MdtCase)
        .options(defer(AgendaItem.minutes, raiseload=True))
        .join(MdtCase, MdtCase.id == AgendaItem.case_id)
        .where(AgendaItem.meeting_id == meeting.id, casework.participates(viewer_agency.id), *held)
        .order_by(AgendaItem.position)
    ).all()
    return [AgendaRow(item, case) for item, case in rows]


MINUTES = "mdt_minutes"


@dataclass(frozen=True)
class MinutesRead:
    """The agenda's minutes as the coordinating agency's policy lets this person read them:
    `by_item` (agenda item id -> minutes, and their fingerprint for a form that saves them
    again) when allowed, else empty and `withheld` says why."""

    by_item: dict[int, str]
    withheld: str | None = None

    def seen(self, item: AgendaItem) -> str:
        return minutes_fingerprint(self.by_item.get(item.id))


def minutes_fingerprint(text: str | None) -> str:
    """What a minutes form carries of the minutes it showed: a save over minutes that have
    changed since is refused (it would overwrite a colleague's words unseen)."""
    return hashlib.sha256((text or "").encode()).hexdigest()[:32]


def read_minutes(
    db: Session, requester: Requester, meeting: Meeting, rows: list[AgendaRow], *, at: datetime
) -> MinutesRead | None:
    """The minutes of these agenda rows for the coordinating agency's own staff, under its
    policy for their role; each case's minutes read (or refused) is in its log. None for any
    other agency: nothing of the minutes is read for them."""
    coordinating = db.get(Agency, meeting.coordinating_agency_id)
    if requester.agency != coordinating.public_id:
        return None
    ids = [row.item.id for row in rows]
    found = dict(
        db.exec(
            select(AgendaItem.id, AgendaItem.minutes).where(
                AgendaItem.id.in_(ids), AgendaItem.minutes.is_not(None)
            )
        ).all()
    )
    answer = own.decide(db, requester, MINUTES, agency=coordinating)
    reads = [(None, row.case.reference, row.case.reference) for row in rows if row.item.id in found]
    if reads:
        own.record_reads(
            db,
            answer,
            requester=requester,
            agency=coordinating,
            reads=reads,
            at=at,
            detail={"meeting": meeting.public_id},
        )
    if answer.withheld:
        return MinutesRead({}, sentence(answer.why))
    return MinutesRead(found)


def access_agenda_item(db: Session, meeting: Meeting, public_id: str) -> AgendaItem:
    item = db.exec(
        select(AgendaItem).where(
            AgendaItem.public_id == public_id, AgendaItem.meeting_id == meeting.id
        )
    ).first()
    if item is None:
        raise NotFound("agenda item")
    return item


# ---------------------------------------------------------------- during the meeting


def _require_held(meeting: Meeting) -> None:
    if meeting.status != MeetingStatus.HELD:
        raise Conflict("status", "Start the meeting (mark it held) before recording outcomes.")


def _refuse_deactivated_before(db: Session, meeting: Meeting, people: list[StaffUser]) -> None:
    could = set(
        db.exec(
            select(StaffUser.id).where(
                StaffUser.id.in_([p.id for p in people]), could_attend(meeting)
            )
        ).all()
    )
    gone = sorted(p.display_name for p in people if p.id not in could)
    if gone:
        raise Invalid(
            "attendees",
            f"{', '.join(gone)} {'was' if len(gone) == 1 else 'were'} no longer on staff when "
            "this meeting began (the account was deactivated before it), so cannot be "
            "recorded as attending it.",
        )


def record_attendance(
    db: Session, meeting: Meeting, user_ids: list[str], *, actor: Actor, at: datetime
) -> int:
    """Attendance by person, and through each person, by agency. Replaces the list."""
    _require_held(meeting)
    invited = invited_to(meeting)
    people = list(
        db.exec(
            select(StaffUser).where(
                StaffUser.public_id.in_([str(u) for u in user_ids]),
                (StaffUser.agency_id == meeting.coordinating_agency_id)
                | StaffUser.agency_id.in_(invited),
            )
        ).all()
    )
    if len(people) != len(set(user_ids)):
        raise Invalid("attendees", "Choose attendees from the invited agencies' staff.")
    _refuse_deactivated_before(db, meeting, people)
    for old in db.exec(select(Attendance).where(Attendance.meeting_id == meeting.id)).all():
        db.delete(old)
    db.flush()
    for person in people:
        db.add(
            Attendance(
                meeting_id=meeting.id,
                user_id=person.id,
                agency_id=person.agency_id,
                recorded_at=at,
            )
        )
    record(
        db,
        AuditTag.MEETING_ATTENDANCE,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        detail={"attendees": len(people)},
        at=at,
    )
    return len(people)


def could_attend(meeting: Meeting) -> ColumnElement[bool]:
    """SQL: the staff member had an account in use when the meeting began: active now, or
    deactivated after it started (someone who has left since still attended a meeting
    held before). An account's deactivation time is all the data holds of it: one
    deactivated and reactivated since counts as active."""
    return StaffUser.is_active | (StaffUser.deactivated_at > meeting.starts_at)


def invitable_staff(db: Session, meeting: Meeting) -> list[tuple[StaffUser, Agency]]:
    invited = invited_to(meeting)
    return list(
        db.exec(
            select(StaffUser, Agency)
            .join(Agency, Agency.id == StaffUser.agency_id)
            .where(
                could_attend(meeting),
                (StaffUser.agency_id == meeting.coordinating_agency_id)
                | StaffUser.agency_id.in_(invited),
            )
            .order_by(Agency.name, StaffUser.display_name)
        ).all()
    )


def _agencies_seen_by(meeting: Meeting, viewer_agency_id: int | None):
    """SQL: the agencies a viewer may learn took part in this meeting. The coordinating
    agency sees all it invited; a partner sees the coordinating agency and the agencies of
    the agenda's cases it takes part in itself, never those of other cases (issue 12)."""
    if viewer_agency_id is None or viewer_agency_id == meeting.coordinating_agency_id:
        return None
    shared_cases = (
        select(AgendaItem.case_id)
        .join(MdtCase, MdtCase.id == AgendaItem.case_id)
        .where(AgendaItem.meeting_id == meeting.id, casework.participates(viewer_agency_id))
    )
    return (Agency.id == meeting.coordinating_agency_id) | exists().where(
        CaseLink.agency_id == Agency.id, CaseLink.case_id.in_(shared_cases)
    )


def attendance(
    db: Session, meeting: Meeting, viewer_agency_id: int | None = None
) -> list[tuple[StaffUser, Agency]]:
    """Who attended; for a partner, only people of agencies it may know took part."""
    query = (
        select(StaffUser, Agency)
        .join(Attendance, Attendance.user_id == StaffUser.id)
        .join(Agency, Agency.id == Attendance.agency_id)
        .where(Attendance.meeting_id == meeting.id)
    )
    seen = _agencies_seen_by(meeting, viewer_agency_id)
    if seen is not None:
        query = query.where(seen)
    return list(db.exec(query.order_by(Agency.name, StaffUser.display_name)).all())


def invited_agencies(
    db: Session, meeting: Meeting, viewer_agency_id: int | None = None
) -> list[Agency]:
    """The invited agencies; for a partner, only those on cases it takes part in (and the
    coordinating agency): an invitation must not tell of another survivor's case."""
    query = (
        select(Agency)
        .join(MeetingInvite, MeetingInvite.agency_id == Agency.id)
        .where(MeetingInvite.meeting_id == meeting.id, MeetingInvite.ended_at.is_(None))
    )
    seen = _agencies_seen_by(meeting, viewer_agency_id)
    if seen is not None:
        query = query.where(seen)
    return list(db.exec(query.order_by(Agency.name)).all())


def record_minutes(
    db: Session,
    meeting: Meeting,
    item: AgendaItem,
    text: object,
    *,
    actor: Actor,
    at: datetime,
    requester: Requester | None = None,
    seen: object = None,
) -> None:
    """Save an agenda item's minutes. `requester`: the person saving, who must be allowed
    to read them under the coordinating agency's policy (they overwrite what is there);
    `seen`: the fingerprint of the minutes their form showed (`minutes_fingerprint`), when
    saving from a page: refused if they have changed since."""
    _require_held(meeting)
    if requester is not None:
        coordinating = db.get(Agency, meeting.coordinating_agency_id)
        answer = own.decide(db, requester, MINUTES, agency=coordinating)
        if answer.withheld:
            raise Forbidden(f"Not saved: {sentence(answer.why)}.")
    minutes = (
        validation.text(text, "minutes", max_length=20000, required=False, multiline=True) or None
    )
    # The minutes as they are now, with the log they are written to held: two saves from
    # one page at once take turns, and the second is told of the first's words.
    lock_logs(db, [item.owner_agency_id])
    db.refresh(item)
    if seen is not None and seen != minutes_fingerprint(item.minutes):
        raise Conflict(
            "minutes",
            "Someone saved these minutes after you opened the page: their words are above, "
            "yours are in the box. Merge them and save again.",
        )
    item.minutes = minutes
    db.add(item)
    record(
        db,
        AuditTag.MINUTES_RECORDED,
        agency_id=item.owner_agency_id,
        actor=actor,
        subject=meeting.public_id,
        detail={"agenda_item": item.public_id, **({} if minutes else {"cleared": True})},
        at=at,
    )


def recommendation_types(db: Session, agency: Agency) -> list[RecommendationType]:
    """The agency's list; the first time it is asked, the defaults are written."""
    rows = listed_recommendation_types(db, agency)
    if rows:
        return rows
    # The first two views at once both find the list empty: the second writes nothing
    # (on PostgreSQL after waiting for the first's commit; on SQLite its first write
    # starts again after it), where a plain insert met the unique key (a 500).
    insert = insert_of(db)
    defaults = [
        {"agency_id": agency.id, "label": label, "is_active": True}
        for label in DEFAULT_RECOMMENDATIONS
    ]
    db.execute(insert(RecommendationType).values(defaults).on_conflict_do_nothing())
    return listed_recommendation_types(db, agency)


def listed_recommendation_types(db: Session, agency: Agency) -> list[RecommendationType]:
    return list(
        db.exec(
            select(RecommendationType)
            .where(RecommendationType.agency_id == agency.id)
            .order_by(RecommendationType.label)
        ).all()
    )


def add_recommendation_type(
    db: Session, agency: Agency, label: object, *, actor: Actor, at: datetime
) -> RecommendationType:
    clean = validation.text(label, "label", max_length=80, label="Recommendation type")
    recommendation_types(db, agency)
    row = RecommendationType(agency_id=agency.id, label=clean)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        raise Conflict("label", "This recommendation type is already on the list.") from None
    record(
        db,
        AuditTag.RECOMMENDATION_TYPE_ADDED,
        agency_id=agency.id,
        actor=actor,
        subject=clean,
        at=at,
    )
    return row


def set_recommendation_active(
    db: Session, agency: Agency, type_id: object, active: bool, *, actor: Actor, at: datetime
) -> None:
    row = db.exec(
        select(RecommendationType).where(
            RecommendationType.id == _int(type_id), RecommendationType.agency_id == agency.id
        )
    ).first()
    if row is None:
        raise NotFound("recommendation type")
    row.is_active = active
    db.add(row)
    record(
        db,
        AuditTag.RECOMMENDATION_TYPE_CHANGED,
        agency_id=agency.id,
        actor=actor,
        subject=row.label,
        detail={"active": active},
        at=at,
    )


def _int(value: object) -> int:
    """A row id from a form, or -1 (no row): an id past a 32-bit integer is none of ours,
    and PostgreSQL would refuse to compare it with one."""
    try:
        number = int(str(value))
    except ValueError:
        return -1
    return number if 0 < number < 2**31 else -1


def record_decision(
    db: Session,
    meeting: Meeting,
    item: AgendaItem,
    *,
    recommendation: object,
    text: object,
    actor: Actor,
    at: datetime,
) -> Decision:
    _require_held(meeting)
    coordinating = db.get(Agency, meeting.coordinating_agency_id)
    labels = {r.label for r in recommendation_types(db, coordinating) if r.is_active}
    values = validation.collect(
        recommendation=lambda: _one_of(recommendation, labels),
        text=lambda: validation.text(text, "text", max_length=2000, required=False),
    )
    decision = Decision(
        agenda_item_id=item.id,
        case_id=item.case_id,
        recommendation=values["recommendation"],
        text=values["text"],
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(decision)
    db.flush()
    record(
        db,
        AuditTag.DECISION_RECORDED,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=decision.public_id,
        detail={"meeting": meeting.public_id},
        at=at,
    )
    return decision


def _one_of(value: object, labels: set[str]) -> str:
    if value not in labels:
        raise Invalid("recommendation", "Choose a recommendation type from the list.")
    return str(value)


def mark_reviewed(
    db: Session, meeting: Meeting, item: AgendaItem, *, actor: Actor, at: datetime
) -> MdtCase:
    """The case was reviewed at this meeting: the first review stamps its first-MDT date."""
    _require_held(meeting)
    case = db.get(MdtCase, item.case_id)
    if meeting.meeting_date < case.intake_date:
        raise Invalid(
            "status",
            f"This meeting was before {case.reference} came in "
            f"({case.intake_date.isoformat()}): it cannot have reviewed it.",
        )
    # Posted twice (a double click, or two people at once), the second finds it marked and
    # writes nothing (no second review in the case's history, no case counted convened
    # twice).
    if not stamp_once(db, item, "reviewed_at", at):
        return case
    # The case as it is now, held to this transaction's end: a review of it at another
    # meeting at the same moment waits, and then sees this one's first-MDT date.
    case = db.exec(
        select(MdtCase)
        .where(MdtCase.id == item.case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if case.first_mdt_date is None or meeting.meeting_date < case.first_mdt_date:
        convening.set_first_mdt(db, case, meeting.meeting_date)
    if case.last_review_date is None or meeting.meeting_date > case.last_review_date:
        case.last_review_date = meeting.meeting_date
    case.next_review_date = casework.next_review(case, today=meeting.meeting_date)
    db.add(case)
    case_history.note(
        db, case, CaseEventKind.REVIEWED, actor=actor, at=at, reason=meeting.public_id
    )
    record(
        db,
        AuditTag.CASE_REVIEWED,
        agency_id=case.coordinating_agency_id,
        actor=actor,
        subject=case.reference,
        detail={"meeting": meeting.public_id, "date": meeting.meeting_date.isoformat()},
        at=at,
    )
    return case


def decision_of(db: Session, case: MdtCase, public_id: str) -> Decision:
    decision = db.exec(
        select(Decision).where(Decision.public_id == public_id, Decision.case_id == case.id)
    ).first()
    if decision is None:
        raise Invalid("decision", "Choose a decision of this case.")
    return decision


def changes(db: Session, meeting: Meeting) -> list[MeetingChange]:
    return list(
        db.exec(
            select(MeetingChange)
            .where(MeetingChange.meeting_id == meeting.id)
            .order_by(MeetingChange.at)
        ).all()
    )


def case_meetings(db: Session, case: MdtCase) -> list[tuple[Meeting, AgendaItem]]:
    return list(
        db.exec(
            select(Meeting, AgendaItem)
            .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
            .where(AgendaItem.case_id == case.id)
            .order_by(Meeting.starts_at)
        ).all()
    )


def update_attendance(
    db: Session,
    meeting: Meeting,
    ticked: list[str],
    *,
    shown: list[str],
    actor: Actor,
    at: datetime,
) -> int:
    """Attendance as the form left it: a person ticked is added, a person shown on the form
    and not ticked is taken off, and everyone else recorded stays (issue 17: a save with
    nothing changed, or a form that did not list someone, never wipes what was recorded)."""
    _require_held(meeting)
    invited = invited_to(meeting)
    wanted = {str(u) for u in ticked}
    people = list(
        db.exec(
            select(StaffUser).where(
                StaffUser.public_id.in_(wanted),
                (StaffUser.agency_id == meeting.coordinating_agency_id)
                | StaffUser.agency_id.in_(invited),
            )
        ).all()
    )
    if len(people) != len(wanted):
        raise Invalid("attendees", "Choose attendees from the invited agencies' staff.")
    _refuse_deactivated_before(db, meeting, people)
    unticked = {str(u) for u in shown} - wanted
    recorded = db.exec(
        select(Attendance, StaffUser.public_id)
        .join(StaffUser, StaffUser.id == Attendance.user_id)
        .where(Attendance.meeting_id == meeting.id)
    ).all()
    present = set()
    for row, public_id in recorded:
        if public_id in unticked:
            db.delete(row)
        else:
            present.add(public_id)
    db.flush()
    for person in people:
        if person.public_id not in present:
            db.add(
                Attendance(
                    meeting_id=meeting.id,
                    user_id=person.id,
                    agency_id=person.agency_id,
                    recorded_at=at,
                )
            )
            present.add(person.public_id)
    record(
        db,
        AuditTag.MEETING_ATTENDANCE,
        agency_id=meeting.coordinating_agency_id,
        actor=actor,
        subject=meeting.public_id,
        detail={"attendees": len(present)},
        at=at,
    )
    return len(present)
