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

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo

from sqlmodel import Session, select

from portal.audit import rechecks
from portal.crypto import KeyWrapper
from portal.db import commit_before_waiting
from portal.disclosure import RequestCache
from portal.disclosure.point import questions_elsewhere
from portal.federation import membership, transport, wire
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency, MdtCase, Role
from portal.requester import LOCAL_NODE, Requester
from portal.services import case_records

CASE_CONSENT = transport.PREFIX + "/case-consent"
MOST_QUESTIONS = 10  # sections of MDT records asked in one request: fewer than a case has


def ask_elsewhere(
    db: Session,
    requester: Requester,
    asks: list[case_records.Ask],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None,
    cache: RequestCache | None = None,
    between: Callable[[], None] | None = None,
) -> RequestCache:
    """Ask the nodes of survivors served elsewhere about these MDT records (`asks`: an
    owner's records of one kind on a case) for this requester: every page, fragment and
    answer that shows them asks here first, then passes the returned cache (`cache`, or a
    new one) to the owners' points. All nodes at once, before any log is locked. Only a
    case's coordinating agency, on its own node, asks (it holds the case's links); with no
    federation client nothing is asked, and the points withhold (deny by default).
    `between`: the caller's commit, ending what it holds before any node is asked."""
    cache = RequestCache() if cache is None else cache
    if federation is None:
        return cache
    # One question per case and survivor's agency, whichever owners' records need it: a
    # node answers (and audits) each record once per request.
    wanted: dict[tuple[int, int], tuple[MdtCase, int, list[str]]] = {}
    for case, owner, asked in _by_case_and_owner(asks):
        needed = _questions(db, requester, case, owner, asked, at=at, tz=tz, keys=keys, cache=cache)
        for holder_id, sections in needed.items():
            found = wanted.setdefault((case.id, holder_id), (case, holder_id, []))
            found[2].extend(s for s in sections if s not in found[2])
    questions = list(wanted.values())
    roster, local_url = transport.roster_and_url(db) if questions else (None, None)
    if roster is None or local_url is None:
        return cache
    recipient = cache.agency(db, requester.agency)
    # Who asked, as the survivor's node logs it: a viewer here by this node's address.
    asking = replace(requester, node=local_url if requester.node == LOCAL_NODE else requester.node)
    holders = {
        a.id: a for a in db.exec(select(Agency).where(Agency.id.in_({q[1] for q in questions})))
    }
    calls, asked_of = [], []
    for case, holder_id, sections in questions:
        member = roster.member(holders[holder_id].public_id)
        if member is None:
            continue  # not asked is not consented: the point withholds
        coordinator = db.get(Agency, case.coordinating_agency_id)
        question = {
            "requester": wire.requester_dict(_as_coordinator(coordinator, requester, local_url)),
            "asking": wire.requester_dict(asking),
            "case": case.reference,
            "owner": member.agency,
            "sections": sections[:MOST_QUESTIONS],
        }
        key_id, signing_key = transport.signing_key_of(db, coordinator, keys=keys)
        calls.append(transport.Call((member,), CASE_CONSENT, question, key_id, signing_key))
        asked_of.append((case, holder_id, set(sections)))
    if calls:
        # No lock held while their nodes answer; what the owners' gates read before (their
        # policies, in `cache`) is still read again as the decisions are logged.
        with rechecks.kept_through(db):
            commit_before_waiting(db, between)
    for (case, holder_id, asked), answer in zip(
        asked_of, federation.send(calls) if calls else [], strict=True
    ):
        if isinstance(answer, Unavailable):
            continue  # not asked is not consented: the point withholds
        for section_key, held in _answers(answer, asked):
            cache.held_elsewhere[(case.id, holder_id, section_key, recipient.id)] = held
    return cache


def _by_case_and_owner(asks: list[case_records.Ask]) -> list[tuple[MdtCase, Agency, list]]:
    """The asks' sections per case and owner, in the order first asked."""
    grouped: dict[tuple[int, int], tuple[MdtCase, Agency, list]] = {}
    for ask in asks:
        if ask.case.id is None:
            continue
        found = grouped.setdefault((ask.case.id, ask.owner.id), (ask.case, ask.owner, []))
        if ask.section not in found[2]:
            found[2].append(ask.section)
    return list(grouped.values())


def _questions(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache,
) -> dict[int, list[str]]:
    """What to ask of `case` for the owner's `sections`: holder agency id -> section keys.
    Nothing when the case's coordinating agency is not hosted here."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if coordinator is None or not membership.is_local(db, coordinator):
        return {}
    needed = questions_elsewhere(
        db, requester, case, owner, sections, at=at, tz=tz, keys=keys, cache=cache
    )
    by_holder: dict[int, list[str]] = {}
    for holder_id, section_key in needed:
        by_holder.setdefault(holder_id, []).append(section_key)
    return by_holder


def _as_coordinator(coordinator: Agency, requester: Requester, local_url: str) -> Requester:
    """Who signs the question: the case's coordinating agency, for the requester's purpose."""
    return Requester(
        node=local_url,
        agency=coordinator.public_id,
        agency_kind=coordinator.kind,
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
        purpose=requester.purpose,
    )


def _answers(answer: dict, asked: set[str]):
    """(section key, (gate or None, release ref)) for each well-formed answer to a section
    asked; anything else is left out (not answered is not consented)."""
    items = answer.get("answers")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("section") not in asked:
            continue
        gate, release = item.get("gate"), item.get("release_ref")
        if gate is not None and not isinstance(gate, str):
            continue
        if release is not None and not (isinstance(release, str) and len(release) <= 36):
            release = None
        yield item["section"], (gate, release)
