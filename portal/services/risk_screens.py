"""The 24–48 hour risk screen as its own clock, beside the 14-day convening clock.

It starts at identification (a screening with a clear concern), is due `window_hours`
after it (a setting, 48 by default, fixed when the clock starts, as a convening deadline
is), and is done when the risk screen, covering the survivor and each minor child or
vulnerable family member recorded, and a first safety plan are both recorded.

Hours are hours lived: the clock is kept in UTC and only shown in the MDT's zone, so a
daylight-saving change neither shortens nor lengthens the window (48 hours from 20:00 on
the Saturday before the spring change is 21:00 local on the Monday). Dates of the
coordinator's rows are calendar dates in the MDT's zone, as for the convening clock.

A clock belongs to the identification that started it. When that screening no longer shows
a clear concern (edited inside its seven days, or amended, down to a possible concern or
none), the clock stops at that moment: it is neither running, nor done, nor late, and what
was recorded under it is kept. If another finalised screening of the client still shows a
clear concern, the survivor is still identified: a clock runs from that screening's time.
A clock already done stays done. Should the same screening show a clear concern again, its
stopped clock runs again with the deadline it always had.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.errors import Invalid, NotFound
from portal.models import Actor, Client
from portal.models.screening import (
    HouseholdRelation,
    RiskScreen,
    RiskScreenPerson,
    risk_person_sealed_for,
    risk_screen_sealed_for,
)
from portal.services.keys import open_record, seal_record

FIRST_MARK_HOURS = 24  # the standard's "24–48 hours": due from here, overdue after the window
NOTE_MAX = 2000
LABEL_MAX = 60


def first_mark(screen: RiskScreen) -> datetime:
    return screen.identified_at + timedelta(hours=min(FIRST_MARK_HOURS, screen.window_hours))


def status(screen: RiskScreen, now: datetime) -> str:
    """open (under 24 h), due (24 h up to and including the deadline), overdue, done, done
    late, or stopped. Exactly at the deadline it is still due: late means after it."""
    if screen.stopped_at is not None:
        return "stopped"
    if screen.done_at is not None:
        return "done" if screen.done_at <= screen.due_at else "done late"
    if now > screen.due_at:
        return "overdue"
    if now >= first_mark(screen):
        return "due"
    return "open"


def _notes_place(screen: RiskScreen) -> str:
    return risk_screen_sealed_for(screen.agency_id, screen.client_id, screen.id)


def _person_place(screen: RiskScreen, person: RiskScreenPerson) -> str:
    return risk_person_sealed_for(screen.agency_id, screen.client_id, screen.id, person.id)


def open_clock(db: Session, client: Client) -> RiskScreen | None:
    return db.exec(
        select(RiskScreen)
        .where(
            RiskScreen.agency_id == client.agency_id,
            RiskScreen.client_id == client.id,
            RiskScreen.done_at.is_(None),
            RiskScreen.stopped_at.is_(None),
        )
        .order_by(RiskScreen.identified_at)
        .limit(1)
    ).first()


def start_clock(
    db: Session,
    client: Client,
    *,
    identified_at: datetime,
    window_hours: int,
    screening_id: int | None,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> RiskScreen:
    """Start the clock at identification; one open clock per client (a second clear
    concern while one runs changes nothing: the survivor is already identified)."""
    running = open_clock(db, client)
    if running is not None:
        return running
    if screening_id is not None:
        # The screen this identification called for is done: a correction to the
        # screening (a note, an amendment) identifies nobody again.
        done = db.exec(
            select(RiskScreen)
            .where(RiskScreen.screening_id == screening_id, RiskScreen.done_at.is_not(None))
            .limit(1)
        ).first()
        if done is not None:
            return done
    stopped = _stopped_clock_of(db, screening_id)
    if stopped is not None:
        stopped.stopped_at = None
        db.add(stopped)
        record(
            db,
            AuditTag.RISK_SCREEN_RESUMED,
            agency_id=client.agency_id,
            actor=actor,
            subject=client.public_id,
            detail={"risk_screen": stopped.public_id},
            at=at,
        )
        return stopped
    screen = RiskScreen(
        agency_id=client.agency_id,
        client_id=client.id,
        screening_id=screening_id,
        identified_at=identified_at,
        due_at=identified_at + timedelta(hours=window_hours),
        window_hours=window_hours,
        key_id="",
        notes_sealed=b"",  # sealed below, for its row
    )
    db.add(screen)
    db.flush()
    screen.key_id, screen.notes_sealed = seal_record(
        db, client.agency_id, keys, {"survivor": ""}, place=_notes_place(screen)
    )
    db.add(screen)
    record(
        db,
        AuditTag.RISK_SCREEN_STARTED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"risk_screen": screen.public_id, "window_hours": window_hours},
        at=at,
    )
    return screen


def _stopped_clock_of(db: Session, screening_id: int | None) -> RiskScreen | None:
    if screening_id is None:
        return None
    return db.exec(
        select(RiskScreen)
        .where(
            RiskScreen.screening_id == screening_id,
            RiskScreen.stopped_at.is_not(None),
            RiskScreen.done_at.is_(None),
        )
        .order_by(RiskScreen.id.desc())
        .limit(1)
    ).first()


def stop_clock(db: Session, screening_id: int, *, actor, at: datetime) -> RiskScreen | None:
    """The running clock this screening started stops now: its screening no longer shows a
    clear concern. None when it started none, or its clock is done (it stays done)."""
    screen = db.exec(
        select(RiskScreen).where(
            RiskScreen.screening_id == screening_id,
            RiskScreen.done_at.is_(None),
            RiskScreen.stopped_at.is_(None),
        )
    ).first()
    if screen is None:
        return None
    screen.stopped_at = at
    db.add(screen)
    db.flush()
    record(
        db,
        AuditTag.RISK_SCREEN_STOPPED,
        agency_id=screen.agency_id,
        actor=actor,
        subject=db.get(Client, screen.client_id).public_id,
        detail={
            "risk_screen": screen.public_id,
            "past_deadline": at > screen.due_at,
        },
        at=at,
    )
    return screen


def access_risk_screen(db: Session, client: Client, public_id: str) -> RiskScreen:
    screen = db.exec(
        select(RiskScreen).where(
            RiskScreen.public_id == public_id,
            RiskScreen.agency_id == client.agency_id,
            RiskScreen.client_id == client.id,
        )
    ).first()
    if screen is None:
        raise NotFound("risk screen")
    return screen


def for_client(db: Session, client: Client) -> list[RiskScreen]:
    return list(
        db.exec(
            select(RiskScreen)
            .where(RiskScreen.agency_id == client.agency_id, RiskScreen.client_id == client.id)
            .order_by(RiskScreen.identified_at.desc())
        ).all()
    )


@dataclass(frozen=True)
class HouseholdMemberInput:
    """A minor child or vulnerable family member as the risk-screen form names them
    (`portal.web.screening_forms` reads it): how they are related, how the team refers to
    them (never a name that identifies them outside the record), and their risk notes."""

    relation: HouseholdRelation
    label: str
    notes: str = ""


@dataclass(frozen=True)
class RiskNotesInput:
    """The risk screen's notes as the form gave them: the survivor's, and each household
    member's own by their public id (a member left out keeps what they have)."""

    survivor_notes: str
    person_notes: Mapping[str, str] = field(default_factory=dict)


