"""The disclosure point: the one place that answers a request for an owner's sections.

Both gates must allow: the owner's policy (Casbin) and the client's consent (a signed
release in effect now). The point takes a `Requester` — who is asking, exactly as a signed
node-to-node request carries it — and returns typed decisions: released content, or
withheld with the gate that withheld it.

Two sides, each writing its own log: the owner's side (`answer()`) appends one entry per
decision, released or withheld, to the OWNER's log; the requester's side
(`portal.disclosure.receipt`) appends what was received to the requester agency's log,
from what came back. The same two steps serve a requester on another node.

Own agency: staff reading their own agency's records need no consent (the agency holds
the record), but the policy gate still applies to them — need to know by role, so an
administrator never reads survivor content and an agency can keep clinical notes from its
own non-clinical staff. Their reads are logged like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

from nacl.exceptions import CryptoError
from sqlalchemy import bindparam
from sqlmodel import Session, select

import consent
from portal.audit import AuditTag, DisclosureFacts, entry_values, record, record_many
from portal.crypto import KeyWrapper, SealedElsewhere
from portal.db import read
from portal.disclosure import (
    case_links,
    consent_gate,
    content,
    legal_basis,
    own,
    policy,
    receipt,
    requester_held,
)
from portal.disclosure.cache import RequestCache
from portal.disclosure.gates import Gate, Withholding
from portal.errors import Invalid, NotFound
from portal.hosting import is_local
from portal.models import Agency, CaseLink, Client, ConsentRelease, MdtCase, Role
from portal.placeholders import sentence
from portal.requester import LOCAL_NODE, Requester
from portal.sections import Section, catalogue

log = logging.getLogger(__name__)

# The gates by their old names, for callers that compare a decision's gate to a string.
POLICY = Gate.POLICY
NOT_LINKED = Gate.NOT_LINKED
NO_CONSENT = Gate.NO_CONSENT
CONSENT_EXPIRED = Gate.CONSENT_EXPIRED
CONSENT_REVOKED = Gate.CONSENT_REVOKED
GATES = tuple(Gate)
GATE_LABELS = {gate: gate.label for gate in Gate}


@dataclass(frozen=True)
class ReleasedLine:
    """A line of a released section that another section's gates released (a needs
    assessment's substance use line): that section's disclosure, under its own release and
    policy line, which the owner's log enters as such and the recipient's receipts name."""

    section: Section  # the section whose gates released it
    line: str  # the line (the option of the field that holds it)
    release_ref: str | None
    policy_rule: str | None
    role: str | None = None


@dataclass(frozen=True)
class Released:
    section: Section
    owner: Agency
    content: content.Content
    release_ref: str | None  # None when the requester is the owner's own staff
    policy_rule: str | None
    role: str | None = None  # the requester's role the policy released it to
    # "citation (public id)": a statute the owner shares under in place of a release
    legal_basis: str | None = None
    # The facts behind each line of a needs list, and each option of a checklist, that is a
    # placeholder, by the row's label and the line: the content says them in English (as
    # the API and the wire carry it); a page read with the survivor says them in its
    # language from these.
    parts_why: tuple[tuple[str, str, Withholding], ...] = ()
    # The statements this disclosure must carry to its recipient (`_notices`), in the
    # owner's words: a requester shows them with the content, wherever it shows it.
    notices: tuple[str, ...] = ()
    # The lines released under other sections' gates, each under its own release.
    lines: tuple[ReleasedLine, ...] = ()
    decision: str = field(default="released", init=False)

    def withheld_parts(self, label: str) -> dict[str, Withholding]:
        return {option: why for row, option, why in self.parts_why if row == label}

    def withheld_option(self, label: str) -> tuple[str, str, Withholding] | None:
        """The checklist's label, the option and the facts, where the row of that label is
        the one `_without_parts` wrote to say a checklist's option is withheld."""
        for row, option, why in self.parts_why:
            if withheld_option_label(row, option) == label:
                return row, option, why
        return None


def withheld_option_label(label: str, option: str) -> str:
    """The label of the text row that stands for a checklist's withheld option."""
    return f"{label}: {option}"


@dataclass(frozen=True)
class Withheld:
    """A placeholder: says THAT something is withheld and which gate, never what, and
    never whether the owner holds anything in this section at all. `why` holds the facts
    of it; the words are chosen by whoever shows it (`portal.placeholders.sentence`)."""

    section: Section
    owner: Agency
    why: Withholding
    decision: str = field(default="withheld", init=False)

    @property
    def gate(self) -> Gate:
        return self.why.gate

    @property
    def gate_label(self) -> str:
        return self.why.gate.label


@dataclass(frozen=True)
class ReleasedUnseen:
    """In a preview only: the recipient would receive this section, but the staff member
    previewing may not read it under their own agency's policy, so only its field names
    are shown (need to know holds inside the owner agency too)."""

    section: Section
    owner: Agency
    release_ref: str | None
    policy_rule: str | None
    why: Withholding  # why the previewing staff member is not shown the content
    decision: str = field(default="released", init=False)
    unseen: bool = field(default=True, init=False)

    @property
    def field_labels(self) -> tuple[str, ...]:
        labels = tuple(f.label for f in self.section.fields)
        if self.section.identifying:
            labels = tuple(label for _key, label in self.section.identity_labels) + labels
        return labels


Decision = Released | Withheld


class OwnerElsewhere(Exception):
    """The point asked to decide for an agency that another node hosts: a caller's mistake,
    never an answer. That agency's point is on its own node (asked over
    `portal.federation`), which alone holds its records, releases and log; a decision here
    would read this node's copy (or absence) of them and write that agency's decision into a
    log that is not its own. Raised before anything is read or written."""


def _hosted_here(db: Session, owner: Agency) -> None:
    """Deny by default: only an agency this node hosts is decided for here."""
    if not is_local(db, owner):
        raise OwnerElsewhere(f"{owner.public_id} is hosted on another node: ask its own point")


@dataclass(frozen=True)
class _Relied:
    """What an MDT record's release rested on at one agency on the case: the release of the
    survivor it serves, or its legal basis (named as `legal_basis.named` names it)."""

    agency_id: int
    client_id: int
    release_ref: str | None
    legal_basis: str | None = None


