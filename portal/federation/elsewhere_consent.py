"""An MDT record's consent from survivors served on other nodes, asked by the coordinator.

An MDT record (decisions, minutes, tasks' text) is about every survivor on the case; a
survivor served by an agency hosted elsewhere keeps their releases on that agency's node.
Before the coordinating agency's point answers such a record, its node asks each of those
nodes, by a signed request, whether their survivor's release in effect names the requester's
agency for the record and purpose (`point.consent_for_record`, decided and audited there as a
relied-on entry, or withheld with its gate). The answers go into the request's cache; an
agency whose node does not answer counts as no consent (deny by default).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure import RequestCache
from portal.disclosure.point import questions_elsewhere
from portal.federation import membership, transport, wire
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency, MdtCase, Role
from portal.requester import LOCAL_NODE, Requester

CASE_CONSENT = transport.PREFIX + "/case-consent"
MOST_QUESTIONS = 10  # sections of MDT records asked in one request: fewer than a case has


def ask_elsewhere(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list,
    *,
    cache: RequestCache,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation,
) -> None:
    """Ask the nodes of survivors served elsewhere about `sections` of `case` (the owner's
    MDT records) for this requester, before the owner's point answers with `cache`. Only
    the case's coordinating agency, on its own node, asks (it holds the case's links)."""
    coordinator = db.get(Agency, case.coordinating_agency_id) if case.id is not None else None
    if coordinator is None or not membership.is_local(db, coordinator):
        return
    needed = questions_elsewhere(
        db, requester, case, owner, sections, at=at, tz=tz, keys=keys, cache=cache
    )
    if not needed:
        return
    roster, local_url = transport.roster_and_url(db)
    if roster is None or local_url is None:
        return
    recipient = cache.agency(db, requester.agency)
    by_holder: dict[int, list[str]] = {}
    for holder_id, section_key in needed:
        by_holder.setdefault(holder_id, []).append(section_key)
    holders = {a.id: a for a in db.exec(select(Agency).where(Agency.id.in_(list(by_holder))))}
    members = {
        holder_id: member
        for holder_id in by_holder
        if (member := roster.member(holders[holder_id].public_id)) is not None
    }
    # Who asked, as the survivor's node logs it: a viewer here by this node's address.
    asking = replace(requester, node=local_url if requester.node == LOCAL_NODE else requester.node)
    as_coordinator = Requester(
        node=local_url,
        agency=coordinator.public_id,
        agency_kind=coordinator.kind,
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
        purpose=requester.purpose,
    )
    ids = {m.agency: holder_id for holder_id, m in members.items()}
    calls = transport.calls_for(
        db,
        coordinator,
        list(members.values()),
        CASE_CONSENT,
        lambda m: {
            "requester": wire.requester_dict(as_coordinator),
            "asking": wire.requester_dict(asking),
            "case": case.reference,
            "owner": m.agency,
            "sections": by_holder[ids[m.agency]][:MOST_QUESTIONS],
        },
        keys=keys,
    )
    for call, answer in zip(calls, federation.send(calls) if calls else [], strict=True):
        holder_id = ids[call.owners[0].agency]
        if isinstance(answer, Unavailable):
            continue  # not asked is not consented: the point withholds
        asked = set(by_holder[holder_id])
        for item in answer.get("answers") if isinstance(answer.get("answers"), list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("section"), str):
                continue
            if item["section"] not in asked:
                continue
            gate, release = item.get("gate"), item.get("release_ref")
            if gate is not None and not isinstance(gate, str):
                continue
            if release is not None and not (isinstance(release, str) and len(release) <= 36):
                release = None
            cache.held_elsewhere[(holder_id, item["section"], recipient.id)] = (gate, release)
