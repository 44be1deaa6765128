"""The case summary across nodes: every owner asked at once, each answering for itself.

Owners hosted here are decided by `portal.services.case_summary` exactly as before; owners
hosted elsewhere are asked over signed HTTP, all at once, while the local ones are being
decided. Each owner writes its own log; what came back from every owner is receipted in
the requester agency's log here. An owner that is down, slow (past the per-owner timeout)
or whose answer does not verify is shown as unavailable, and the rest of the page stands.
Nothing an owner elsewhere released is stored here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from sqlmodel import Session

from portal.audit import record_many
from portal.crypto import KeyWrapper
from portal.db import commit_before_waiting
from portal.disclosure import Decision, RequestCache, receipt, requester_held
from portal.errors import NotFound
from portal.federation import elsewhere_consent, membership, transport, vouchers, wire
from portal.federation.transport import Call, Federation, Unavailable
from portal.models import Agency, MdtCase
from portal.requester import Requester
from portal.sections import Section, catalogue
from portal.services import case_records, case_summary, tasks
from portal.services.case_summary import Participant

DISCLOSURES = transport.PREFIX + "/disclosures"


@dataclass(frozen=True)
class Block:
    """One owner's block: its decisions, None when it loads on its own (an owner here past
    the page's budget), or why an owner elsewhere is unavailable."""

    participant: Participant
    decisions: list[Decision] | None
    unavailable: str | None = None


def _remote_calls(
    db: Session,
    requester: Requester,
    case: MdtCase,
    remote: list[Participant],
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    sections: list[str] | None = None,
    voucher: bool = True,
) -> tuple[list[Call], dict[str, str], list[dict]]:
    """The signed calls to owners elsewhere (for these sections; None: all they keep), the
    owners that cannot be asked (why), and the entry of the voucher the calls carry when a
    coordinating agency hosted here minted it (for `_received` to write). `voucher`: False
    when the only owner asked is the case's coordinator, who holds the case's links itself."""
    if not remote:
        return [], {}, []
    roster, local_url = transport.roster_and_url(db)
    if roster is None or local_url is None:
        return [], {p.agency.public_id: "this node holds no roster" for p in remote}, []
    asking = replace(requester, node=local_url)
    requester_agency = RequestCache().agency(db, requester.agency)
    vouched: list[dict] = []
    try:
        voucher = (
            vouchers.for_request(
                db,
                requester,
                requester_agency,
                case,
                keys=keys,
                federation=federation,
                at=at,
                entries_into=vouched,
            )
            if voucher
            else None
        )
    except Unavailable as why:
        return [], {p.agency.public_id: str(why) for p in remote}, []
    members, refused = [], {}
    for participant in remote:
        member = roster.member(participant.agency.public_id)
        if member is None:
            refused[participant.agency.public_id] = "it is no longer in the MDT's roster"
        else:
            members.append(member)
    # One request per node, for every owner it hosts: each owner still decides and audits
    # on its own; the node's answer is signed by one of them.
    calls = transport.calls_by_node(
        db,
        requester_agency,
        members,
        DISCLOSURES,
        lambda hosted: {
            "requester": wire.requester_dict(asking),
            "case": case.reference,
            "owners": [member.agency for member in hosted],
            "sections": sections,
            **({"participation": voucher} if voucher is not None else {}),
        },
        keys=keys,
    )
    return calls, refused, vouched


def _decisions(answer: dict, owner: Agency) -> list[Decision]:
    found = answer.get("answers")
    mine = [
        item
        for item in (found if isinstance(found, list) else [])
        if isinstance(item, dict) and item.get("owner") == owner.public_id
    ]
    if len(mine) != 1 or not isinstance(mine[0].get("decisions"), list):
        raise Unavailable("its node did not answer for it")
    try:
        return [wire.decision_from(item, owner) for item in mine[0]["decisions"]]
    except wire.WireError as error:
        raise Unavailable(f"its node's answer could not be read: {error}") from None


def page_blocks(
    db: Session,
    requester: Requester,
    case: MdtCase,
    found: list[Participant],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    budget_seconds: float,
    between: Callable[[], None] | None = None,
) -> list[Block]:
    """Every owner's block, in the participants' order. Owners elsewhere are sent their
    requests first, then owners here are decided (`case_summary.page_blocks`, its budget
    and `between` as there), then the answers from elsewhere are awaited and receipted."""
    local, remote = [], []
    for participant in found:
        (local if membership.is_local(db, participant.agency) else remote).append(participant)
    if remote:
        commit_before_waiting(db, between)  # no lock held while the owners elsewhere answer
    calls, cannot, vouched = _remote_calls(
        db, requester, case, remote, keys=keys, federation=federation, at=at
    )
    pending = federation.submit(calls) if calls else None
    # An owner here's MDT records: the nodes of survivors served elsewhere asked first.
    cache = elsewhere_consent.ask_elsewhere(
        db,
        requester,
        case_summary.record_asks(case, [p.agency for p in local]),
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        between=between,
    )
    here = case_summary.page_blocks(
        db,
        requester,
        case,
        local,
        at=at,
        tz=tz,
        keys=keys,
        budget_seconds=budget_seconds,
        between=between,
        cache=cache,
    )
    blocks = {b.participant.agency.public_id: Block(b.participant, b.decisions) for b in here}
    blocks |= _received(db, requester, case, remote, calls, pending, cannot, vouched, at=at)
    return [blocks[p.agency.public_id] for p in found]


