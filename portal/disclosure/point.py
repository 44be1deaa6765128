"""The disclosure point: the one function that answers a request for an owner's section.

Both gates must allow: the owner's policy (Casbin) and the client's consent (a signed
release in effect now). Every decision, released or withheld, appends exactly one entry
to the OWNER's audit log; a release also appends one entry to the viewer agency's log,
so both sides of every disclosure can be reconciled.

Own agency: staff reading their own agency's records need no consent (the agency holds
the record), but the policy gate still applies to them — need to know by role, so e.g.
an administrator never reads survivor content and an agency can keep clinical notes
from its own non-clinical staff. Their reads are logged like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, select

import consent
from portal.audit import AuditTag, DisclosureFacts, entry_values, record, record_many
from portal.crypto import KeyWrapper
from portal.db import read
from portal.disclosure import consent_gate, content, own, policy
from portal.disclosure.wording import policy_reason
from portal.errors import Invalid, NotFound
from portal.models import Agency, CaseLink, Client, ConsentRelease, MdtCase, Role
from portal.sections import Section, catalogue

POLICY = "policy"
NOT_LINKED = "not_linked"
NO_CONSENT = consent_gate.NO_CONSENT
CONSENT_EXPIRED = consent_gate.CONSENT_EXPIRED
CONSENT_REVOKED = consent_gate.CONSENT_REVOKED
GATES = (POLICY, NOT_LINKED, NO_CONSENT, CONSENT_EXPIRED, CONSENT_REVOKED)
GATE_LABELS = {
    POLICY: "disclosure policy",
    NOT_LINKED: "not linked to this case",
    NO_CONSENT: "no consent",
    CONSENT_EXPIRED: "consent expired",
    CONSENT_REVOKED: "consent revoked",
}


@dataclass(frozen=True)
class Released:
    section: Section
    owner: Agency
    content: content.Content
    release_ref: str | None  # None when the viewer is the owner's own staff
    policy_rule: str | None
    decision: str = field(default="released", init=False)


@dataclass(frozen=True)
class Withheld:
    """A placeholder: says THAT something is withheld and which gate, never what, and
    never whether the owner holds anything in this section at all."""

    section: Section
    owner: Agency
    gate: str
    reason: str
    decision: str = field(default="withheld", init=False)

    @property
    def gate_label(self) -> str:
        return GATE_LABELS[self.gate]


@dataclass(frozen=True)
class ReleasedUnseen:
    """In a preview only: the recipient would receive this section, but the staff member
    previewing may not read it under their own agency's policy, so only its field names
    are shown (need to know holds inside the owner agency too)."""

    section: Section
    owner: Agency
    release_ref: str | None
    policy_rule: str | None
    reason: str  # why the previewing staff member is not shown the content
    decision: str = field(default="released", init=False)
    unseen: bool = field(default=True, init=False)

    @property
    def field_labels(self) -> tuple[str, ...]:
        labels = tuple(f.label for f in self.section.fields)
        if self.section.identifying:
            labels = tuple(label for _key, label in content.IDENTITY_ROWS) + labels
        return labels


Decision = Released | Withheld


@dataclass(frozen=True)
class _Allowed:
    """Both gates allowed: what the audit entry needs, before the content is read."""

    section: Section
    owner: Agency
    release_ref: str | None
    policy_rule: str | None
    decision: str = field(default="released", init=False)


Verdict = _Allowed | Withheld


@dataclass(frozen=True)
class Recipient:
    """Who would receive: an agency and the roles of the person asking."""

    agency: Agency
    roles: frozenset[str]


def parse_purpose(value: str | None) -> str:
    try:
        return consent.Purpose(value or consent.Purpose.MDT_CASE_REVIEW).value
    except ValueError:
        raise Invalid("purpose", "Choose a purpose from the list.") from None


def section_of(section: Section | str) -> Section:
    found = catalogue().get(section if isinstance(section, str) else section.key)
    if found is None:
        raise NotFound("section")
    return found


_LINKS = (
    select(CaseLink.agency_id, CaseLink.client_id, CaseLink.confirmed_at, Client.public_id)
    .join(Client, Client.id == CaseLink.client_id, isouter=True)
    .where(CaseLink.case_id == bindparam("case"))
)


def _owner_client(db: Session, case: MdtCase, owner: Agency, viewer_agency: Agency, memo: dict):
    """The owner's own client on this case, or None when the owner (or the viewer) is not
    a confirmed part of it."""
    key = ("link", case.id, owner.id, viewer_agency.id)
    if key not in memo:
        if ("links", case.id) not in memo:
            links = {}
            for agency_id, client_id, confirmed_at, client_ref in read(
                db, _LINKS, {"case": case.id}
            ):
                links[agency_id] = (client_id, confirmed_at)
                memo[("client_ref", client_id)] = client_ref
            memo[("links", case.id)] = links
        links = memo[("links", case.id)]
        viewer_in = viewer_agency.id == case.coordinating_agency_id or viewer_agency.id in links
        client_id, confirmed_at = links.get(owner.id, (None, None))
        ok = viewer_in and confirmed_at is not None and client_id is not None
        memo[key] = client_id if ok else None
    return memo[key]


def prefetch(db: Session, viewer, case: MdtCase, owners: list[Agency], *, at: datetime, memo: dict):
    """Read, for several owners at once, what their decisions will need: the case's links,
    each owner's policy in force and the client's releases naming the viewer's agency.

    Only ever into one request's memo: everything here is read again on the next request,
    so a revocation, an expiry or a policy change counts at once."""
    for owner_id, policy_in_force in policy.owner_policies(db, owners).items():
        memo[("policy", owner_id)] = policy_in_force
    others = [
        (owner, client_id)
        for owner in owners
        if owner.id != viewer.agency.id
        and (client_id := _owner_client(db, case, owner, viewer.agency, memo)) is not None
    ]
    if others:
        consent_gate.prefetch(db, others, recipient=viewer.agency, at=at, memo=memo)


def _gates(
    db: Session,
    *,
    recipient: Recipient,
    owner: Agency,
    client_id: int | None,
    section: Section,
    purpose: str,
    at: datetime,
    memo: dict,
    only_release_id: int | None = None,
) -> tuple[Verdict, str | None, str | None]:
    """The verdict, the role it was made for and the policy line that matched. Shared by
    disclose() and preview(); an allowed section's content is read by `_decision()`."""
    if client_id is None:
        return (
            Withheld(
                section, owner, NOT_LINKED, "this agency's records are not linked to this case"
            ),
            None,
            None,
        )
    own = recipient.agency.id == owner.id and only_release_id is None
    if ("policy", owner.id) not in memo:
        memo[("policy", owner.id)] = policy.owner_policy(db, owner)
    answer, role = policy.decide(
        memo[("policy", owner.id)],
        owner,
        kind=recipient.agency.kind,
        roles=recipient.roles,
        section=section.key,
        purpose=purpose,
    )
    if not answer.allowed:
        reason = policy_reason(
            section, roles=recipient.roles, kind=recipient.agency.kind, own=own, purpose=purpose
        )
        return (
            Withheld(section, owner, POLICY, reason),
            role,
            answer.rule,
        )
    release_ref = None
    if not own:
        found = consent_gate.candidates(
            db,
            owner=owner,
            client_id=client_id,
            recipient=recipient.agency,
            at=at,
            memo=memo,
            only_release_id=only_release_id,
        )
        allowed = consent_gate.check(
            found,
            recipient=recipient.agency,
            section_key=section.key,
            section_title=section.title,
            purpose=purpose,
            at=at,
        )
        if not allowed.allowed:
            return Withheld(section, owner, allowed.gate, allowed.reason), role, answer.rule
        release_ref = allowed.release_ref
    return _Allowed(section, owner, release_ref, answer.rule), role, answer.rule


