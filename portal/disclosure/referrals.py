"""The disclosure point's answer to "which of your minors with a clear concern and no MDT
case may you tell me of?" (issue 20, seed 004): asked by the MDT's coordinating agency of
each partner, answered by each partner's own point, audited on both sides.

A clear concern is not a case on its own: the agency that screened keeps the screening.
For a minor it flags the coordinator, and the MDT path starts from that flag; but what
reaches the coordinator is the owner's disclosure, decided here like any other:

1. Only the MDT's coordinating agency is ever told (as this node knows it: the signed
   roster, or on a node without one its settings; never what the requester says). Any
   other agency is refused the whole question.
2. The owner's policy (`mdt_referral`, for referral): deny by default; the default policy
   releases it to the MDT coordinator only. A refusal here is also for the whole question.
3. For each minor, the consent gate: a release in effect, signed by or for the client,
   naming the coordinating agency for this fact and purpose; or, for a system-based owner
   only, a legal basis it recorded and signed for minors (a statute that lets child
   welfare or law enforcement refer to a child-abuse MDT). A community-based agency has
   no legal basis: without the survivor's release it tells nothing of them.

A refusal of the whole question is one placeholder, the same whether the owner has any
such minor or none. A minor withheld at the consent gate is a placeholder naming only the
gate: the coordinator learns how many a partner did not tell of, never who. Every decision
is written to the owner's log (naming its own client there), so the owner's "who saw what
of ours" and the client's accounting of disclosures list each referral released.

Why not a compelled disclosure: a mandated report goes to the child-abuse hotline or law
enforcement and is recorded as compelled (`services.mandated_reports`); the law does not
compel telling the MDT's coordinator, so an accounting that called it compelled would be
wrong, and a compelled record is entered after the fact by a lead, not decided at a gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlmodel import Session

import consent
from portal.audit import AuditTag, entry_values, record_many
from portal.crypto import KeyWrapper
from portal.disclosure import consent_gate, legal_basis, policy, requester_held
from portal.disclosure.cache import RequestCache
from portal.disclosure.gates import Gate
from portal.disclosure.point import (
    Decision,
    Released,
    Withheld,
    _decision,
    _facts,
    _gates,
    _placeholder,
    section_of,
)
from portal.disclosure.sources import referrals as source
from portal.errors import NotFound
from portal.models import Agency
from portal.placeholders import sentence
from portal.requester import Requester

SECTION = "mdt_referral"
PURPOSE = consent.Purpose.REFERRAL.value


@dataclass(frozen=True)
class Referrals:
    """One owner's answer: the whole question refused, or one decision per minor."""

    owner: Agency
    refused: Withheld | None  # the whole question withheld: no count, nothing of anyone
    decisions: tuple[Decision, ...] = ()  # released, or withheld naming only the gate
    more: bool = False  # the owner has more such minors than one answer tells of

    @property
    def released(self) -> tuple[Released, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Released))

    @property
    def withheld(self) -> tuple[Withheld, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Withheld))


def _entry(verdict, *, requester, owner, role, rule, client_ref, subject, at) -> dict:
    detail = {
        "viewer_agency": requester.agency,
        "viewer_node": requester.node,
        "owner": owner.public_id,
        "own_agency": False,
        "reason": sentence(verdict.why) if isinstance(verdict, Withheld) else None,
    }
    if getattr(verdict, "legal_basis", None):
        detail["legal_basis"] = verdict.legal_basis
    return entry_values(
        AuditTag.DISCLOSURE_RELEASED
        if verdict.decision == "released"
        else AuditTag.DISCLOSURE_WITHHELD,
        agency_id=owner.id,
        actor=requester,
        subject=subject,
        detail=detail,
        at=at,
        disclosure=_facts(
            verdict,
            case_ref=None,
            client_ref=client_ref,
            purpose=requester.purpose,
            viewer_role=requester.audit_role(role),
            rule=rule,
        ),
    )


