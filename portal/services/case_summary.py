"""The case summary: which agencies take part, the timeline, and each owner's block.

This is the requester's side. Every section in an owner's block is decided by that
owner's disclosure point (`portal.disclosure.answer`, which writes the owner's log); what
came back is then receipted in the requester agency's own log (`portal.disclosure.receipt`).
This module never reads a section itself.

The summary page decides the owners' blocks in its own response while its time budget
lasts (one round trip, and the page works without JavaScript); an owner it has not reached
by then is left to load on its own (htmx). A slow owner delays the page by its own time at
most once: the budget is spent, and every owner after it loads on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlmodel import Session, select

from portal import hosting
from portal.audit import lock_logs
from portal.crypto import KeyWrapper
from portal.db import at_commit
from portal.disclosure import Decision, RequestCache, answer, receipt
from portal.disclosure.cache import note_agencies
from portal.disclosure.point import logs_relied_on, prefetch
from portal.models import Agency, CaseLink, MdtCase, Node
from portal.models.workflow import MeetingStatus
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import case_history, case_records, meetings

# The case's first day, in the words of every timeline that shows it (summary, packet).
INTAKE = "Intake (abuse report received)"


@dataclass(frozen=True)
class Participant:
    agency: Agency
    coordinating: bool
    confirmed: bool


@dataclass(frozen=True)
class TimelineItem:
    on: date
    what: str
    state: str = ""  # for meetings: held | upcoming | cancelled | not marked held


def meeting_state(status: str, on: date, today: date) -> str:
    if status == MeetingStatus.HELD:
        return "held"
    if status == MeetingStatus.CANCELLED:
        return "cancelled"
    return "upcoming" if on >= today else "not marked held"


@dataclass(frozen=True)
class Overview:
    case: MdtCase
    participants: list[Participant]
    timeline: list[TimelineItem]


def participants(db: Session, case: MdtCase) -> list[Participant]:
    """The agencies on the case. Each one's node is read with it, and both are noted for
    this transaction: the page's disclosure point then reads neither again."""
    rows = db.exec(
        select(Agency, CaseLink, Node.is_local)
        .join(CaseLink, CaseLink.agency_id == Agency.id)
        .outerjoin(Node, Node.id == Agency.node_id)
        .where(CaseLink.case_id == case.id)
        .order_by(Agency.name)
    ).all()
    note_agencies(db, [agency for agency, _link, _here in rows])
    hosting.note_hosts(db, {agency.node_id: bool(here) for agency, _link, here in rows})
    found = [
        Participant(agency, agency.id == case.coordinating_agency_id, link.confirmed_at is not None)
        for agency, link, _here in rows
    ]
    if not any(p.coordinating for p in found):
        coordinating = db.get(Agency, case.coordinating_agency_id)
        found.insert(0, Participant(coordinating, True, True))
    return found


def overview(db: Session, case: MdtCase, *, window_days: int, today: date) -> Overview:
    """The agencies on the case and its timeline."""
    return Overview(
        case,
        participants(db, case),
        timeline(db, case, window_days=window_days, today=today),
    )


def timeline(
    db: Session,
    case: MdtCase,
    *,
    window_days: int,
    today: date,
    events: Iterable[TimelineItem] = (),
) -> list[TimelineItem]:
    """The case's days, oldest first: intake, the convening deadline, the first MDT, every
    meeting the case is on (dates and states only, from the workflow: minutes are a section
    of their own) and the `events` a page adds (the packet: the case's history). Every page
    that shows a timeline takes it from here, so each reads in date order, in one set of
    words."""
    due = case.convening_due or case.intake_date + timedelta(days=window_days)
    items = [
        TimelineItem(case.intake_date, INTAKE),
        TimelineItem(due, f"MDT convening due (intake + {(due - case.intake_date).days} days)"),
    ]
    if case.first_mdt_date is not None:
        late = " — after the deadline" if case.first_mdt_date > due else ""
        items.append(TimelineItem(case.first_mdt_date, f"First MDT review{late}"))
    for meeting, item in meetings.case_meetings(db, case):
        state = meeting_state(meeting.status, meeting.meeting_date, today)
        reviewed = ", case reviewed" if item.reviewed_at else ""
        items.append(TimelineItem(meeting.meeting_date, f"MDT meeting ({state}{reviewed})", state))
    items.extend(events)
    # Stable: on one day, intake and the meeting come before what was noted at them.
    items.sort(key=lambda entry: entry.on)
    return items