def _decision(
    db: Session, verdict: Verdict, *, client_id, keys: KeyWrapper, memo: dict, case_id=None
) -> Decision:
    """The decision for a verdict: an allowed section with its content read, or the
    placeholder as it stands."""
    if isinstance(verdict, Withheld):
        return verdict
    loaded = content.load(
        db,
        owner_id=verdict.owner.id,
        client_id=client_id,
        section=verdict.section,
        keys=keys,
        memo=memo,
        case_id=case_id,
    )
    return Released(
        verdict.section, verdict.owner, loaded, verdict.release_ref, verdict.policy_rule
    )


def _facts(decision, *, case_ref, client_ref, purpose, role, roles, rule) -> DisclosureFacts:
    return DisclosureFacts(
        case_ref=case_ref,
        client_ref=client_ref,
        section_key=decision.section.key,
        purpose=purpose,
        decision=decision.decision,
        gate=getattr(decision, "gate", None),
        release_ref=getattr(decision, "release_ref", None),
        policy_rule=rule,
        viewer_role=role or ",".join(sorted(roles))[:30] or None,
    )


def disclose(
    db: Session,
    viewer,
    case: MdtCase,
    owner: Agency,
    section: Section | str,
    purpose: str,
    at: datetime,
    *,
    keys: KeyWrapper,
    memo: dict | None = None,
) -> Decision:
    """Released content, or a placeholder naming the gate that withheld it.

    `viewer` has .user, .agency and .roles. `memo` may be shared by the calls of ONE
    request (a case summary) and must never outlive it: that is what makes a revocation,
    an expiry or a policy change count on the very next request.
    """
    (decision,) = disclose_sections(
        db, viewer, case, owner, [section], purpose, at, keys=keys, memo=memo
    )
    return decision