@dataclass(frozen=True)
class _Allowed:
    """Both gates allowed: what the audit entry needs, before the content is read."""

    section: Section
    owner: Agency
    release_ref: str | None
    policy_rule: str | None
    role: str | None = None
    legal_basis: str | None = None
    # (field key, option, placeholder): lines of the section another section's gates
    # withhold (`_with_parts_decided`).
    parts_withheld: tuple[tuple[str, str, Withheld], ...] = ()
    # (option, verdict): lines of the section released under another section's gates, each
    # audited under that section's own release and policy line (`answer`).
    parts_released: tuple[tuple[str, _Allowed], ...] = ()
    # An MDT record: every survivor's release (or legal basis) it was released under.
    relied_on: tuple[_Relied, ...] = ()
    decision: str = field(default="released", init=False)


Verdict = _Allowed | Withheld


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
    select(
        CaseLink.agency_id,
        CaseLink.client_id,
        CaseLink.confirmed_at,
        Client.public_id,
        CaseLink.release_ref,
    )
    .join(Client, Client.id == CaseLink.client_id, isouter=True)
    .where(CaseLink.case_id == bindparam("case"))
)


def not_linked(requester: Requester, owner: Agency, section: Section | str) -> Withheld:
    """The placeholder of an owner not on the case, as `_gates` gives it to a partner: what
    an owner's node answers in its place where even that it is on the case may not be told
    (`portal.federation.owner.disclosures`)."""
    return _placeholder(requester, owner, section_of(section), Gate.NOT_LINKED)


def answered_as_not_linked(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list[Section | str],
    *,
    because: Withheld,
    at: datetime,
) -> list[Withheld]:
    """An owner that may not tell this requester it takes part in the case (`because`: its
    point's `participation` decision, withheld) answers every section as an owner not on
    the case, nothing of them read; and, as for any denial, writes each in its own log,
    withheld for the reason it may not tell (the true gate, beside what was answered). The
    `participation` decision itself is in the log already."""
    placeholders = [not_linked(requester, owner, section) for section in sections]
    record_many(
        db,
        [
            entry_values(
                AuditTag.DISCLOSURE_WITHHELD,
                agency_id=owner.id,
                actor=requester,
                subject=case.reference,
                detail={
                    "viewer_agency": requester.agency,
                    "viewer_node": requester.node,
                    "owner": owner.public_id,
                    "own_agency": False,
                    "reason": sentence(because.why),
                    "answered": sentence(placeholder.why),
                },
                at=at,
                disclosure=DisclosureFacts(
                    case_ref=case.reference,
                    client_ref=None,  # not looked up: nothing of the client was read
                    section_key=placeholder.section.key,
                    purpose=requester.purpose,
                    decision="withheld",
                    gate=because.gate,
                    viewer_role=requester.audit_role(),
                ),
            )
            for placeholder in placeholders
            if placeholder.section.key != because.section.key
        ],
    )
    return placeholders


def _placeholder(
    requester: Requester,
    owner: Agency,
    section: Section,
    gate: Gate,
    *,
    own_agency: bool = False,
    release_status: str | None = None,
) -> Withheld:
    why = Withholding(
        gate,
        section,
        roles=requester.roles,
        agency_kind=requester.agency_kind,
        own_agency=own_agency,
        purpose=requester.purpose,
        release_status=release_status,
    )
    return Withheld(section, owner, why)


def _load_links(
    db: Session, case: MdtCase, *, at: datetime, keys: KeyWrapper, cache: RequestCache
) -> dict:
    """The case's links, once per request. A link confirmed under a release that is no
    longer in effect (revoked, expired) stays on record but counts as not confirmed for
    anyone but its own agency (issue 14): nothing more of that client reaches a partner."""
    if case.id not in cache.links:
        links, lapsed = {}, set()
        coordinating = None
        for agency_id, client_id, confirmed_at, client_ref, release_ref in read(
            db, _LINKS, {"case": case.id}
        ):
            links[agency_id] = (client_id, confirmed_at)
            cache.client_refs[client_id] = client_ref
            if client_id is None or confirmed_at is None:
                continue
            owner, joined = db.get(Agency, agency_id), None
            if release_ref is not None:
                coordinating = coordinating or db.get(Agency, case.coordinating_agency_id)
                joined = consent_gate.joining_release(
                    db,
                    owner=owner,
                    client_id=client_id,
                    coordinating=coordinating,
                    purpose=consent.Purpose.MDT_CASE_REVIEW.value,
                    at=at,
                    keys=keys,
                )
                if joined is None:
                    lapsed.add(agency_id)
            case_links.note(
                db,
                case.reference,
                client_ref,
                None
                if agency_id in lapsed
                else case_links.Linked(case.id, agency_id, client_id, owner.public_id, joined),
            )
        cache.links[case.id] = links
        cache.lapsed[case.id] = lapsed
    return cache.links[case.id]


def vouched_for(
    db: Session,
    case: MdtCase,
    agency: Agency,
    *,
    at: datetime,
    keys: KeyWrapper,
    cache: RequestCache,
) -> None:
    """`agency` takes part in `case` for this request only, on the word of the case's
    coordinating agency (a signed voucher its caller checked): nothing of it is kept here
    beyond what this request's entries say."""
    _load_links(db, case, at=at, keys=keys, cache=cache).setdefault(agency.id, (None, at))


# The section whose release says a community-based agency's taking part may be told.
PARTICIPATION = "participation"