def _received(
    db: Session,
    requester: Requester,
    case: MdtCase,
    remote: list[Participant],
    calls: list[Call],
    pending,
    cannot: dict[str, str],
    vouched: list[dict],
    *,
    at: datetime,
) -> dict[str, Block]:
    """Each owner elsewhere's block from its node's answer (or why it is unavailable), and
    the requester's receipts for what came back, written in its log here; with them, the
    entry of the voucher the calls carried (`vouched`, from `_remote_calls`), in the log of
    the coordinating agency that minted it here."""
    answers = pending.results() if pending else []
    by_agency = {
        owner.agency: answer
        for call, answer in zip(calls, answers, strict=True)
        for owner in call.owners
    }
    blocks, receipts = {}, []
    requester_agency = RequestCache().agency(db, requester.agency) if remote else None
    for participant in remote:
        owner = participant.agency
        answer = by_agency.get(owner.public_id, Unavailable(cannot.get(owner.public_id, "")))
        try:
            if isinstance(answer, Unavailable):
                raise answer
            decisions = _decisions(answer, owner)
        except Unavailable as why:
            blocks[owner.public_id] = Block(participant, None, str(why) or "no answer")
            continue
        blocks[owner.public_id] = Block(participant, decisions)
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
    # What came back was decided elsewhere on who asked as this request read them: they
    # are read again here as their receipts are logged.
    requester_held.note(db, requester)
    # One batch: both logs locked together, in the one fixed order. The voucher's entry
    # comes after the page's other work, as the receipts do: it locks no log while the
    # owners here are decided.
    record_many(db, [*receipts, *vouched])
    return blocks