def disclose_sections(
    db: Session,
    viewer,
    case: MdtCase,
    owner: Agency,
    sections: list[Section | str],
    purpose: str,
    at: datetime,
    *,
    keys: KeyWrapper,
    memo: dict | None = None,
    entries_into: list | None = None,
) -> list[Decision]:
    """`disclose()` for several sections of one owner: each decided on its own, exactly as
    one call would be, and each audited; the entries are written in one batch.

    `entries_into`: a list in which to leave the entries instead, for a caller deciding
    several owners in the same transaction to write them all at once (it must)."""
    memo = {} if memo is None else memo
    purpose = parse_purpose(purpose)
    recipient = Recipient(viewer.agency, frozenset(viewer.roles))
    client_id = _owner_client(db, case, owner, viewer.agency, memo)
    verdicts, entries = [], []
    for section in sections:
        verdict, written = _decide(
            db, viewer, recipient, case, owner, client_id, section_of(section), purpose, at, memo
        )
        verdicts.append(verdict)
        entries.extend(written)
    # Every section decided first, then the allowed ones read one after another.
    decisions = [
        _decision(db, verdict, client_id=client_id, keys=keys, memo=memo, case_id=case.id)
        for verdict in verdicts
    ]
    if entries_into is None:
        record_many(db, entries)
    else:
        entries_into.extend(entries)
    return decisions


def _decide(
    db, viewer, recipient, case, owner, client_id, section, purpose, at, memo
) -> tuple[Verdict, list]:
    """One verdict and the audit entries it owes: one in the owner's log, and for a
    release to another agency one in the viewer agency's log."""
    decision, role, rule = _gates(
        db,
        recipient=recipient,
        owner=owner,
        client_id=client_id,
        section=section,
        purpose=purpose,
        at=at,
        memo=memo,
    )
    own = recipient.agency.id == owner.id
    facts = _facts(
        decision,
        case_ref=case.reference,
        client_ref=memo.get(("client_ref", client_id)),
        purpose=purpose,
        role=role,
        roles=recipient.roles,
        rule=rule,
    )
    actor = (viewer.user.public_id, viewer.agency.public_id)
    entries = [
        entry_values(
            AuditTag.DISCLOSURE_RELEASED
            if decision.decision == "released"
            else AuditTag.DISCLOSURE_WITHHELD,
            agency_id=owner.id,
            actor=actor,
            subject=case.reference,
            detail={
                "viewer_agency": viewer.agency.public_id,
                "owner": owner.public_id,
                "own_agency": own,
                "reason": getattr(decision, "reason", None),
            },
            at=at,
            disclosure=facts,
        )
    ]
    if decision.decision == "released" and not own:
        entries.append(
            entry_values(
                AuditTag.DISCLOSURE_RECEIVED,
                agency_id=viewer.agency.id,
                actor=actor,
                subject=case.reference,
                detail={"owner": owner.public_id},
                at=at,
                disclosure=DisclosureFacts(
                    case_ref=case.reference,
                    client_ref=None,  # the client record belongs to the owner, not to us
                    section_key=section.key,
                    purpose=purpose,
                    decision="released",
                    release_ref=facts.release_ref,
                    policy_rule=rule,
                    viewer_role=facts.viewer_role,
                ),
            )
        )
    return decision, entries


def preview(
    db: Session,
    staff,
    release_row: ConsentRelease,
    recipient_agency: Agency,
    role: str,
    at: datetime,
    *,
    keys: KeyWrapper,
) -> list[Decision]:
    """What `recipient_agency` staff in `role` would see under this one release, for every
    section the owner could contribute. Same gates as disclose(); audited in the owner's
    log as the owner's own staff viewing a preview, not as a disclosure to the recipient."""
    owner = db.get(Agency, release_row.agency_id)
    if staff.agency.id != owner.id:
        raise NotFound("release")
    if role not in {r.value for r in Role}:
        raise Invalid("role", "Choose a role from the list.")
    memo: dict = {}
    recipient = Recipient(recipient_agency, frozenset({role}))
    owner_sections = catalogue().for_discipline(owner.discipline)
    # What the previewing staff member may read themselves, under their agency's policy.
    mine = {
        answer.section.key: answer
        for answer in own.decide_many(db, staff, owner_sections, purpose=release_row.purpose)
    }
    decisions = []
    for section in owner_sections:
        verdict, _role, rule = _gates(
            db,
            recipient=recipient,
            owner=owner,
            client_id=release_row.client_id,
            section=section,
            purpose=release_row.purpose,
            at=at,
            memo=memo,
            only_release_id=release_row.id,
        )
        if isinstance(verdict, _Allowed) and mine[section.key].withheld:
            decision = ReleasedUnseen(
                section,
                owner,
                verdict.release_ref,
                verdict.policy_rule,
                mine[section.key].reason,
            )
        else:
            decision = _decision(db, verdict, client_id=release_row.client_id, keys=keys, memo=memo)
        record(
            db,
            AuditTag.DISCLOSURE_PREVIEWED,
            agency_id=owner.id,
            actor=staff.user,
            subject=release_row.public_id,
            detail={
                "preview_for_agency": recipient_agency.public_id,
                "preview_for_role": role,
                "owner": owner.public_id,
                "content_shown": isinstance(decision, Released),
            },
            at=at,
            disclosure=_facts(
                decision,
                case_ref=None,
                client_ref=db.get(Client, release_row.client_id).public_id,
                purpose=release_row.purpose,
                role=role,
                roles=recipient.roles,
                rule=rule,
            ),
        )
        decisions.append(decision)
    return decisions
