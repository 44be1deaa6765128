"""The coordinator's question to every partner, here and elsewhere (issue 20, seed 004):
"which of your minors with a clear concern and no MDT case may you tell me of?"

Asked when the coordinator's dashboard renders, as the case summary fans out: partners
elsewhere are sent one signed request per node first, partners here are asked at their
points meanwhile (`services.referrals.ask_here`), then the answers from elsewhere are
awaited and receipted here. Each owner decides and writes its own log. A partner elsewhere
that does not answer shows as unavailable, and the rest of the row stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo

from sqlmodel import Session, select

from portal.audit import lock_logs, record_many
from portal.crypto import KeyWrapper
from portal.db import commit_before_waiting
from portal.disclosure import RequestCache, requester_held
from portal.disclosure import referrals as point
from portal.federation import membership, transport, wire
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import referrals
from portal.services.referrals import PartnerAnswer

REFERRALS = transport.PREFIX + "/mdt-referrals"


def _elsewhere(db: Session, coordinating: Agency) -> list:
    """Roster members hosted on other nodes (none without a roster)."""
    found = membership.held(db)
    if found is None:
        return []
    here = {agency.public_id for agency in membership.local_agencies(db)}
    return [
        m for m in found[1].members if m.agency not in here and m.agency != coordinating.public_id
    ]


def _agency(db: Session, public_id: str) -> Agency | None:
    return db.exec(select(Agency).where(Agency.public_id == public_id)).first()


def _coordinating(db: Session, requester: Requester, configured: str | None) -> str | None:
    """The requester's agency's public id when it coordinates the MDT and the deployment's
    catalogue has the referral fact (a catalogue is data: one may leave it out); else None,
    and no partner is asked."""
    coordinating = membership.mdt_coordinator(db, configured)
    if coordinating is None or requester.agency != coordinating:
        return None
    return coordinating if catalogue().get(referrals.SECTION) is not None else None


def _answer_of(answer: dict | Unavailable, owner: Agency) -> point.Referrals:
    if isinstance(answer, Unavailable):
        raise answer
    listed = answer.get("answers")
    mine = [
        item
        for item in (listed if isinstance(listed, list) else [])
        if isinstance(item, dict) and item.get("owner") == owner.public_id
    ]
    if len(mine) != 1:
        raise Unavailable("its node did not answer for it")
    try:
        return wire.referrals_from(mine[0], owner)
    except wire.WireError as error:
        raise Unavailable(f"its node's answer could not be read: {error}") from None


def coordinator_referrals(
    db: Session,
    requester: Requester,
    *,
    configured: str | None,
    at: datetime,
    tz: tzinfo,
    age_of_majority: int,
    keys: KeyWrapper,
    federation: Federation | None,
    between: Callable[[], None] | None = None,
) -> list[PartnerAnswer] | None:
    """Every partner's answer, by partner name; None unless the requester's agency is the
    MDT's coordinating agency (`configured`: the node's setting, for a node without a
    roster; see `membership.mdt_coordinator`). `federation` None: partners elsewhere are
    shown as not asked."""
    coordinating = _coordinating(db, requester, configured)
    if coordinating is None:
        return None
    asking = requester.asking(referrals.PURPOSE)
    me = RequestCache().agency(db, requester.agency)
    elsewhere = _elsewhere(db, me)
    roster, local_url = transport.roster_and_url(db)
    calls, pending = [], None
    if elsewhere and federation is not None and roster is not None and local_url is not None:
        calls = transport.calls_by_node(
            db,
            me,
            elsewhere,
            REFERRALS,
            lambda hosted: {
                "requester": wire.requester_dict(replace(asking, node=local_url)),
                "owners": [member.agency for member in hosted],
            },
            keys=keys,
        )
        commit_before_waiting(db, between)  # no lock held while the partners' nodes answer
        pending = federation.submit(calls)
    answers = referrals.ask_here(
        db,
        asking,
        referrals.partners_here(db, me),
        coordinating=coordinating,
        at=at,
        tz=tz,
        age_of_majority=age_of_majority,
        keys=keys,
        between=between,
    )
    results = pending.results() if pending is not None else []
    by_agency = {
        owner.agency: answer
        for call, answer in zip(calls, results, strict=True)
        for owner in call.owners
    }
    receipts = []
    for member in elsewhere:
        owner = _agency(db, member.agency)
        if owner is None or not owner.is_active:
            continue
        answer = by_agency.get(member.agency, Unavailable("not asked from this page"))
        try:
            found = _answer_of(answer, owner)
        except Unavailable as why:
            answers[owner.public_id] = PartnerAnswer(owner, unavailable=str(why) or "no answer")
            continue
        answers[owner.public_id] = referrals.partner_answer(found)
        receipts.extend(point.received_entries(asking, found, at=at, agency_id=me.id))
    if receipts:
        lock_logs(db, [me.id])
        requester_held.note(db, asking)  # who asked, read again as the receipts are logged
        record_many(db, receipts)  # the requester's side: what it received from elsewhere
    return sorted(answers.values(), key=lambda a: a.owner.name)


def one_partner(
    db: Session,
    requester: Requester,
    owner: Agency,
    *,
    configured: str | None,
    at: datetime,
    tz: tzinfo,
    age_of_majority: int,
    keys: KeyWrapper,
    federation: Federation | None,
    only: str | None = None,
    between: Callable[[], None] | None = None,
) -> PartnerAnswer | None:
    """One partner's answer on its own (the page that opens a case from a referral),
    asked again: what it told before may no longer be told. Both sides in the caller's
    transaction. None unless the requester's agency coordinates the MDT. `only`: the one
    referral the page is about (no other minor of the partner is decided or logged).
    `between`: the caller's commit, ending what it holds before the partner's node is
    asked."""
    coordinating = _coordinating(db, requester, configured)
    if coordinating is None:
        return None
    asking = requester.asking(referrals.PURPOSE)
    if membership.is_local(db, owner):
        found = referrals.ask_here(
            db,
            asking,
            [owner],
            coordinating=coordinating,
            at=at,
            tz=tz,
            age_of_majority=age_of_majority,
            keys=keys,
            only=only,
        )
        return found.get(owner.public_id)
    me = RequestCache().agency(db, requester.agency)
    member = next((m for m in _elsewhere(db, me) if m.agency == owner.public_id), None)
    _roster, local_url = transport.roster_and_url(db)
    if member is None or federation is None or local_url is None:
        return PartnerAnswer(owner, unavailable="it is not in the MDT's roster")
    (call,) = transport.calls_by_node(
        db,
        me,
        [member],
        REFERRALS,
        lambda hosted: {
            "requester": wire.requester_dict(replace(asking, node=local_url)),
            "owners": [m.agency for m in hosted],
            **({"referral": only} if only is not None else {}),
        },
        keys=keys,
    )
    commit_before_waiting(db, between)  # no lock held while the partner's node answers
    (answer,) = federation.send([call])
    try:
        found = _answer_of(answer, owner)
    except Unavailable as why:
        return PartnerAnswer(owner, unavailable=str(why) or "no answer")
    lock_logs(db, [me.id])
    requester_held.note(db, asking)
    record_many(db, point.received_entries(asking, found, at=at, agency_id=me.id))
    return referrals.partner_answer(found)