def told_to_agency(
    db: Session,
    case: MdtCase,
    holder: Agency,
    recipient: Agency,
    *,
    asked_by: Requester,
    at: datetime,
    keys: KeyWrapper,
) -> bool:
    """Whether `recipient`'s node may hold that `holder` (a community-based agency, whose
    serving this survivor is its own to disclose) takes part in `case`, so that its staff
    may ask: the holder's survivor on the case has a release in effect naming `recipient`
    for taking part, in MDT case review. Decided and audited in the holder's log (asked by
    the case's coordinator, `asked_by`); each of the recipient's staff who asks later is
    decided under the holder's policy too, as any requester is.

    A recipient that is not a part of the case as this node knows it (its coordinator, or a
    confirmed link) is answered as not linked, the release never read: what the survivor's
    release names is not told to anyone about an agency with no part in the case."""
    _hosted_here(db, holder)
    cache = RequestCache()
    links = _load_links(db, case, at=at, keys=keys, cache=cache)
    client_id, confirmed_at = links.get(holder.id, (None, None))
    purpose = consent.Purpose.MDT_CASE_REVIEW.value
    gate, release_ref = Gate.NOT_LINKED, None
    if (
        client_id is not None
        and confirmed_at is not None
        and holder.id not in cache.lapsed[case.id]
        and _on_case(case, recipient.id, links, cache.lapsed[case.id])
    ):
        found = consent_gate.candidates(
            db,
            owner=holder,
            client_id=client_id,
            recipient=recipient,
            at=at,
            keys=keys,
            cache=cache.candidates,
        )
        # No sentence of this answer is shown to anyone: the zone of its dates is UTC.
        allowed = consent_gate.check(
            found, recipient=recipient, section_key=PARTICIPATION, purpose=purpose, at=at, tz=UTC
        )
        gate, release_ref = (
            (None, allowed.release_ref) if allowed.allowed else (Gate(allowed.gate), None)
        )
    decision = "released" if gate is None else "withheld"
    # The entry names as its recipient the agency whose node is told (the survivor's
    # accounting lists it so), and in its detail the coordinator that asked.
    told = Requester(
        node=asked_by.node,
        agency=recipient.public_id,
        agency_kind=recipient.kind,
        user=None,
        roles=frozenset(),
        purpose=purpose,
    )
    record(
        db,
        AuditTag.DISCLOSURE_RELEASED if gate is None else AuditTag.DISCLOSURE_WITHHELD,
        agency_id=holder.id,
        actor=told,
        subject=case.reference,
        detail={
            "owner": holder.public_id,
            "told_to_node_of": recipient.public_id,
            "asked_by": asked_by.agency,
            "asked_by_user": asked_by.user,
        },
        at=at,
        disclosure=DisclosureFacts(
            case_ref=case.reference,
            client_ref=cache.client_refs.get(client_id),
            section_key=PARTICIPATION,
            purpose=purpose,
            decision=decision,
            gate=None if gate is None else gate.value,
            release_ref=release_ref,
        ),
    )
    return gate is None


def consent_for_record(
    db: Session,
    case: MdtCase,
    holder: Agency,
    recipient: Agency,
    section: Section | str,
    *,
    requester: Requester,
    asked_by: str,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
) -> tuple[str | None, str | None]:
    """The case's coordinator (`asked_by`, its public id) asks whether the survivor this
    holder serves on `case` consents to an MDT record of the case (`section`) reaching
    `recipient`, for `requester` (who asked the coordinator, as it says): a release in
    effect naming the recipient for the record and purpose, or the holder's legal basis
    covering it. Decided and audited here, in the holder's log: relied on, or withheld with
    the gate. Returns (the gate that withheld it, or None; the release relied on)."""
    _hosted_here(db, holder)
    section = section_of(section)
    cache = RequestCache()
    links = _load_links(db, case, at=at, keys=keys, cache=cache)
    client_id, confirmed_at = links.get(holder.id, (None, None))
    purpose = requester.purpose
    gate, release_ref, named = Gate.NOT_LINKED, None, None
    if client_id is not None and confirmed_at is not None and holder.id in cache.lapsed[case.id]:
        gate = Gate.CONSENT_REVOKED  # the survivor's agreement to take part is not in effect
    elif section.of_case and client_id is not None and confirmed_at is not None:
        found = consent_gate.candidates(
            db, owner=holder, client_id=client_id, recipient=recipient, at=at, keys=keys, cache={}
        )
        allowed = consent_gate.check(
            found, recipient=recipient, section_key=section.key, purpose=purpose, at=at, tz=tz
        )
        if allowed.allowed:
            gate, release_ref = None, allowed.release_ref
        else:
            basis = legal_basis.covering(
                db,
                holder,
                client_id=client_id,
                section_key=section.key,
                purpose=purpose,
                at=at,
                tz=tz,
                keys=keys,
                cache={},
            )
            gate = Gate(allowed.gate) if basis is None else None
            named = None if basis is None else legal_basis.named(basis)
    record(
        db,
        AuditTag.DISCLOSURE_RELIED_ON if gate is None else AuditTag.DISCLOSURE_WITHHELD,
        agency_id=holder.id,
        actor=requester,
        subject=case.reference,
        detail={
            "viewer_agency": requester.agency,
            "viewer_node": requester.node,
            "owner": asked_by,
            "asked_by": asked_by,
            **({"legal_basis": named} if named else {}),
        },
        at=at,
        disclosure=DisclosureFacts(
            case_ref=case.reference,
            client_ref=cache.client_refs.get(client_id),
            section_key=section.key,
            purpose=purpose,
            decision="released" if gate is None else "withheld",
            gate=None if gate is None else gate.value,
            release_ref=release_ref,
            viewer_role=requester.audit_role(),
        ),
    )
    return (None if gate is None else gate.value), release_ref


def logs_relied_on(
    db: Session, case: MdtCase, sections, *, at: datetime, keys: KeyWrapper, cache: RequestCache
) -> list[int]:
    """The logs besides the owners' that answering `sections` of `case` may write to: those
    of the agencies here serving a survivor on the case, whose releases an MDT record is
    released under (`_relied_entries`). For a caller that locks its logs before answering,
    so that every head is taken in the one fixed order."""
    found = [catalogue().get(s if isinstance(s, str) else s.key) for s in sections]
    if case.id is None or not any(section is not None and section.of_case for section in found):
        return []
    links = _load_links(db, case, at=at, keys=keys, cache=cache)
    return [
        agency_id
        for agency_id, (client_id, confirmed_at) in links.items()
        if client_id is not None and confirmed_at is not None
    ]


def lapsed_links(db: Session, case: MdtCase, *, at: datetime, keys: KeyWrapper) -> set[int]:
    """The agencies whose client joined this case under a release no longer in effect:
    the coordinator's cue that the case needs a new release from that survivor."""
    cache = RequestCache()
    _load_links(db, case, at=at, keys=keys, cache=cache)
    return cache.lapsed[case.id]