def answer(
    db: Session,
    requester: Requester,
    owner: Agency,
    *,
    coordinating: str | None,
    at: datetime,
    tz: tzinfo,
    age_of_majority: int,
    keys: KeyWrapper,
    cache: RequestCache,
    entries_into: list | None = None,
    only: str | None = None,
) -> Referrals:
    """The owner's side. `coordinating`: the public id of the MDT's coordinating agency as
    this node knows it (see module docstring), None when it knows of none. `tz`: the MDT's
    time zone, as for `point.answer`; `age_of_majority`: the owner's node's (its setting),
    under which a client screened as a minor is one still. `only`: one referral (its
    screening's public id), for the page that opens a case from it: no other minor is
    decided or logged.

    `entries_into` as for `point.answer`: a list in which to leave the owner's entries for
    a caller deciding several owners in one transaction (it must write them all)."""
    if requester.agency == owner.public_id:
        raise NotFound("agency")  # an agency's own minors are its own records, not a disclosure
    section = section_of(SECTION)
    recipient = cache.agency(db, requester.agency)
    entries: list[dict] = []

    def refuse(gate: Gate, role=None, rule=None) -> Referrals:
        refused = _placeholder(requester, owner, section, gate)
        entries.append(
            _entry(
                refused,
                requester=requester,
                owner=owner,
                role=role,
                rule=rule,
                client_ref=None,
                subject=None,
                at=at,
            )
        )
        return Referrals(owner, refused)

    if coordinating is None or requester.agency != coordinating:
        found = refuse(Gate.NOT_COORDINATOR)
    else:
        if owner.id not in cache.policies:
            cache.policies[owner.id] = policy.owner_policy(db, owner)
        requester_held.note(db, requester)
        allowed, role = policy.decide(
            cache.policies[owner.id],
            owner,
            kind=requester.agency_kind,
            roles=requester.roles,
            section=section.key,
            purpose=requester.purpose,
        )
        if not allowed.allowed:
            found = refuse(Gate.POLICY, role, allowed.rule)
        else:
            found = _each_minor(
                db,
                requester,
                owner,
                recipient,
                section,
                at=at,
                tz=tz,
                age_of_majority=age_of_majority,
                keys=keys,
                cache=cache,
                entries=entries,
                only=only,
            )
    if entries_into is None:
        record_many(db, entries)
    else:
        entries_into.extend(entries)
    return found


def _each_minor(
    db,
    requester,
    owner,
    recipient,
    section,
    *,
    at,
    tz,
    age_of_majority,
    keys,
    cache,
    entries,
    only=None,
) -> Referrals:
    flagged, more = source.candidates(db, owner.id, only=only)
    # Screened as a minor is not a minor now: one who has come of age since (the node's age
    # of majority, as screening judged it) is no longer the child-abuse MDT's to be told of
    # (their sealed birth date, where the MDT is).
    flagged = [
        c
        for c in flagged
        if legal_basis.younger_than(
            db, owner, c.client_id, age_of_majority, at=at, tz=tz, keys=keys
        )
    ]
    if flagged:  # every such client's releases naming the recipient, in two queries
        consent_gate.prefetch(
            db,
            [(owner, c.client_id) for c in flagged],
            recipient=recipient,
            at=at,
            keys=keys,
            cache=cache.candidates,
        )
    decisions = []
    for candidate in flagged:
        verdict, role, rule = _gates(
            db,
            requester=requester,
            recipient_agency=recipient,
            owner=owner,
            client_id=candidate.client_id,
            section=section,
            at=at,
            tz=tz,
            cache=cache,
            keys=keys,
        )
        entries.append(
            _entry(
                verdict,
                requester=requester,
                owner=owner,
                role=role,
                rule=rule,
                client_ref=candidate.client_ref,
                subject=candidate.screening_ref,
                at=at,
            )
        )
        decisions.append(
            _decision(
                db,
                verdict,
                client_id=candidate.client_id,
                keys=keys,
                cache=cache,
                refs=(candidate.screening_ref,),
            )
        )
    return Referrals(owner, None, tuple(decisions), more)


def referral_ref(decision: Released) -> str | None:
    """The referral's reference (the owner's screening's public id) in released content."""
    label = section_of(SECTION).fields[0].label
    return next((str(row.value) for row in decision.content.rows if row.label == label), None)


def received_entries(
    requester: Requester, found: Referrals, *, at: datetime, agency_id: int
) -> list[dict]:
    """The requester's side: one entry per referral released to it, in its own log, made
    from what came back (so the same for an owner here and one elsewhere)."""
    return [
        entry_values(
            AuditTag.DISCLOSURE_RECEIVED,
            agency_id=agency_id,
            actor=requester,
            subject=referral_ref(decision),
            detail={
                "owner": found.owner.public_id,
                **({"legal_basis": decision.legal_basis} if decision.legal_basis else {}),
            },
            at=at,
            disclosure=_facts(
                decision,
                case_ref=None,
                client_ref=None,  # the client record belongs to the owner, not to us
                purpose=requester.purpose,
                viewer_role=requester.audit_role(decision.role),
                rule=decision.policy_rule,
            ),
        )
        for decision in found.released
    ]
