"""The MDT's own records — decisions and tasks — as a requester reads them.

A decision belongs to the coordinating agency, a task's text to the agency that wrote it
(issue 14, one door). Nothing here reads their text: each owner's disclosure point decides
(under its policy and the consent of every survivor on the case) and answers, writing its
own log; the requester's receipts are written from what came back, exactly as for the case
summary's sections. What a page may show without asking — a task's due date, status and
assignee, that a decision was recorded — is the case's tracking, read by the services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from sqlmodel import Session

from portal.audit import lock_logs, rechecks, record_many, takes_behind
from portal.crypto import KeyWrapper
from portal.db import at_commit, writes_at_commit
from portal.disclosure import Decision, RequestCache, answer, point, receipt
from portal.disclosure import own as own_policy
from portal.disclosure.point import PARTICIPATION
from portal.models import Agency, AgencyKind, MdtCase, Node
from portal.models.workflow import CaseEventKind
from portal.requester import Requester
from portal.services import case_history

DECISIONS = "mdt_decisions"
TASKS = "mdt_tasks"


@dataclass(frozen=True)
class Ask:
    """One owner's records of one kind on one case; `refs` narrows them to some records."""

    case: MdtCase
    owner: Agency
    section: str
    refs: tuple[str, ...] = ()


Answers = dict[tuple[int, int, str], Decision]  # (case id, owner id, section key) -> decision


def key(case_id: int, owner_id: int, section: str) -> tuple[int, int, str]:
    return (case_id, owner_id, section)


def decide(
    db: Session,
    requester: Requester,
    asks: list[Ask],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
    cache: RequestCache | None = None,
) -> Answers:
    """Ask each owner once per case and kind; every answer is audited on both sides.

    `between` as in `case_summary.owner_block`: a page commits the owners' transaction
    there; None keeps both sides in the caller's one transaction. `cache`: this request's,
    holding what nodes elsewhere answered for it (`RequestCache.held_elsewhere`)."""
    found: Answers = {}
    # The same question once per request.
    asks = list({(a.case.id, a.owner.id, a.section, a.refs): a for a in asks}.values())
    if not asks:
        return found
    cache = RequestCache() if cache is None else cache
    requester_agency = cache.agency(db, requester.agency)
    if between is None:  # both sides in one transaction: every log locked now, in order
        relied_on = [
            agency_id
            for ask in asks
            for agency_id in point.logs_relied_on(
                db, ask.case, [ask.section], at=at, keys=keys, cache=cache
            )
        ]
        lock_logs(db, [a.owner.id for a in asks] + [requester_agency.id] + relied_on)
    owners_entries: list[dict] = []
    receipts: list[dict] = []
    for ask in asks:
        (decision,) = answer(
            db,
            requester,
            ask.case,
            ask.owner,
            [ask.section],
            at=at,
            tz=tz,
            keys=keys,
            cache=cache,
            entries_into=owners_entries,
            refs=ask.refs,
        )
        receipts.extend(
            receipt.received_entries(
                requester,
                case_ref=ask.case.reference,
                owner_ref=ask.owner.public_id,
                decisions=[decision],
                at=at,
                agency_id=requester_agency.id,
            )
        )
        found[key(ask.case.id, ask.owner.id, ask.section)] = decision
    write_sides(db, owners_entries, receipts, between=between)
    return found


def write_sides(
    db: Session,
    owners_entries: list[dict],
    receipts: list[dict],
    *,
    between: Callable[[], None] | None,
) -> None:
    """The owners' entries, then (after `between`) the requester's receipts; with no
    `between`, one batch in the caller's transaction, each entry still to its own log."""
    if between is None:
        record_many(db, owners_entries + receipts)
        return
    if takes_behind(db, [entry["agency_id"] for entry in owners_entries]) or writes_at_commit(db):
        # What the page wrote before holds a log (its own staff's reads, in its agency's
        # log) that comes after an owner's, or will take one at its commit (the receipts of
        # a case asked about before, on a page of several: a meeting's agenda): committed
        # first, or a page of that owner's staff, holding their log and waiting for this
        # one's, deadlocks with this. What the answers were decided on is still read again
        # as they are logged (`audit.rechecks`).
        with rechecks.kept_through(db):
            between()
    record_many(db, owners_entries)
    between()
    # The requester's side, what it received: written as its transaction's last work, so
    # its log is locked for the append and the commit, not while the page renders.
    at_commit(db, lambda: record_many(db, receipts))