def _owner_client(
    db: Session,
    case: MdtCase,
    owner: Agency,
    requester_agency: Agency,
    cache: RequestCache,
    *,
    at: datetime,
    keys: KeyWrapper,
) -> int | None:
    """The owner's own client on this case, or None when the owner is not a confirmed part
    of it, or, for a requester of another agency, when the requester is not on the case
    (`_on_case`) or the release the owner's client joined under is no longer in effect."""
    links = _load_links(db, case, at=at, keys=keys, cache=cache)
    client_id, confirmed_at = links.get(owner.id, (None, None))
    if confirmed_at is None:
        return None
    if owner.id == requester_agency.id:  # its own client: its own to read, lapsed or not
        return client_id
    lapsed = cache.lapsed[case.id]
    if owner.id in lapsed or not _on_case(case, requester_agency.id, links, lapsed):
        return None
    return client_id


def _on_case(case: MdtCase, agency_id: int, links: dict, lapsed: set[int]) -> bool:
    """Whether an agency is a part of the case for what other agencies hold of it: the
    coordinating agency, on its own case whatever its own client's link; or an agency whose
    link is confirmed and whose client's release to join is in effect (issue 14). One whose
    survivor withdrew from the case is answered as one not on it, as the coordinating
    agency refuses it a voucher for owners elsewhere (`portal.federation.vouchers`)."""
    if agency_id == case.coordinating_agency_id:
        return True
    _client_id, confirmed_at = links.get(agency_id, (None, None))
    return confirmed_at is not None and agency_id not in lapsed


def prefetch(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owners: list[Agency],
    *,
    at: datetime,
    keys: KeyWrapper,
    cache: RequestCache,
) -> None:
    """Read, for several owners at once, what their decisions will need: the case's links,
    each owner's policy and legal bases in force and the client's releases naming the
    requester's agency."""
    requester_agency = cache.agency(db, requester.agency)
    cache.policies.update(policy.owner_policies(db, owners))
    legal_basis.prefetch(db, owners, at=at, cache=cache.legal_bases)
    others = [
        (owner, client_id)
        for owner in owners
        if owner.public_id != requester.agency
        and (client_id := _owner_client(db, case, owner, requester_agency, cache, at=at, keys=keys))
        is not None
    ]
    if others:
        consent_gate.prefetch(
            db, others, recipient=requester_agency, at=at, keys=keys, cache=cache.candidates
        )


def _gates(
    db: Session,
    *,
    requester: Requester,
    recipient_agency: Agency,
    owner: Agency,
    client_id: int | None,
    section: Section,
    at: datetime,
    tz: tzinfo,
    cache: RequestCache,
    keys: KeyWrapper,
    only_release_id: int | None = None,
    case: MdtCase | None = None,
    elsewhere_needed: list | None = None,
) -> tuple[Verdict, str | None, str | None]:
    """The verdict, the role it was made for and the policy line that matched. Shared by
    answer() and preview(); an allowed section's content is read by `_decision()`."""
    purpose = requester.purpose
    own_staff = requester.agency == owner.public_id and only_release_id is None

    def withheld(gate: Gate, release_status: str | None = None) -> Withheld:
        return _placeholder(
            requester, owner, section, gate, own_agency=own_staff, release_status=release_status
        )

    # An MDT record (kept per case) asks no one client's link: see _case_consent.
    if client_id is None and not (section.of_case and (own_staff or case is not None)):
        return withheld(Gate.NOT_LINKED), None, None
    if owner.id not in cache.policies:
        cache.policies[owner.id] = policy.owner_policy(db, owner)
    requester_held.note(db, requester)
    answer, role = policy.decide(
        cache.policies[owner.id],
        owner,
        kind=policy.OWN if own_staff else requester.agency_kind,
        roles=requester.roles,
        section=section.key,
        purpose=purpose,
    )
    if not answer.allowed:
        return withheld(Gate.POLICY), role, answer.rule
    release_ref = None
    # An MDT record asks every survivor on the case; a release previewed on its own (no
    # case) is asked for its own client only.
    if not own_staff and section.of_case and case is not None:
        consented = _case_consent(
            db,
            case,
            recipient_agency,
            owner,
            section,
            purpose=purpose,
            at=at,
            tz=tz,
            keys=keys,
            cache=cache,
            withheld=withheld,
            elsewhere_needed=elsewhere_needed,
        )
        if isinstance(consented, Withheld):
            return consented, role, answer.rule
        release_ref, bases, relied = consented
        allowed = _Allowed(section, owner, release_ref, answer.rule, role, bases, relied_on=relied)
        return allowed, role, answer.rule
    elif not own_staff:
        found = consent_gate.candidates(
            db,
            owner=owner,
            client_id=client_id,
            recipient=recipient_agency,
            at=at,
            keys=keys,
            cache=cache.candidates,
            only_release_id=only_release_id,
        )
        allowed = consent_gate.check(
            found,
            recipient=recipient_agency,
            section_key=section.key,
            purpose=purpose,
            at=at,
            tz=tz,
        )
        if not allowed.allowed:
            basis = (
                None
                if only_release_id is not None  # a preview shows one release, nothing else
                else legal_basis.covering(
                    db,
                    owner,
                    client_id=client_id,
                    section_key=section.key,
                    purpose=purpose,
                    at=at,
                    tz=tz,
                    keys=keys,
                    cache=cache.legal_bases,
                )
            )
            if basis is None:
                return withheld(Gate(allowed.gate), allowed.release_status), role, answer.rule
            named = legal_basis.named(basis)
            return _Allowed(section, owner, None, answer.rule, role, named), role, answer.rule
        release_ref = allowed.release_ref
    return _Allowed(section, owner, release_ref, answer.rule, role), role, answer.rule


