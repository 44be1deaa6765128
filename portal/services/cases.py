"""MDT cases: opening at intake, pseudonymous references, links to agencies' clients."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from portal.audit import AuditTag, lock_logs, record
from portal.auth.sessions import Viewer
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    CaseLink,
    CaseStatus,
    Client,
    MdtCase,
    ReferralSource,
    StaffUser,
)
from portal.models.workflow import (
    AgendaItem,
    CaseEventKind,
    Meeting,
    MeetingInvite,
    MeetingStatus,
)
from portal.services import case_history, convening, validation, visibility
from portal.services.visibility import caseload_holder

# No 0/O, 1/I/L: read aloud in a meeting or copied by hand, a reference stays one reference.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6  # 31^6 ≈ 887 million per year: a guess finds nothing, tries are few


def next_reference(db: Session, year: int, *, choose: Callable[[str], str] = secrets.choice) -> str:
    """A random reference, checked unique: a number counting up would tell every agency
    that a case it cannot see was opened in between (issue 12)."""
    prefix = f"MDT-{year}-"
    for _ in range(20):
        reference = prefix + "".join(choose(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        taken = db.exec(select(MdtCase.id).where(MdtCase.reference == reference)).first()
        if taken is None:
            return reference
    raise Conflict("intake_date", "No free case reference was found; try again.")


def open_case(
    db: Session,
    coordinating_agency: Agency,
    *,
    intake_date: object,
    referral_source: object,
    actor: Actor,
    at: datetime,
    today: date,
    window_days: int = 14,
    agencies: list[Agency] | None = None,
) -> MdtCase:
    """Open the case at intake; `agencies` are invited and each confirms its own link."""
    values = validation.collect(
        intake_date=lambda: validation.iso_date(intake_date, "intake_date"),
        referral_source=lambda: validation.choice(
            referral_source, "referral_source", ReferralSource
        ),
    )
    if values["intake_date"] > today:
        raise Invalid("intake_date", "The intake date cannot be in the future.")
    if values["intake_date"] < today - timedelta(days=3650):
        raise Invalid("intake_date", "The intake date is more than ten years ago.")
    case = MdtCase(
        reference=next_reference(db, values["intake_date"].year),
        coordinating_agency_id=coordinating_agency.id,
        intake_date=values["intake_date"],
        referral_source=values["referral_source"],
        status=CaseStatus.OPEN,
        created_at=at,
        created_by_id=actor.id if actor else None,
        convening_due=convening_deadline(values["intake_date"], window_days),
    )
    db.add(case)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("intake_date", "Another case took this reference; try again.") from None
    record(
        db,
        AuditTag.CASE_OPENED,
        agency_id=coordinating_agency.id,
        actor=actor,
        subject=case.reference,
        detail={"referral_source": case.referral_source},
        at=at,
    )
    case_history.note(db, case, CaseEventKind.OPENED, actor=actor, at=at)
    convening.count_opened(db, case)
    for agency in agencies or ():
        if agency.id != coordinating_agency.id:
            link_client(db, case, agency, None, actor=actor, at=at)
            # In the history as an agency added later is (case_history.told decides who
            # may read its name): the packet's timeline says who was asked in, and when.
            case_history.note(
                db, case, CaseEventKind.AGENCY_ADDED, actor=actor, at=at, reason=agency.name
            )
    return case


def convening_deadline(intake_date: date, window_days: int) -> date:
    """The MDT should convene by this calendar date: intake + the window, in days."""
    return intake_date + timedelta(days=window_days)


def link_client(
    db: Session,
    case: MdtCase,
    agency: Agency,
    client: Client | None,
    *,
    actor: Actor,
    at: datetime,
    confirmed: bool = False,
) -> CaseLink:
    if client is not None and client.agency_id != agency.id:
        raise Invalid("client", "A link names the agency's own client record.")
    # The log this link is written to, held before the check: the same agency added twice
    # at once is one link and a 409, not a clash on the unique key (a 500).
    lock_logs(db, [case.coordinating_agency_id])
    if db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
    ).first():
        raise Conflict("agency", "This agency is already part of the case.")
    link = CaseLink(
        case_id=case.id, agency_id=agency.id, client_id=getattr(client, "id", None), linked_at=at
    )
    if confirmed:
        link.confirmed_at = at
        link.confirmed_by_id = actor.id if actor else None
    db.add(link)
    db.flush()
    record(
        db,
        AuditTag.CASE_LINKED,
        agency_id=case.coordinating_agency_id,
        actor=actor,
        subject=case.reference,
        detail={"agency": agency.public_id},
        at=at,
    )
    _invite_to_coming_meetings(db, case, agency)
    return link


def _invite_to_coming_meetings(db: Session, case: MdtCase, agency: Agency) -> None:
    """An agency joining a case (added by the coordinator, a mentor program assigned, an
    owner elsewhere asked) is invited to the meetings still to come that have it on their
    agenda, as every agency of the case was when it was put there."""
    coming = db.exec(
        select(Meeting.id)
        .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
        .where(AgendaItem.case_id == case.id, Meeting.status == MeetingStatus.SCHEDULED)
    ).all()
    for meeting_id in sorted(set(coming)):
        invite(db, meeting_id, agency.id)


def invite(db: Session, meeting_id: int, agency_id: int) -> None:
    """Invite the agency to a meeting for a case of its on the agenda, unless it is invited
    already. An invitation ended earlier (`meetings._invitations_ended`) is taken up again,
    and the meeting's calendar event moves on, so calendars that hold it as cancelled for
    the agency replace it."""
    known = db.exec(
        select(MeetingInvite).where(
            MeetingInvite.meeting_id == meeting_id, MeetingInvite.agency_id == agency_id
        )
    ).first()
    if known is None:
        db.add(MeetingInvite(meeting_id=meeting_id, agency_id=agency_id))
    elif known.ended_at is not None:
        known.ended_at = known.ended_starts_at = known.ended_sequence = None
        db.add(known)
        meeting = db.get(Meeting, meeting_id)
        meeting.sequence += 1
        db.add(meeting)


@dataclass(frozen=True)
class CaseRow:
    public_id: str
    reference: str
    intake_date: date
    convening_due: date
    status: str
    referral_source: str
    first_mdt_date: date | None = None  # a case convened in time is not overdue


def case_row(case: MdtCase, *, window_days: int) -> CaseRow:
    return CaseRow(
        case.public_id,
        case.reference,
        case.intake_date,
        case.convening_due or case.intake_date + timedelta(days=window_days),
        case.status,
        case.referral_source,
        case.first_mdt_date,
    )


def cases_for_agency(
    db: Session,
    agency: Agency,
    *,
    window_days: int,
    limit: int = 50,
    offset: int = 0,
    holder: StaffUser | None = None,
) -> list[CaseRow]:
    """Cases the agency takes part in (coordinating or linked), filtered in SQL; with
    `holder`, only those that mentor currently holds.

    Two index-ordered halves (coordinated, linked), each cut to the page, then merged:
    an OR across the two would make the database read every case to sort them.
    """
    order = (MdtCase.intake_date.desc(), MdtCase.reference.desc())
    columns = (
        MdtCase.public_id,
        MdtCase.reference,
        MdtCase.intake_date,
        MdtCase.convening_due,
        MdtCase.status,
        MdtCase.referral_source,
        MdtCase.first_mdt_date,
    )
    held = () if holder is None else (visibility.held_by(holder.id),)
    coordinated = db.exec(
        select(*columns)
        .where(visibility.coordinated_by(agency.id), *held)
        .order_by(*order)
        .limit(offset + limit)
    ).all()
    linked = db.exec(
        select(*columns)
        .join(CaseLink, CaseLink.case_id == MdtCase.id)
        .where(CaseLink.agency_id == agency.id, ~visibility.coordinated_by(agency.id), *held)
        .order_by(*order)
        .limit(offset + limit)
    ).all()
    rows = sorted([*coordinated, *linked], key=lambda r: (r[2], r[1]), reverse=True)[
        offset : offset + limit
    ]
    return [
        CaseRow(
            public_id,
            reference,
            intake,
            due or intake + timedelta(days=window_days),
            status,
            source,
            first_mdt,
        )
        for public_id, reference, intake, due, status, source, first_mdt in rows
    ]


def count_cases_for_agency(
    db: Session, agency: Agency, *, cap: int | None = None, holder: StaffUser | None = None
) -> int:
    """How many cases the agency takes part in (with `holder`, that mentor holds); with
    `cap`, counted no further than that (a dashboard says "1000+" and stays as quick with
    a hundred thousand cases)."""
    held = () if holder is None else (visibility.held_by(holder.id),)
    coordinated = select(MdtCase.id).where(visibility.coordinated_by(agency.id), *held)
    linked = (
        select(CaseLink.id)
        .join(MdtCase, MdtCase.id == CaseLink.case_id)
        .where(CaseLink.agency_id == agency.id, ~visibility.coordinated_by(agency.id), *held)
    )
    total = 0
    for query in (coordinated, linked):
        if cap is not None:
            query = query.limit(cap - total)
        total += db.exec(select(func.count()).select_from(query.subquery())).one()
        if cap is not None and total >= cap:
            break
    return total


# Built once: every case page runs it. A case the agency coordinates or is linked to:
# the link is looked up for this one case (EXISTS), never listed for the whole agency, so
# a partner linked to thousands of cases opens each as fast as one linked to a few.
_CASE_OF_AGENCY = select(MdtCase).where(
    MdtCase.public_id == bindparam("case"),
    visibility.case_visible_to(bindparam("agency")),
)
_CASE_HELD = _CASE_OF_AGENCY.where(visibility.held_by(bindparam("holder")))


def access_case(
    db: Session, agency: Agency, public_id: str, *, holder: StaffUser | None = None
) -> MdtCase:
    """A case the agency takes part in; with `holder`, only one that mentor currently
    holds. Any other answers 404, as a case that does not exist."""
    params = {"case": public_id, "agency": agency.id}
    if holder is not None:
        params["holder"] = holder.id
    case = db.exec(_CASE_OF_AGENCY if holder is None else _CASE_HELD, params=params).first()
    if case is None:
        raise NotFound("case")
    return case


def case_for(db: Session, viewer: Viewer, public_id: str) -> MdtCase:
    """A case a signed-in person opens: their agency takes part in it, and a viewer who
    reads cases only as a survivor-mentor holds it. Every page and API operation that
    opens a case by its id loads it here (a test holds the handlers to it)."""
    return access_case(db, viewer.agency, public_id, holder=caseload_holder(viewer))