def case_decisions(
    db: Session,
    requester: Requester,
    case: MdtCase,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
    cache: RequestCache | None = None,
) -> Decision:
    """The case's decisions as the coordinating agency's point answers this requester."""
    owner = db.get(Agency, case.coordinating_agency_id)
    found = decide(
        db,
        requester,
        [Ask(case, owner, DECISIONS)],
        at=at,
        tz=tz,
        keys=keys,
        between=between,
        cache=cache,
    )
    return found[key(case.id, owner.id, DECISIONS)]


def meeting_decisions(
    db: Session,
    requester: Requester,
    owner: Agency,
    cases: list[MdtCase],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
    cache: RequestCache | None = None,
) -> dict[int, Decision]:
    """Per case on a meeting's agenda (case id -> decision), from the coordinator's point;
    `cache` as in `decide`."""
    found = decide(
        db,
        requester,
        meeting_asks(owner, cases),
        at=at,
        tz=tz,
        keys=keys,
        between=between,
        cache=cache,
    )
    return {case.id: found[key(case.id, owner.id, DECISIONS)] for case in cases}


def meeting_asks(owner: Agency, cases: list[MdtCase]) -> list[Ask]:
    """What `meeting_decisions` asks: the coordinator's decisions on each case."""
    return [Ask(case, owner, DECISIONS) for case in cases]


SCREENING = "screening"  # a mandated report on the timeline tells what the screening found


def told_history(
    db: Session,
    requester: Requester,
    case: MdtCase,
    agency_names: set[str],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
) -> list[case_history.HistoryRow]:
    """The case's timeline as this requester may read it: nothing that names an agency it
    may not be told takes part (`agency_names`: those it may; `case_history.told`), and a
    mandated report another agency made only as that agency's point answers for its
    screening on this case (a report says the screening found a reportable concern):
    under its policy and the survivor's release, audited on both sides."""
    rows = case_history.history(db, case)
    own = requester_agency_id(db, requester)
    reporters = {
        row.agency_id
        for row in rows
        if row.kind == CaseEventKind.MANDATED_REPORT
        and row.agency_id is not None
        and row.agency_id != own
    }
    asks = [Ask(case, db.get(Agency, agency_id), SCREENING) for agency_id in reporters]
    answers = decide(db, requester, asks, at=at, tz=tz, keys=keys, between=between)
    released = {
        agency_id
        for agency_id in reporters
        if answers[key(case.id, agency_id, SCREENING)].decision == "released"
    }
    if _own_reports_readable(db, requester, case, rows, own, at=at):
        released.add(own)
    shown = [
        _own_words_only(row, own)
        for row in rows
        if row.kind != CaseEventKind.MANDATED_REPORT or row.agency_id in released
    ]
    return case_history.told(shown, agency_names)


def _own_reports_readable(db, requester, case, rows, own: int | None, *, at) -> bool:
    """Whether this agency's own staff member may read its own mandated reports on the
    timeline: as any own read of a screening, under the agency's policy for their role,
    the read (or its refusal) in its log."""
    made = sum(1 for r in rows if r.kind == CaseEventKind.MANDATED_REPORT and r.agency_id == own)
    if own is None or not made:
        return False
    agency = db.get(Agency, own)
    answer = own_policy.decide(db, requester, SCREENING, agency=agency)
    own_policy.record_read(
        db,
        answer,
        requester=requester,
        agency=agency,
        client_ref=None,
        subject=case.reference,
        at=at,
        detail={"mandated_reports_on_timeline": made},
    )
    return answer.allowed