def _case_consent(
    db: Session,
    case: MdtCase,
    recipient: Agency,
    owner: Agency,
    section: Section,
    *,
    purpose: str,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache,
    withheld: Callable[[Gate], Withheld],
    elsewhere_needed: list | None = None,
) -> tuple[str | None, str | None, tuple[_Relied, ...]] | Withheld:
    """The consent behind an MDT record (a decision, a task), which is about every survivor
    on the case: each confirmed client of the case, other than the requester agency's own,
    must have a release in effect, held by the agency that serves them, naming the
    requester's agency for this record and purpose, or that agency's signed legal basis
    must cover the record for this survivor (a system-based agency sharing by statute, see
    `legal_basis`). The release used (the first one) and the bases used, named for the audit
    entry, and what each survivor's agency relied on (for its own log, `_relied_entries`);
    or the placeholder, which never says which survivor, or which agency, is missing a
    release. The requester may be an agency hosted elsewhere, on the case by its confirmed
    link alone (its survivor's record is on its own node).
    """
    links = _load_links(db, case, at=at, keys=keys, cache=cache)
    confirmed = {
        agency_id: client_id
        for agency_id, (client_id, confirmed_at) in links.items()
        if confirmed_at is not None and client_id is not None
    }
    # Who takes part: every confirmed link, with a client here or not. An agency hosted
    # elsewhere takes part with no client here (its survivor's record, and the releases
    # naming others, are on its own node): its own survivor needs no release to it, as for
    # an agency here, so its link alone puts it on the case.
    on_case = set(confirmed) | {
        agency_id
        for agency_id, (client_id, confirmed_at) in links.items()
        if confirmed_at is not None
        and client_id is None
        and not is_local(db, db.get(Agency, agency_id))
    }
    # One not on the case is answered first, and alike whatever the case holds: as for a
    # case that does not exist (a lapsed release would tell a stranger that a survivor on
    # this case withdrew).
    # So is one whose own survivor withdrew from the case (`_on_case`).
    if recipient.id != case.coordinating_agency_id and (
        recipient.id not in on_case or recipient.id in cache.lapsed[case.id]
    ):
        return withheld(Gate.NOT_LINKED)
    others = [(a, c) for a, c in sorted(confirmed.items()) if a != recipient.id]
    if not others and recipient.id not in on_case:
        return withheld(Gate.NOT_LINKED)
    lapsed = cache.lapsed[case.id] - {recipient.id}
    if lapsed:  # a survivor's agreement to take part is no longer in effect
        return withheld(Gate.CONSENT_REVOKED)
    # A part confirmed with no client here: an agency hosted elsewhere, whose survivor's
    # releases are kept on its own node. Its node's answer, asked before this decision
    # (`portal.federation.elsewhere_consent`), is in the cache; none is a no (deny by default).
    elsewhere = [
        agency_id
        for agency_id, (client_id, confirmed_at) in links.items()
        if confirmed_at is not None
        and client_id is None
        and agency_id != recipient.id
        and not is_local(db, db.get(Agency, agency_id))
    ]
    used, bases, relied = None, [], []
    for agency_id, client_id in others:
        holder = db.get(Agency, agency_id)
        found = consent_gate.candidates(
            db,
            owner=holder,
            client_id=client_id,
            recipient=recipient,
            at=at,
            keys=keys,
            cache=cache.candidates,
        )
        allowed = consent_gate.check(
            found, recipient=recipient, section_key=section.key, purpose=purpose, at=at, tz=tz
        )
        if allowed.allowed:
            # The entry, in the owner's log, names the owner's own survivor's release: one
            # it can open (others are their agencies' to show).
            if agency_id == owner.id or used is None:
                used = allowed.release_ref
            relied.append(_Relied(agency_id, client_id, allowed.release_ref))
            continue
        basis = legal_basis.covering(
            db,
            holder,
            client_id=client_id,
            section_key=section.key,
            purpose=purpose,
            at=at,
            tz=tz,
            keys=keys,
            cache=cache.legal_bases,
        )
        if basis is None:
            # Never which survivor's release is missing: the gate only (see placeholders).
            return withheld(Gate(allowed.gate))
        named = legal_basis.named(basis)
        if named not in bases:
            bases.append(named)
        relied.append(_Relied(agency_id, client_id, None, named))
    if elsewhere_needed is not None:
        # Every survivor here consents: only now is each node elsewhere worth asking (its
        # answer is a relied-on entry in its own log).
        elsewhere_needed.extend((agency_id, section.key) for agency_id in elsewhere)
        return used, "; ".join(bases) or None, tuple(relied)
    for agency_id in elsewhere:
        gate, release_ref = cache.held_elsewhere.get(
            (case.id, agency_id, section.key, recipient.id), (Gate.NO_CONSENT.value, None)
        )
        if gate is not None:
            return withheld(_gate_of(gate))
        used = used or release_ref
    return used, "; ".join(bases) or None, tuple(relied)


def _gate_of(value: str) -> Gate:
    """The placeholder's gate for a survivor elsewhere whose node said no: a consent gate
    as it named it; anything else (its link not confirmed there) counts as no consent."""
    consent_gates = (Gate.NO_CONSENT, Gate.CONSENT_EXPIRED, Gate.CONSENT_REVOKED)
    return next((gate for gate in consent_gates if gate.value == value), Gate.NO_CONSENT)


def questions_elsewhere(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list[Section | str],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache,
) -> list[tuple[int, str]]:
    """What to ask the nodes of survivors served elsewhere before answering `sections` of
    `case` (MDT records): (holder agency id, section key), for each record the owner's
    policy releases to this requester and every survivor here consents to. Nothing is
    audited here: the answer() that follows decides and writes each entry."""
    if case.id is None or requester.agency == owner.public_id:
        return []
    requester_agency = cache.agency(db, requester.agency)
    client_id = _owner_client(db, case, owner, requester_agency, cache, at=at, keys=keys)
    needed: list[tuple[int, str]] = []
    for given in sections:
        section = section_of(given)
        if not section.of_case:
            continue
        _gates(
            db,
            requester=requester,
            recipient_agency=requester_agency,
            owner=owner,
            client_id=client_id,
            section=section,
            at=at,
            tz=tz,
            cache=cache,
            keys=keys,
            case=case,
            elsewhere_needed=needed,
        )
    return list(dict.fromkeys(needed))


def _with_parts_decided(db: Session, verdict: Verdict, **gate_args) -> Verdict:
    """An allowed section with lines that tell what another section holds (a needs
    assessment's substance use and mental health lines): each such line is released only
    where that section's own gates, asked with the same requester, owner and client, would
    release it. Otherwise the line is a placeholder, whether or not the owner wrote in it."""
    if not isinstance(verdict, _Allowed):
        return verdict
    withheld, released = [], []
    for f in verdict.section.fields:
        for option, guard_key in f.guarded:
            guard, _role, _rule = _gates(db, **gate_args, section=catalogue().get(guard_key))
            if isinstance(guard, Withheld):
                withheld.append((f.key, option, guard))
            elif isinstance(guard, _Allowed):
                released.append((option, guard))
    if not withheld and not released:
        return verdict
    return replace(verdict, parts_withheld=tuple(withheld), parts_released=tuple(released))