def history_items(rows: Iterable[case_history.HistoryRow], tz: tzinfo) -> list[TimelineItem]:
    """The case's history for a timeline: each event on its calendar date in the MDT's zone
    (stored in UTC; SQLite hands some back naive)."""

    def on(at: datetime) -> date:
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(tz).date()

    return [TimelineItem(on(row.at), row.what) for row in rows]


def owner_block(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache | None = None,
    between: Callable[[], None] | None = None,
) -> list[Decision]:
    """One owner's block on its own (the htmx fragment): the owner's answer, then its
    receipt. One decision per catalogue section the owner could contribute, whether or
    not it holds anything: so a placeholder never tells that data exists.

    `between` runs after the owner's side is written and before the requester's: a page
    commits the owner's transaction there, as the network does for an owner elsewhere.
    None: both sides in the caller's one transaction (tests, the demo seed, benchmarks)."""
    cache = RequestCache() if cache is None else cache
    requester_agency = cache.agency(db, requester.agency)
    sections = _sections_of(owner)
    if between is None:  # both logs in one transaction: locked now, in the fixed order
        relied_on = logs_relied_on(db, case, sections, at=at, keys=keys, cache=cache)
        lock_logs(db, [owner.id, requester_agency.id, *relied_on])
    decisions = answer(db, requester, case, owner, sections, at=at, tz=tz, keys=keys, cache=cache)

    def receipted() -> None:
        receipt.record_received(
            db,
            requester,
            case_ref=case.reference,
            owner=owner,
            decisions=decisions,
            at=at,
            agency_id=requester_agency.id,
        )

    if between is None:
        receipted()
    else:
        between()
        at_commit(db, receipted)  # the requester's log: locked for its append and commit only
    return decisions


def _sections_of(owner: Agency) -> list:
    return list(catalogue().for_discipline(owner.discipline))


def record_asks(case: MdtCase, owners: list[Agency]) -> list[case_records.Ask]:
    """The MDT records among these owners' blocks (the coordinator's minutes), each asked
    of the nodes of survivors served elsewhere before the owner's point answers."""
    return [
        case_records.Ask(case, owner, section.key)
        for owner in owners
        for section in _sections_of(owner)
        if section.of_case
    ]


@dataclass(frozen=True)
class OwnerBlock:
    participant: Participant
    decisions: list[Decision] | None  # None: not decided here, the block loads on its own


def page_blocks(
    db: Session,
    requester: Requester,
    case: MdtCase,
    found: list[Participant],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    budget_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    between: Callable[[], None] | None = None,
    cache: RequestCache | None = None,
) -> list[OwnerBlock]:
    """The owners' blocks for the summary page: decided in order while `budget_seconds`
    last, counted from the first; every owner after that is left undecided (and nothing
    is written to its log), for the page to load on its own.

    Each owner's answer goes to its own log; the receipts of what came back go to the
    requester agency's log after every answer is in, and after `between` (see
    `owner_block`). `cache`: this request's (what nodes elsewhere answered for it, as in
    `case_records.decide`)."""
    cache = RequestCache() if cache is None else cache  # this request's reads only
    deadline = clock() + budget_seconds
    requester_agency = cache.agency(db, requester.agency)
    # Nothing is locked while the blocks are decided: the logs are locked (in the one fixed
    # order, so two pages can never deadlock) by the appends at the end, and held from
    # there to the commit only.
    prefetch(db, requester, case, [p.agency for p in found], at=at, keys=keys, cache=cache)
    blocks, owners_entries, receipts = [], [], []
    for participant in found:
        decisions = None
        if clock() < deadline:
            owner = participant.agency
            decisions = answer(
                db,
                requester,
                case,
                owner,
                _sections_of(owner),
                at=at,
                tz=tz,
                keys=keys,
                cache=cache,
                entries_into=owners_entries,
            )
            receipts.extend(
                receipt.received_entries(
                    requester,
                    case_ref=case.reference,
                    owner_ref=owner.public_id,
                    decisions=decisions,
                    at=at,
                    agency_id=requester_agency.id,
                )
            )
        blocks.append(OwnerBlock(participant, decisions))
    case_records.write_sides(db, owners_entries, receipts, between=between)
    return blocks