_FREE_TEXT = (CaseEventKind.CLOSED, CaseEventKind.REOPENED)


def _own_words_only(row: case_history.HistoryRow, own: int | None) -> case_history.HistoryRow:
    """Why a case was closed or reopened is its coordinator's free text about a survivor,
    which no disclosure point releases: another agency reads that it was, not why."""
    if row.kind in _FREE_TEXT and row.agency_id != own:
        return replace(row, reason=None)
    return row


def told_participants(
    db: Session,
    requester: Requester,
    case: MdtCase,
    participants: list,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
) -> tuple[list, int]:
    """The participants (anything with `.agency` and `.coordinating`) this requester may be
    told of, and how many others take part.

    For a community-based agency the fact that it serves this survivor is protected (VAWA
    counts the fact of service): a partner learns it only from that agency's disclosure
    point (`participation`, under its policy and a release naming the partner). Its own
    agency, the coordinating agency (which the survivor's joining release names) and
    system-based agencies are always told. A protected agency hosted on another node is
    not told here: `portal.federation.summary.told_participants` asks its node."""
    agencies = [p.agency for p in participants]
    asks = participation_asks(db, requester, case, agencies)
    answers = decide(db, requester, asks, at=at, tz=tz, keys=keys, between=between)
    told = [p for p in participants if may_name(db, requester, case, p.agency, answers)]
    return told, len(participants) - len(told)


def participation_asks(
    db: Session, requester: Requester, case: MdtCase, agencies: list[Agency]
) -> list[Ask]:
    """What to ask (with `decide`) so that `may_name` can tell, for each of `agencies`,
    whether this requester may be told it takes part in `case`: one question to each
    protected agency hosted here (see `told_participants`)."""
    if requester_agency_id(db, requester) == case.coordinating_agency_id:
        return []
    return [
        Ask(case, agency, PARTICIPATION)
        for agency in {agency.id: agency for agency in agencies}.values()
        if protected_agency(agency, requester, case.coordinating_agency_id)
        and _hosted_here(db, agency)
    ]


def may_name(
    db: Session, requester: Requester, case: MdtCase, agency: Agency, answers: Answers
) -> bool:
    """Whether a page may name `agency` to this requester as taking part in `case` (or
    name its staff), from the answers to `participation_asks`. A protected agency hosted on
    another node is not asked here, so not named (deny by default)."""
    coordinating = case.coordinating_agency_id
    if requester_agency_id(db, requester) == coordinating:
        return True
    if not protected_agency(agency, requester, coordinating):
        return True
    answer_ = answers.get(key(case.id, agency.id, PARTICIPATION))
    return answer_ is not None and answer_.decision == "released"


def protected(db: Session, participant, requester: Requester, coordinating_id: int) -> bool:
    """Whether taking part is the participant's own to disclose to this requester: a
    community-based agency, other than the requester's own and the coordinator."""
    return protected_agency(participant.agency, requester, coordinating_id)


def protected_agency(agency: Agency, requester: Requester, coordinating_id: int) -> bool:
    """`protected`, of an agency."""
    return (
        agency.kind == AgencyKind.COMMUNITY
        and agency.public_id != requester.agency
        and agency.id != coordinating_id
    )


def _hosted_here(db: Session, agency: Agency) -> bool:
    node = db.get(Node, agency.node_id)
    return node is None or node.is_local


def requester_agency_id(db: Session, requester: Requester) -> int:
    return RequestCache().agency(db, requester.agency).id


def needs_new_release(db: Session, case: MdtCase, *, at: datetime, keys: KeyWrapper) -> set[int]:
    """For the coordinator: agencies whose client joined the case under a release that is
    no longer in effect. Their links stay, as history; partners see nothing more of those
    clients until the survivor signs a new release naming the coordinating agency."""
    return point.lapsed_links(db, case, at=at, keys=keys)
