"""The workflow side of an MDT case: who takes part, link confirmation, close and reopen,
and review cadence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

import consent
from portal.audit import (
    AuditActor,
    AuditTag,
    DisclosureFacts,
    effective_after_disclosures,
    lock_logs,
    record,
)
from portal.crypto import KeyWrapper
from portal.db import hold_write_lock
from portal.disclosure import consent_gate
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    AgencyKind,
    CaseLink,
    CaseStatus,
    Client,
    MdtCase,
    MentorAssignment,
    StaffUser,
)
from portal.models.workflow import (
    CaseEventKind,
)
from portal.services import case_history, cases, convening, validation, visibility
from portal.services.clients import lock_client, lock_clients


def participates(agency_id: int) -> ColumnElement[bool]:
    """SQL: the agency coordinates the case or is linked to it (see `visibility`)."""
    return visibility.case_visible_to(agency_id)


def is_participant(db: Session, case: MdtCase, agency_id: int) -> bool:
    """The same predicate, asked of one case in SQL."""
    found = select(MdtCase.id).where(MdtCase.id == case.id, participates(agency_id))
    return db.exec(found).first() is not None


def access_coordinated_case(db: Session, agency: Agency, public_id: str) -> MdtCase:
    """Only the coordinating agency changes the case itself; others get the same 404."""
    case = cases.access_case(db, agency, public_id)
    if case.coordinating_agency_id != agency.id:
        raise NotFound("case")
    return case


def _reason(value: object) -> str:
    return validation.text(
        value,
        "reason",
        max_length=500,
        label="The reason",
        # "Reason is required." told no one what a reason is for.
        missing="Say why, in a few words: it is kept in the case's history.",
    )


def held_case(db: Session, case: MdtCase) -> MdtCase:
    """The case as it is now, held to this transaction's end: a close, reopening or first
    review of it at the same moment waits and then sees this one, so the convening
    tallies count each change once. On SQLite FOR UPDATE is not rendered: the writers'
    lock is taken before the read instead."""
    hold_write_lock(db)
    return db.exec(
        select(MdtCase)
        .where(MdtCase.id == case.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def held_cases(db: Session, case_ids) -> None:
    """`held_case` for several cases (`case_ids`: their ids, or a query of them), held in
    ascending order by one query, so that two transactions holding some of the same cases
    wait for each other rather than deadlock. Taken before any of the cases' logs."""
    hold_write_lock(db)
    db.exec(
        select(MdtCase)
        .where(MdtCase.id.in_(case_ids))
        .order_by(MdtCase.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def open_for_writes(db: Session, case: MdtCase, *, field: str, closed: str) -> MdtCase:
    """The case as it is now, held (see `held_case`), if it is open. A closed case is a
    record kept: what it gains now (an agency, a client linked, a task, a mentor, an
    accompaniment) would reach no caseload, list or meeting, and could widen who is told
    of a survivor after the MDT stopped working for them. `closed`: the sentence that
    says so to the person asking, beside `field`; nothing is written."""
    case = held_case(db, case)
    if case.status != CaseStatus.OPEN:
        raise Conflict(field, closed)
    return case


ALREADY_CLOSED = "The case is already closed."


def close_case(
    db: Session, case: MdtCase, *, reason: object, actor: Actor, at: datetime, today: date
) -> None:
    """Close the case on `today` (the MDT's calendar date): closed before its first MDT
    and by its deadline, it leaves the convening rate (see convening.count_closed)."""
    why = _reason(reason)
    case = held_case(db, case)
    if case.status == CaseStatus.CLOSED:
        raise Conflict("reason", ALREADY_CLOSED)
    case.status = CaseStatus.CLOSED
    convening.count_closed(db, case, on=today)
    case_history.note(db, case, CaseEventKind.CLOSED, actor=actor, at=at, reason=why)
    record(
        db,
        AuditTag.CASE_CLOSED,
        agency_id=case.coordinating_agency_id,
        actor=actor,
        subject=case.reference,
        at=at,
    )


def reopen_case(db: Session, case: MdtCase, *, reason: object, actor: Actor, at: datetime) -> None:
    why = _reason(reason)
    case = held_case(db, case)
    if case.status == CaseStatus.OPEN:
        raise Conflict("reason", "The case is already open.")
    _refuse_duplicate_clients(db, case)
    case.status = CaseStatus.OPEN
    convening.count_reopened(db, case)
    case_history.note(db, case, CaseEventKind.REOPENED, actor=actor, at=at, reason=why)
    record(
        db,
        AuditTag.CASE_REOPENED,
        agency_id=case.coordinating_agency_id,
        actor=actor,
        subject=case.reference,
        at=at,
    )


def _refuse_duplicate_clients(db: Session, case: MdtCase) -> None:
    own = select(CaseLink.client_id).where(
        CaseLink.case_id == case.id, CaseLink.client_id.is_not(None)
    )
    # Held to this transaction's end: another case of one of these clients reopened (or
    # linked) at the same moment waits for this one, then finds it open.
    lock_clients(db, db.exec(own).all())
    # Aliased: `participates` looks up CaseLink itself, for the clashing case.
    link = aliased(CaseLink)
    clashes = (
        select(MdtCase.reference)
        .join(link, link.case_id == MdtCase.id)
        .join(Agency, Agency.id == link.agency_id)
        .where(
            link.client_id.in_(own),
            MdtCase.id != case.id,
            MdtCase.status == CaseStatus.OPEN,
        )
    )
    # Only the coordinator reopens, so its agency is the one the answer is told to. Naming
    # the other case tells that the clashing client's agency serves the survivor there: it
    # is named only where that is no community-based agency's own to tell (the agency is
    # system-based, the coordinator's own, or the other case's coordinator).
    coordinator = case.coordinating_agency_id
    seen = db.exec(
        clashes.where(
            participates(coordinator),
            (Agency.kind == AgencyKind.SYSTEM)
            | (Agency.id == coordinator)
            | (Agency.id == MdtCase.coordinating_agency_id),
        )
    ).first()
    if seen:
        raise Conflict("reason", f"A client of this case is already in open case {seen}.")
    # A case the coordinator takes no part in stays unnamed: its reference, tied to this
    # case's survivor, would tell which agencies serve them there (fact of service).
    if db.exec(clashes).first():
        raise Conflict(
            "reason",
            "A survivor on this case is already in another open case, so this one can be "
            "reopened only once that one is closed. The agencies on this case may tell you "
            "more from their side.",
        )


def add_agency(
    db: Session, case: MdtCase, agency_public_id: object, *, actor: Actor, at: datetime
) -> CaseLink:
    agency = db.exec(
        select(Agency).where(Agency.public_id == str(agency_public_id), Agency.is_active)
    ).first()
    if agency is None:
        raise Invalid("agency", "Choose an agency from the list.")
    if agency.id == case.coordinating_agency_id:
        raise Conflict("agency", "The coordinating agency is already part of the case.")
    case = open_for_writes(
        db, case, field="agency", closed="The case is closed; reopen it to add an agency."
    )
    link = cases.link_client(db, case, agency, None, actor=actor, at=at)
    case_history.note(db, case, CaseEventKind.AGENCY_ADDED, actor=actor, at=at, reason=agency.name)
    return link


def own_link(db: Session, case: MdtCase, agency: Agency) -> CaseLink | None:
    return db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
    ).first()


def held_link(db: Session, case: MdtCase, agency: Agency) -> CaseLink | None:
    """The agency's link to the case as it is now, held to this transaction's end (on
    SQLite the writers' lock, taken before the read): a confirmation or withdrawal of it
    at the same moment waits, then sees this one, so one link names one client once."""
    hold_write_lock(db)
    return db.exec(
        select(CaseLink)
        .where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def unconfirm(db: Session, link: CaseLink, *, at: datetime) -> None:
    """The link names no client any more (withdrawn): the row stays, the history of it.
    A client taken off a case a mentor was ever assigned to leaves the intake of the
    survivor-mentor who registered them for good (`visibility.client_held_by`): the link
    was what said so."""
    client = db.get(Client, link.client_id) if link.client_id is not None else None
    if client is not None and client.intake_ended_at is None and _ever_mentored(db, link):
        client.intake_ended_at = at
        db.add(client)
    link.client_id, link.release_ref, link.confirmed_at, link.confirmed_by_id = (
        None,
        None,
        None,
        None,
    )
    db.add(link)


def _ever_mentored(db: Session, link: CaseLink) -> bool:
    return (
        db.exec(select(MentorAssignment.id).where(MentorAssignment.case_id == link.case_id)).first()
        is not None
    )


def confirm_link(
    db: Session,
    case: MdtCase,
    agency: Agency,
    *,
    client_reference: object,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
    holder: StaffUser | None = None,
) -> CaseLink:
    """The agency names its own client record for the case, from its own side. With
    `holder` (a viewer who reads only as a survivor-mentor), only a client they may open:
    a reference typed must not bring another mentor's survivor into their caseload."""
    reference = validation.text(
        client_reference, "client_reference", max_length=40, label="Your client reference"
    )
    # The case held before the link, as a close or reopening holds it: one order of locks.
    case = open_for_writes(
        db,
        case,
        field="client_reference",
        closed="The case is closed; your agency can confirm its client once the coordinator "
        "reopens it.",
    )
    link = held_link(db, case, agency)
    if link is None:
        raise NotFound("case")
    if link.confirmed_at is not None:
        raise Conflict(
            "client_reference",
            "Your agency's client on this case is already confirmed. If it is the wrong "
            "client, withdraw your agency's link first, then confirm the right one.",
        )
    found = db.exec(
        select(Client).where(
            Client.agency_id == agency.id,
            Client.reference == reference,
            *(() if holder is None else (visibility.client_held_by(holder.id),)),
        )
    ).all()
    if not found:
        raise Invalid(
            "client_reference",
            "Your agency has no client with this reference."
            if holder is None
            else "You have no client with this reference: link one you registered, or ask "
            "your lead to confirm the link.",
        )
    if len(found) > 1:  # registered before references were kept apart: never a guess
        raise Conflict(
            "client_reference",
            f"{len(found)} of your agency's clients have this reference; give each its own "
            "before linking.",
        )
    (client,) = found
    lock_client(db, client)  # as for reopening: one open case per client, even at once
    clash = db.exec(
        select(MdtCase.reference)
        .join(CaseLink, CaseLink.case_id == MdtCase.id)
        .where(
            CaseLink.client_id == client.id,
            MdtCase.id != case.id,
            MdtCase.status == CaseStatus.OPEN,
        )
    ).first()
    if clash:
        raise Conflict("client_reference", f"This client is already linked to open case {clash}.")
    joined_under = None
    if agency.id != case.coordinating_agency_id:
        coordinating = db.get(Agency, case.coordinating_agency_id)
        joined_under = consent_gate.joining_release(
            db,
            owner=agency,
            client_id=client.id,
            coordinating=coordinating,
            purpose=consent.Purpose.MDT_CASE_REVIEW.value,
            at=at,
            keys=keys,
        )
        if joined_under is None:  # one door (issue 14): the survivor agrees to join first
            raise Invalid(
                "client_reference",
                f"This client has no release in effect that names {coordinating.name} for "
                "MDT case review. Record and sign one with the client first, then confirm.",
            )
    link.client_id = client.id
    link.release_ref = joined_under
    link.confirmed_at = at
    link.confirmed_by_id = actor.id if actor else None
    db.add(link)
    case_history.note(
        db, case, CaseEventKind.LINK_CONFIRMED, actor=actor, at=at, reason=agency.name
    )
    coordinating_ref = db.get(Agency, case.coordinating_agency_id).public_id
    record(
        db,
        AuditTag.CASE_LINK_CONFIRMED,
        agency_id=agency.id,
        actor=actor,
        subject=case.reference,
        detail={"client": client.public_id, "release": joined_under}
        | ({"recipient": coordinating_ref} if joined_under else {}),
        at=at,
        # Confirmed on a case another agency coordinates, it tells that agency that this
        # one serves the survivor: a disclosure of the client, in their accounting.
        disclosure=told_coordinator(case, client, joined_under) if joined_under else None,
    )
    return link


def told_coordinator(
    case: MdtCase, client: Client, release_ref: str, *, viewer_role: str | None = None
) -> DisclosureFacts:
    """What an agency's confirmation of its client on a case another agency coordinates
    discloses: to that agency, that it serves this survivor and that they are on the case
    (the `participation` section; the fact of service is protected for a community-based
    agency), for MDT case review under the survivor's joining release. The entry's detail
    names the coordinating agency as `recipient`: the survivor's accounting lists it."""
    return DisclosureFacts(
        case_ref=case.reference,
        client_ref=client.public_id,
        section_key="participation",
        purpose=consent.Purpose.MDT_CASE_REVIEW.value,
        decision="released",
        release_ref=release_ref,
        viewer_role=viewer_role,
    )


WITHDRAWAL_REASONS = {
    "wrong_client": "The wrong client was confirmed for this case",
    "left_the_case": "This client no longer takes part in this case",
}


def withdraw_link(
    db: Session, case: MdtCase, agency: Agency, *, reason: object, actor: Actor, at: datetime
) -> CaseLink:
    """The agency takes its client record back off the case (the wrong client confirmed,
    or the client no longer in the case): from now on nothing of that client is disclosed
    for the case, until the agency confirms a client again. Its reason stays in the
    agency's own log; the case's history says only that the agency withdrew its record.
    The reason is one of WITHDRAWAL_REASONS: a log entry holds no words typed about a
    survivor."""
    if reason not in WITHDRAWAL_REASONS:
        raise Invalid("reason", "Choose why your agency withdraws its client record.")
    # Held: a withdrawal and a confirmation (or another withdrawal) at once take turns.
    link = held_link(db, case, agency)
    if link is None:
        raise NotFound("case")
    if link.confirmed_at is None or link.client_id is None:
        raise Conflict("reason", "Your agency has no client confirmed on this case.")
    client = db.get(Client, link.client_id)
    # The agency's log held from here (after the link: `lock_order`): a page that read the
    # link before and logs after reads it again there (`disclosure.case_links`); one that
    # logged first is logged before the withdrawal, which takes effect just after it.
    lock_logs(db, [agency.id])
    at = effective_after_disclosures(db, agency.id, client_ref=client.public_id, at=at)
    note_withdrawn(
        db,
        case,
        link,
        agency,
        log_of=agency.id,
        actor=actor,
        noted_by=actor,
        detail={"client": client.public_id, "reason": reason},
        at=at,
    )
    return link


# What a withdrawal's log entry says: references and codes (the client's or the agency's
# public id, a reason from WITHDRAWAL_REASONS, a node), never words typed about a survivor.
WithdrawalFacts = dict[str, str | None]


def note_withdrawn(
    db: Session,
    case: MdtCase,
    link: CaseLink,
    agency: Agency,
    *,
    log_of: int | None,
    actor: AuditActor,
    noted_by: Actor | None,
    detail: WithdrawalFacts,
    at: datetime,
) -> None:
    """The agency's link withdrawn, wherever it was decided (its staff here, the case's
    reopening on its node, its node's notice to the coordinator's): the link names no
    client any more, the case's history says the agency withdrew its record (`noted_by`:
    the staff member, or no one for a node), and the log of `log_of` says who and why."""
    unconfirm(db, link, at=at)
    case_history.note(
        db, case, CaseEventKind.LINK_WITHDRAWN, actor=noted_by, at=at, reason=agency.name
    )
    record(
        db,
        AuditTag.CASE_LINK_WITHDRAWN,
        agency_id=log_of,
        actor=actor,
        subject=case.reference,
        detail=detail,
        at=at,
    )


def set_cadence(
    db: Session, case: MdtCase, every_days: object, *, actor: Actor, at: datetime, today: date
) -> None:
    raw = str(every_days or "").strip()
    if raw in ("", "0"):
        days = None
    else:
        try:
            days = int(raw)
        except ValueError:
            raise Invalid("review_every_days", "Give the number of days, e.g. 30.") from None
        if not 7 <= days <= 365:
            raise Invalid("review_every_days", "Choose between 7 and 365 days.")
    case = open_for_writes(
        db,
        case,
        field="review_every_days",
        closed="The case is closed; reopen it to set its review cadence.",
    )
    case.review_every_days = days
    case.next_review_date = next_review(case, today=today)
    db.add(case)
    case_history.note(
        db, case, CaseEventKind.CADENCE_SET, actor=actor, at=at, reason=f"{days or 'no'} days"
    )
    record(
        db,
        AuditTag.CASE_CADENCE_SET,
        agency_id=case.coordinating_agency_id,
        actor=actor,
        subject=case.reference,
        detail={"every_days": days},
        at=at,
    )


def next_review(case: MdtCase, *, today: date) -> date | None:
    if not case.review_every_days:
        return None
    base = case.last_review_date or today
    return base + timedelta(days=case.review_every_days)


@dataclass(frozen=True)
class Participant:
    agency: Agency
    link: CaseLink | None
    coordinating: bool


def participants(db: Session, case: MdtCase) -> list[Participant]:
    coordinating = db.get(Agency, case.coordinating_agency_id)
    rows = db.exec(
        select(CaseLink, Agency)
        .join(Agency, Agency.id == CaseLink.agency_id)
        .where(CaseLink.case_id == case.id)
        .order_by(Agency.name)
    ).all()
    return [Participant(coordinating, None, True)] + [
        Participant(agency, link, False) for link, agency in rows
    ]


def other_agencies(db: Session, case: MdtCase) -> list[Agency]:
    linked = select(CaseLink.agency_id).where(CaseLink.case_id == case.id)
    return list(
        db.exec(
            select(Agency)
            .where(
                Agency.is_active,
                Agency.id != case.coordinating_agency_id,
                Agency.id.not_in(linked),
            )
            .order_by(Agency.name)
        ).all()
    )


def active_agencies(db: Session) -> list[Agency]:
    return list(db.exec(select(Agency).where(Agency.is_active).order_by(Agency.name)).all())