def _without_parts(loaded, section: Section, parts) -> content.Content:
    """The content with each withheld line replaced by the placeholder's words: in a needs
    list, the line's status and note; in a checklist, the option leaves the list and a row
    of its own says it is withheld, whether or not it was ticked (rows of text, as the API
    and the wire carry any row)."""
    hidden: dict[str, dict[str, str]] = {}
    for field_key, option, placeholder in parts:
        hidden.setdefault(field_key, {})[option] = sentence(placeholder.why)
    by_label = {f.label: f for f in section.fields}
    rows = []
    for row in loaded.rows:
        f = by_label.get(row.label)
        if f is not None and f.key in hidden and row.type == "domains":
            kept = row.value if isinstance(row.value, dict) else {}
            value = {}
            for option in (*f.options, *(k for k in kept if k not in f.options)):
                if option in hidden[f.key]:
                    value[option] = {"status": "", "note": "", "withheld": hidden[f.key][option]}
                elif option in kept:
                    value[option] = kept[option]
            row = content.Row(row.label, row.type, value)
        elif f is not None and f.key in hidden and row.type == "checklist":
            ticked = row.value if isinstance(row.value, list) else []
            rows.append(
                content.Row(row.label, row.type, [o for o in ticked if o not in hidden[f.key]])
            )
            rows.extend(
                content.Row(withheld_option_label(row.label, option), "text", f"withheld: {why}")
                for option, why in hidden[f.key].items()
            )
            continue
        rows.append(row)
    return replace(loaded, rows=tuple(rows))


def _decision(
    db: Session,
    verdict: Verdict,
    *,
    client_id,
    keys: KeyWrapper,
    cache: RequestCache,
    case_id=None,
    refs: tuple[str, ...] = (),
) -> Decision:
    """The decision for a verdict: an allowed section with its content read from the
    owner's source, or the placeholder as it stands."""
    if isinstance(verdict, Withheld):
        return verdict
    loaded = content.load(
        db,
        owner_id=verdict.owner.id,
        client_id=client_id,
        section=verdict.section,
        keys=keys,
        cache=cache.sources,
        case_id=case_id,
        refs=refs,
    )
    parts_why = ()
    if verdict.parts_withheld:
        loaded = _without_parts(loaded, verdict.section, verdict.parts_withheld)
        labels = {f.key: f.label for f in verdict.section.fields}
        parts_why = tuple(
            (labels[key], option, placeholder.why)
            for key, option, placeholder in verdict.parts_withheld
        )
    return Released(
        verdict.section,
        verdict.owner,
        loaded,
        verdict.release_ref,
        verdict.policy_rule,
        verdict.role,
        verdict.legal_basis,
        parts_why,
        _notices(verdict),
        tuple(
            ReleasedLine(guard.section, option, guard.release_ref, guard.policy_rule, guard.role)
            for option, guard in verdict.parts_released
        ),
    )


def _notices(verdict: _Allowed) -> tuple[str, ...]:
    """What a disclosure outside the owner must carry: the section's notice, and those of
    the sections whose lines it carries released (a needs assessment's substance use line
    carries 42 CFR 2.32's). Nothing to the owner's own staff, to whom nothing is disclosed."""
    if verdict.release_ref is None and verdict.legal_basis is None:
        return ()
    carried = (verdict.section, *(guard.section for _option, guard in verdict.parts_released))
    return tuple(dict.fromkeys(section.notice for section in carried if section.notice))


def _facts(decision, *, case_ref, client_ref, purpose, viewer_role, rule) -> DisclosureFacts:
    return DisclosureFacts(
        case_ref=case_ref,
        client_ref=client_ref,
        section_key=decision.section.key,
        purpose=purpose,
        decision=decision.decision,
        gate=getattr(decision, "gate", None),
        release_ref=getattr(decision, "release_ref", None),
        policy_rule=rule,
        viewer_role=viewer_role,
    )


def _unreadable(requester: Requester, owner: Agency, verdict, error: Exception) -> Withheld:
    """An allowed record that does not open for its place (moved onto this row from another,
    or damaged): withheld with its own gate, so that one such record does not refuse the
    whole page (every other owner's block and section), and named in the operator's log."""
    log.error(
        "a record of %s (%s) does not open for its place; withheld: %s",
        owner.public_id,
        verdict.section.key,
        error or type(error).__name__,
    )
    return _placeholder(
        requester,
        owner,
        verdict.section,
        Gate.UNREADABLE,
        own_agency=requester.agency == owner.public_id,
    )


def _entry(
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    verdict,
    role: str | None,
    rule: str | None,
    client_ref: str | None,
    *,
    refs: tuple[str, ...],
    at: datetime,
    line_of: tuple[Section, str] | None = None,
) -> dict:
    """The owner's audit entry for one decision. `line_of`: the decision is a line of that
    section, released under this one's gates (`_with_parts_decided`)."""
    return entry_values(
        AuditTag.DISCLOSURE_RELEASED
        if verdict.decision == "released"
        else AuditTag.DISCLOSURE_WITHHELD,
        agency_id=owner.id,
        actor=requester,
        subject=case.reference,
        detail={
            "viewer_agency": requester.agency,
            "viewer_node": requester.node,
            "owner": owner.public_id,
            "own_agency": requester.agency == owner.public_id,
            # The entry keeps the placeholder's sentence, as it always has.
            "reason": sentence(verdict.why) if isinstance(verdict, Withheld) else None,
            **({"records": list(refs)} if refs else {}),
            **({"part_of": line_of[0].key, "line": line_of[1]} if line_of else {}),
            **(
                {"parts_withheld": [option for _f, option, _w in verdict.parts_withheld]}
                if getattr(verdict, "parts_withheld", ())
                else {}
            ),
            **(
                {"legal_basis": verdict.legal_basis}
                if getattr(verdict, "legal_basis", None)
                else {}
            ),
        },
        at=at,
        disclosure=_facts(
            verdict,
            case_ref=case.reference,
            # An MDT record is about every survivor on the case: the owner's log names its
            # own one (whose accounting lists it), as for any of its sections.
            client_ref=client_ref,
            purpose=requester.purpose,
            viewer_role=requester.audit_role(role),
            rule=rule,
        ),
    )