def told_participants(
    db: Session,
    requester: Requester,
    case: MdtCase,
    participants: list,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> tuple[list, int]:
    """`case_records.told_participants` across nodes: a community-based agency hosted
    elsewhere is asked by its own node's disclosure point whether this requester may be
    told it takes part (its `participation`, under its policy and a release naming the
    requester's agency; audited there, receipted here). One that cannot be asked, does not
    answer or withholds is not named, only counted (deny by default)."""
    coordinating = case.coordinating_agency_id
    asked = []
    if case_records.requester_agency_id(db, requester) != coordinating:
        asked = [
            p
            for p in participants
            if not membership.is_local(db, p.agency)
            and case_records.protected(db, p, requester, coordinating)
        ]
    if asked:
        commit_before_waiting(db, between)  # no lock held while their nodes answer
    calls, cannot, vouched = _remote_calls(
        db,
        requester,
        case,
        asked,
        keys=keys,
        federation=federation,
        at=at,
        sections=[case_records.PARTICIPATION],
    )
    pending = federation.submit(calls) if calls else None
    here, _hidden = case_records.told_participants(
        db,
        requester,
        case,
        [p for p in participants if p not in asked],
        at=at,
        tz=tz,
        keys=keys,
        between=between,
    )
    answered = _received(db, requester, case, asked, calls, pending, cannot, vouched, at=at)
    told_ids = {p.agency.public_id for p in here} | {
        owner
        for owner, block in answered.items()
        if block.decisions and all(d.decision == "released" for d in block.decisions)
    }
    told = [p for p in participants if p.agency.public_id in told_ids]
    return told, len(participants) - len(told)


def owner_of_case(
    db: Session,
    requester: Requester,
    case: MdtCase,
    agency_public_id: str,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> Agency:
    """A participant agency of this case that the requester may be told of, or 404 exactly
    like a missing one (a community-based agency's taking part is its own to disclose)."""
    found = [
        p for p in case_summary.participants(db, case) if p.agency.public_id == agency_public_id
    ]
    told, _others = told_participants(
        db, requester, case, found, at=at, tz=tz, keys=keys, federation=federation, between=between
    )
    if not told:
        raise NotFound("agency")
    return told[0].agency


def owner_block(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> Block:
    """One owner's block on its own (the htmx fragment), here or elsewhere."""
    participant = next(
        p for p in case_summary.participants(db, case) if p.agency.public_id == owner.public_id
    )
    if membership.is_local(db, owner):
        cache = elsewhere_consent.ask_elsewhere(
            db,
            requester,
            case_summary.record_asks(case, [owner]),
            at=at,
            tz=tz,
            keys=keys,
            federation=federation,
            between=between,
        )
        decisions = case_summary.owner_block(
            db, requester, case, owner, at=at, tz=tz, keys=keys, cache=cache, between=between
        )
        return Block(participant, decisions)
    (block,) = page_blocks(
        db,
        requester,
        case,
        [participant],
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        budget_seconds=math.inf,
        between=between,
    )
    return block


def every_block(
    db: Session,
    requester: Requester,
    case: MdtCase,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> list[Block]:
    """The whole summary at once (the printed review packet, the API): every owner the
    requester may be told takes part (issue 14, `told_participants`)."""
    told, _others = told_participants(
        db,
        requester,
        case,
        case_summary.participants(db, case),
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        between=between,
    )
    return page_blocks(
        db,
        requester,
        case,
        told,
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        budget_seconds=math.inf,
        between=between,
    )


@dataclass(frozen=True)
class Unanswered:
    """An MDT record whose owner's node did not answer (or whose answer did not verify):
    shown as unavailable, never as withheld by a gate nobody decided."""

    section: Section
    owner: Agency
    unavailable: str
    decision: str = field(default="unavailable", init=False)


def case_decisions(
    db: Session,
    requester: Requester,
    case: MdtCase,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> Decision | Unanswered:
    """The case's decisions, as the coordinating agency's point answers this requester:
    decided here when the coordinator is hosted here (`case_records.case_decisions`), else
    asked of its node by a signed request, decided and audited there (under every survivor's
    consent) and receipted here. Never decided on a node that does not keep them."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if membership.is_local(db, coordinator):
        # Survivors served elsewhere: their nodes are asked first (`elsewhere_consent`).
        cache = elsewhere_consent.ask_elsewhere(
            db,
            requester,
            [case_records.Ask(case, coordinator, case_records.DECISIONS)],
            at=at,
            tz=tz,
            keys=keys,
            federation=federation,
            between=between,
        )
        return case_records.case_decisions(
            db, requester, case, at=at, tz=tz, keys=keys, between=between, cache=cache
        )
    return _of_coordinator(
        db,
        requester,
        case,
        coordinator,
        case_records.DECISIONS,
        at=at,
        keys=keys,
        federation=federation,
        between=between,
    )


def meeting_decisions(
    db: Session,
    requester: Requester,
    owner: Agency,
    cases: list[MdtCase],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None,
    between: Callable[[], None] | None = None,
) -> dict[int, Decision]:
    """The decisions on each case of a meeting's agenda (`case_records.meeting_decisions`),
    the nodes of survivors served elsewhere asked first (`elsewhere_consent`)."""
    cache = elsewhere_consent.ask_elsewhere(
        db,
        requester,
        case_records.meeting_asks(owner, cases),
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        between=between,
    )
    return case_records.meeting_decisions(
        db, requester, owner, cases, at=at, tz=tz, keys=keys, between=between, cache=cache
    )


def tasks_with_text(
    db: Session,
    requester: Requester,
    rows: list[tasks.TaskRow],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None,
    between: Callable[[], None] | None = None,
    refs: tuple[str, ...] = (),
) -> list[tasks.TaskRow]:
    """The rows with each task's text (`tasks.with_text`), the nodes of survivors served
    elsewhere asked first (`elsewhere_consent`)."""
    cache = elsewhere_consent.ask_elsewhere(
        db,
        requester,
        tasks.text_asks(db, rows, refs),
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        between=between,
    )
    return tasks.with_text(
        db, requester, rows, at=at, tz=tz, keys=keys, between=between, refs=refs, cache=cache
    )


def _of_coordinator(
    db: Session,
    requester: Requester,
    case: MdtCase,
    coordinator: Agency,
    section_key: str,
    *,
    at: datetime,
    keys: KeyWrapper,
    federation: Federation,
    between: Callable[[], None] | None = None,
) -> Decision | Unanswered:
    """One MDT record of the case, asked of its coordinator's node and receipted here."""
    section = catalogue().get(section_key)
    asked = Participant(coordinator, coordinating=True, confirmed=True)
    commit_before_waiting(db, between)  # no lock held while the coordinator's node answers
    calls, cannot, vouched = _remote_calls(
        db,
        requester,
        case,
        [asked],
        keys=keys,
        federation=federation,
        at=at,
        sections=[section_key],
        voucher=False,
    )
    pending = federation.submit(calls) if calls else None
    found = _received(db, requester, case, [asked], calls, pending, cannot, vouched, at=at)
    block = found[coordinator.public_id]
    decisions = block.decisions or []
    if len(decisions) != 1 or decisions[0].section.key != section_key:
        return Unanswered(section, coordinator, block.unavailable or "its node did not answer")
    return decisions[0]