def add_person(
    db: Session,
    screen: RiskScreen,
    *,
    given: HouseholdMemberInput,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> RiskScreenPerson:
    """A minor child or vulnerable family member the screen must cover. Until their own
    risk notes are recorded the screen is not complete."""
    relation = HouseholdRelation(given.relation).value
    person = RiskScreenPerson(
        risk_screen_id=screen.id,
        relation=relation,
        added_at=at,
        screened_at=at if given.notes else None,
        key_id="",
        content_sealed=b"",  # sealed below, for its row
    )
    db.add(person)
    db.flush()
    person.key_id, person.content_sealed = seal_record(
        db,
        screen.agency_id,
        keys,
        {"label": given.label, "notes": given.notes},
        place=_person_place(screen, person),
    )
    db.add(person)
    if not given.notes and screen.done_at is None:
        screen.screened_at = None  # someone new is not yet screened
        db.add(screen)
    record(
        db,
        AuditTag.RISK_SCREEN_PERSON_ADDED,
        agency_id=screen.agency_id,
        actor=actor,
        subject=db.get(Client, screen.client_id).public_id,
        detail={"risk_screen": screen.public_id, "relation": relation},
        at=at,
    )
    return person


def notes_fingerprint(db: Session, screen: RiskScreen, *, keys: KeyWrapper) -> str:
    """What the screen's notes say now, as a short digest: a form opened before a
    colleague's save carries the old one. Of what they say, not of their sealed bytes,
    which `portal keys reseal` changes without changing a word (a worker's save was then
    refused as if a colleague had saved since). The form carrying it shows the notes
    themselves to the same reader."""
    said = [
        open_record(
            db,
            screen.agency_id,
            keys,
            screen.key_id,
            screen.notes_sealed,
            place=_notes_place(screen),
        )
    ]
    for person in persons(db, screen):
        place = _person_place(screen, person)
        content = open_record(
            db, screen.agency_id, keys, person.key_id, person.content_sealed, place=place
        )
        said.append([person.public_id, content])
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()[:32]


def record_screen(
    db: Session,
    screen: RiskScreen,
    *,
    given: RiskNotesInput,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> RiskScreen:
    """Record the risk notes: the survivor's, and each household member's own (by public
    id). The screen counts as recorded once everyone it covers has notes."""
    if not given.survivor_notes:
        raise Invalid("survivor_notes", "A note of the survivor's risks is required.")
    people = persons(db, screen)
    screen.key_id, screen.notes_sealed = seal_record(
        db, screen.agency_id, keys, {"survivor": given.survivor_notes}, place=_notes_place(screen)
    )
    for person in people:
        notes = given.person_notes.get(person.public_id)
        if notes is None:
            continue
        place = _person_place(screen, person)
        content = open_record(
            db, screen.agency_id, keys, person.key_id, person.content_sealed, place=place
        )
        content["notes"] = notes
        person.key_id, person.content_sealed = seal_record(
            db, screen.agency_id, keys, content, place=place
        )
        person.screened_at = at if notes else None
        db.add(person)
    everyone = all(p.screened_at is not None for p in people)
    if everyone and screen.screened_at is None:
        screen.screened_at = at
        screen.screened_by_id = actor.id if actor else None
    elif not everyone and screen.done_at is None:
        screen.screened_at = None
    _maybe_done(screen)
    db.add(screen)
    record(
        db,
        AuditTag.RISK_SCREEN_RECORDED,
        agency_id=screen.agency_id,
        actor=actor,
        subject=db.get(Client, screen.client_id).public_id,
        detail={"risk_screen": screen.public_id, "complete": everyone},
        at=at,
    )
    return screen


def plan_recorded(db: Session, client: Client, *, at: datetime) -> None:
    """A safety-plan version was saved: the running clock has its first plan."""
    screen = open_clock(db, client)
    if screen is None or screen.first_plan_at is not None:
        return
    screen.first_plan_at = at
    _maybe_done(screen)
    db.add(screen)


def _maybe_done(screen: RiskScreen) -> None:
    if screen.done_at is None and screen.screened_at and screen.first_plan_at:
        screen.done_at = max(screen.screened_at, screen.first_plan_at)


def persons(db: Session, screen: RiskScreen) -> list[RiskScreenPerson]:
    return list(
        db.exec(
            select(RiskScreenPerson)
            .where(RiskScreenPerson.risk_screen_id == screen.id)
            .order_by(RiskScreenPerson.id)
        ).all()
    )


@dataclass(frozen=True)
class PersonView:
    public_id: str
    relation: str
    label: str
    notes: str
    screened_at: datetime | None


@dataclass(frozen=True)
class RiskScreenView:
    screen: RiskScreen
    status: str
    survivor_notes: str
    people: list[PersonView]


def view(db: Session, screen: RiskScreen, *, keys: KeyWrapper, now: datetime) -> RiskScreenView:
    """The owner's own view (the caller has checked the viewer may read the safety plan)."""
    notes = open_record(
        db, screen.agency_id, keys, screen.key_id, screen.notes_sealed, place=_notes_place(screen)
    )
    people = []
    for person in persons(db, screen):
        content = open_record(
            db,
            screen.agency_id,
            keys,
            person.key_id,
            person.content_sealed,
            place=_person_place(screen, person),
        )
        people.append(
            PersonView(
                person.public_id,
                HouseholdRelation(person.relation).label,
                content.get("label", ""),
                content.get("notes", ""),
                person.screened_at,
            )
        )
    return RiskScreenView(screen, status(screen, now), notes.get("survivor", ""), people)


@dataclass(frozen=True)
class ClockRow:
    public_id: str
    client_id: str
    client_reference: str
    identified_at: datetime
    due_at: datetime
    status: str
    screened: bool
    planned: bool

    def due_local(self, tz: ZoneInfo) -> datetime:
        return self.due_at.astimezone(tz)


@dataclass(frozen=True)
class ClockCounts:
    running: int
    due: int  # past the first 24 hours, deadline not passed
    overdue: int
    due_today: int  # deadline falls on today's date in the MDT's zone, not yet passed


def _day_bounds(today: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(today, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start, end


def counts(db: Session, agency_id: int, *, now: datetime, tz: ZoneInfo) -> ClockCounts:
    running = (
        RiskScreen.agency_id == agency_id,
        RiskScreen.done_at.is_(None),
        RiskScreen.stopped_at.is_(None),
    )

    def count(*more):
        return select(func.count()).where(*running, *more).scalar_subquery()

    start, end = _day_bounds(now.astimezone(tz).date(), tz)
    total, overdue, today_ = db.exec(
        select(
            count(),
            count(RiskScreen.due_at < now),
            count(RiskScreen.due_at >= now, RiskScreen.due_at >= start, RiskScreen.due_at < end),
        )
    ).one()
    # Past the first mark: identified at least 24 h ago (or the whole window, if shorter).
    mark = now - timedelta(hours=FIRST_MARK_HOURS)
    due = db.exec(
        select(func.count()).where(
            *running,
            RiskScreen.due_at >= now,
            (RiskScreen.identified_at <= mark) | (RiskScreen.window_hours <= FIRST_MARK_HOURS),
        )
    ).one()
    return ClockCounts(total, due, overdue, today_)


def running_rows(db: Session, agency_id: int, *, now: datetime, limit: int = 25) -> list[ClockRow]:
    """The agency's running clocks, nearest deadline first (overdue at the top)."""
    rows = db.exec(
        select(RiskScreen, Client.public_id, Client.reference)
        .join(Client, Client.id == RiskScreen.client_id)
        .where(
            RiskScreen.agency_id == agency_id,
            RiskScreen.done_at.is_(None),
            RiskScreen.stopped_at.is_(None),
        )
        .order_by(RiskScreen.due_at, RiskScreen.id)
        .limit(limit)
    ).all()
    return [
        ClockRow(
            screen.public_id,
            client_pid,
            reference,
            screen.identified_at,
            screen.due_at,
            status(screen, now),
            screen.screened_at is not None,
            screen.first_plan_at is not None,
        )
        for screen, client_pid, reference in rows
    ]


def require_running(screen: RiskScreen) -> None:
    if screen.stopped_at is not None:
        raise Invalid(
            "risk_screen",
            "This risk screen stopped: the screening that started it no longer shows a clear "
            "concern.",
        )
    if screen.done_at is not None:
        raise Invalid("risk_screen", "This risk screen is done; start from a new screening.")