def _relied_entries(
    verdict: Verdict,
    *,
    requester: Requester,
    case: MdtCase,
    role: str | None,
    refs: tuple[str, ...],
    at: datetime,
    cache: RequestCache,
) -> list[dict]:
    """An MDT record released under the release (or legal basis) of a survivor that another
    agency here serves: an entry in that agency's log naming its own client and what it
    relied on, so that the survivor's accounting of disclosures there lists it (the owner's
    own entry names only the owner's survivor). Who received which record, as the owner's
    entry has them; the owner's policy line is the owner's own, and stays in its log."""
    if not isinstance(verdict, _Allowed):
        return []
    return [
        entry_values(
            AuditTag.DISCLOSURE_RELIED_ON,
            agency_id=relied.agency_id,
            actor=requester,
            subject=case.reference,
            detail={
                "viewer_agency": requester.agency,
                "viewer_node": requester.node,
                "owner": verdict.owner.public_id,
                **({"records": list(refs)} if refs else {}),
                **({"legal_basis": relied.legal_basis} if relied.legal_basis else {}),
            },
            at=at,
            disclosure=DisclosureFacts(
                case_ref=case.reference,
                client_ref=cache.client_refs.get(relied.client_id),
                section_key=verdict.section.key,
                purpose=requester.purpose,
                decision="released",
                release_ref=relied.release_ref,
                viewer_role=requester.audit_role(role),
            ),
        )
        for relied in verdict.relied_on
        if relied.agency_id != verdict.owner.id
    ]


def _wholes_first(
    sections: Iterable[Section],
    decide: Callable[[Section], tuple],
    *,
    shown: Callable[[Section], bool] = lambda _whole: True,
) -> list:
    """`decide(section)` for each section, in the order given, its first item the verdict;
    but wholes are decided before parts, and a part whose whole is allowed (and `shown`:
    read by whoever looks) is not decided at all: its few fields are read in the whole,
    and a placeholder beside it would say they were withheld from a page that shows them.
    A whole allowed that then cannot be opened is said unreadable; its part, stored in it,
    could not have been read either."""
    sections = list(sections)
    decided: dict[str, tuple] = {}
    for section in sorted(sections, key=lambda s: s.part_of is not None):
        whole = decided.get(section.part_of)
        if whole is None or not isinstance(whole[0], _Allowed) or not shown(whole[0].section):
            decided[section.key] = decide(section)
    return [decided[s.key] for s in sections if s.key in decided]


def answer(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list[Section | str],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache,
    entries_into: list | None = None,
    refs: tuple[str, ...] = (),
) -> list[Decision]:
    """The owner's side: each section decided on its own and audited in the owner's log,
    then the allowed ones read from the owner's sources. An MDT record released under the
    releases of survivors other agencies here serve is also entered in each of their logs
    (`_relied_entries`), in the same batch: lock them first (`logs_relied_on`). A part of
    a section (`Section.part_of`) asked with its whole is answered only when the whole is
    withheld by the gates: where they allow the whole, the part's fields are read in it.

    `entries_into`: a list in which to leave the entries instead of writing them, for a
    caller deciding several owners in one transaction (it must write them all).
    `refs`: of an MDT record kept per case, only these (a task's own page). `tz`: the MDT's
    time zone, in which a placeholder dates a release that is not in effect.

    Raises OwnerElsewhere for an owner another node hosts (`_hosted_here`)."""
    _hosted_here(db, owner)
    requester_agency = cache.agency(db, requester.agency)
    client_id = _owner_client(db, case, owner, requester_agency, cache, at=at, keys=keys)
    relied_entries = []
    asked = {
        "requester": requester,
        "recipient_agency": requester_agency,
        "owner": owner,
        "client_id": client_id,
        "at": at,
        "tz": tz,
        "cache": cache,
        "keys": keys,
        "case": case,
    }

    def decide(section: Section) -> tuple[Verdict, str | None, str | None]:
        verdict, role, rule = _gates(db, **asked, section=section)
        return _with_parts_decided(db, verdict, **asked), role, rule

    # Every section decided first, then the allowed ones read one after another.
    decisions, entries = [], []
    for verdict, role, rule in _wholes_first(map(section_of, sections), decide):
        try:
            decision = _decision(
                db, verdict, client_id=client_id, keys=keys, cache=cache, case_id=case.id, refs=refs
            )
        except (SealedElsewhere, CryptoError) as error:
            verdict = decision = _unreadable(requester, owner, verdict, error)
        decisions.append(decision)
        entries.append(
            _entry(
                requester,
                case,
                owner,
                verdict,
                role,
                rule,
                cache.client_refs.get(client_id),
                refs=refs,
                at=at,
            )
        )
        if isinstance(decision, Released):
            # A line released under another section's gates is that section's disclosure
            # too, under its own release: the survivor's accounting for that release, and
            # "who saw our substance use notes", find it.
            entries.extend(
                _entry(
                    requester,
                    case,
                    owner,
                    line,
                    line.role,
                    line.policy_rule,
                    cache.client_refs.get(client_id),
                    refs=refs,
                    at=at,
                    line_of=(verdict.section, option),
                )
                for option, line in verdict.parts_released
            )
        relied_entries.extend(
            _relied_entries(
                verdict, requester=requester, case=case, role=role, refs=refs, at=at, cache=cache
            )
        )
    # Each other agency's entries after the owner's, in the same batch: one row per request
    # on its page too.
    entries.extend(relied_entries)
    if entries_into is None:
        record_many(db, entries)
    else:
        entries_into.extend(entries)
    return decisions


def disclose_sections(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    sections: list[Section | str],
    at: datetime,
    *,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache | None = None,
) -> list[Decision]:
    """Both sides for a requester on this node: the owner's answer, then the requester's
    receipt of it, each in its own log (the caller's transaction)."""
    cache = RequestCache() if cache is None else cache
    entries: list[dict] = []
    decisions = answer(
        db,
        requester,
        case,
        owner,
        sections,
        at=at,
        tz=tz,
        keys=keys,
        cache=cache,
        entries_into=entries,
    )
    # The requester's receipts are made from what came back, exactly as across the network;
    # in one transaction both sides' entries go in one batch (each to its own log).
    entries.extend(
        receipt.received_entries(
            requester,
            case_ref=case.reference,
            owner_ref=owner.public_id,
            decisions=decisions,
            at=at,
            agency_id=cache.agency(db, requester.agency).id,
        )
    )
    record_many(db, entries)
    return decisions


def disclose(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owner: Agency,
    section: Section | str,
    at: datetime,
    *,
    tz: tzinfo,
    keys: KeyWrapper,
    cache: RequestCache | None = None,
) -> Decision:
    """Released content, or a placeholder naming the gate that withheld it.

    `cache` may be shared by the calls of ONE request and must never outlive it: that is
    what makes a revocation, an expiry or a policy change count on the very next request.
    """
    (decision,) = disclose_sections(
        db, requester, case, owner, [section], at, tz=tz, keys=keys, cache=cache
    )
    return decision


def _unseen_parts(verdict: _Allowed, lines, previewer: Requester, owner: Agency) -> _Allowed:
    """The verdict with each line the previewing staff member may not read withheld from
    their preview too (the recipient's own withheld lines stay as the recipient's gates
    said them)."""
    withheld = list(verdict.parts_withheld)
    taken = {(key, option) for key, option, _placeholder in withheld}
    for part in lines:
        if (part.field_key, part.option) not in taken:
            guard = _placeholder(
                previewer, owner, part.answer.section, Gate.POLICY, own_agency=True
            )
            withheld.append((part.field_key, part.option, guard))
    return replace(verdict, parts_withheld=tuple(withheld))


def preview(
    db: Session,
    staff: Requester,
    release_row: ConsentRelease,
    recipient_agency: Agency,
    role: str,
    at: datetime,
    *,
    tz: tzinfo,
    keys: KeyWrapper,
) -> list[Decision | ReleasedUnseen]:
    """What `recipient_agency` staff in `role` would see under this one release, for every
    section the owner could contribute (a part only where its whole is withheld, or not
    read by the previewing staff member). Same gates as answer(); audited in the owner's
    log as the owner's own staff viewing a preview, not as a disclosure to the recipient.
    Content is shown only where the previewing staff member's own role may read it."""
    owner = db.get(Agency, release_row.agency_id)
    if staff.agency != owner.public_id:
        raise NotFound("release")
    if role not in {r.value for r in Role}:
        raise Invalid("role", "Choose a role from the list.")
    cache = RequestCache()
    recipient = Requester(
        node=LOCAL_NODE,
        agency=recipient_agency.public_id,
        agency_kind=recipient_agency.kind,
        user=None,
        roles=frozenset({role}),
        purpose=release_row.purpose,
    )
    owner_sections = catalogue().for_discipline(owner.discipline)
    # The owner's policy read once: every decision below, the recipient's and the
    # previewing staff member's own, rests on the same lines (read again as it is logged).
    in_force = cache.policies[owner.id] = policy.owner_policy(db, owner)
    # What the previewing staff member may read themselves, under their agency's policy.
    previewer = staff.asking(release_row.purpose)
    mine = {
        found.section.key: found
        for found in own.decide_many(db, previewer, owner_sections, agency=owner, in_force=in_force)
    }
    # The lines of a section that tell what another holds, as the previewing staff member
    # may read them: a line the recipient would get and they may not read is a placeholder.
    lines_of = {
        section.key: [
            p
            for p in own.guarded_parts(db, previewer, section, agency=owner, in_force=in_force)
            if p.withheld
        ]
        for section in owner_sections
    }
    client_ref = db.get(Client, release_row.client_id).public_id
    asked = {
        "requester": recipient,
        "recipient_agency": recipient_agency,
        "owner": owner,
        "client_id": release_row.client_id,
        "at": at,
        "tz": tz,
        "cache": cache,
        "keys": keys,
        "only_release_id": release_row.id,
    }

    def decide(section: Section) -> tuple[Verdict]:
        verdict, _role, _rule = _gates(db, **asked, section=section)
        return (_with_parts_decided(db, verdict, **asked),)

    def shown(whole: Section) -> bool:
        # A part is left out only beside a whole the previewing staff member reads: where
        # they see only its field names, the part's content may still be theirs to see.
        return not mine[whole.key].withheld

    decisions = []
    for (verdict,) in _wholes_first(owner_sections, decide, shown=shown):
        section = verdict.section
        if isinstance(verdict, _Allowed) and lines_of[section.key]:
            verdict = _unseen_parts(verdict, lines_of[section.key], previewer, owner)
        if isinstance(verdict, _Allowed) and mine[section.key].withheld:
            decision = ReleasedUnseen(
                section, owner, verdict.release_ref, verdict.policy_rule, mine[section.key].why
            )
        else:
            decision = _decision(
                db, verdict, client_id=release_row.client_id, keys=keys, cache=cache
            )
        facts = _facts(
            decision,
            case_ref=None,
            client_ref=client_ref,
            purpose=release_row.purpose,
            viewer_role=staff.audit_role(mine[section.key].role),
            rule=mine[section.key].rule,
        )
        if isinstance(decision, ReleasedUnseen):
            # The recipient would receive it; the person who looked was shown only its field
            # names, their own line withholding the content: withheld from them, by policy.
            facts = replace(facts, decision="withheld", gate=Gate.POLICY)
        record(
            db,
            AuditTag.DISCLOSURE_PREVIEWED,
            agency_id=owner.id,
            actor=staff,
            subject=release_row.public_id,
            detail={
                "preview_for_agency": recipient_agency.public_id,
                "preview_for_role": role,
                "owner": owner.public_id,
                "content_shown": isinstance(decision, Released),
                # What the recipient would get: the entry's own decision is the looker's.
                "for_recipient": decision.decision,
            },
            at=at,
            # The person who looked, in their own role and under the own-staff line that let
            # them (or kept the content from them; the role previewed for is in the detail):
            # "who saw what" stays true.
            disclosure=facts,
        )
        decisions.append(decision)
    return decisions
