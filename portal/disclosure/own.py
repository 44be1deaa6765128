"""Need to know inside an agency: the owner's policy decides what its own staff may read.

The same policy lines that decide what a partner may receive decide what the owner's own
staff may read of their own agency's records, on every path (section pages and history,
the client's identity, the release preview, the API). Consent is not asked of the owner's
own staff: the agency holds the record. Every read, allowed or withheld, is audited in the
agency's log, like a disclosure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.audit import AuditTag, DisclosureFacts, entry_values, record_many
from portal.disclosure import policy, requester_held
from portal.disclosure.gates import Gate, Withholding
from portal.errors import NotFound
from portal.models import Agency
from portal.placeholders import sentence
from portal.requester import Requester
from portal.sections import Section, catalogue

# The sections that carry the client's sealed identity record: the name and date of birth,
# and apart from them the address and how to reach the survivor safely (issue 14).
IDENTITY = "identity"
SAFE_CONTACT = "safe_contact"


@dataclass(frozen=True)
class OwnAnswer:
    """Whether the requester's roles may read this section of their own agency's records."""

    section: Section
    allowed: bool
    purpose: str
    role: str | None  # the role the decision was made for
    rule: str | None  # the policy line that matched, as written
    why: Withholding | None  # the facts of the placeholder, when withheld

    @property
    def withheld(self) -> bool:
        return not self.allowed


def decide_many(
    db: Session,
    requester: Requester,
    sections,
    *,
    agency: Agency,
    in_force: policy.OwnerPolicy | None = None,
) -> list[OwnAnswer]:
    """The owner's policy for its own staff: no consent gate, never any content.
    `agency` is the requester's own agency, the owner of the records. `in_force`: its
    policy as the caller read it for its other decisions (read now if None)."""
    if agency.public_id != requester.agency:
        raise NotFound("client")  # another agency's records are never "own"
    if in_force is None:
        in_force = policy.owner_policy(db, agency)
    requester_held.note(db, requester)
    answers = []
    for given in sections:
        section = given if isinstance(given, Section) else catalogue().get(given)
        if section is None:
            raise ValueError(f"unknown section {given!r}")
        answer, role = policy.decide(
            in_force,
            agency,
            kind=policy.OWN,
            roles=requester.roles,
            section=section.key,
            purpose=requester.purpose,
        )
        why = None
        if not answer.allowed:
            why = Withholding(
                Gate.POLICY,
                section,
                roles=requester.roles,
                agency_kind=agency.kind,
                own_agency=True,
                purpose=requester.purpose,
            )
        answers.append(
            OwnAnswer(section, answer.allowed, requester.purpose, role, answer.rule, why)
        )
    return answers


def decide(db: Session, requester: Requester, section, *, agency: Agency) -> OwnAnswer:
    return decide_many(db, requester, [section], agency=agency)[0]


def record_read(
    db: Session,
    answer: OwnAnswer,
    *,
    requester: Requester,
    agency: Agency,
    client_ref: str | None,
    subject: str,
    at: datetime,
    allowed_tag: AuditTag = AuditTag.SECTION_VIEWED,
    detail: dict | None = None,
) -> None:
    """One entry in the agency's own log for one own-staff read, allowed or withheld."""
    record_reads(
        db,
        answer,
        requester=requester,
        agency=agency,
        reads=[(client_ref, subject)],
        at=at,
        allowed_tag=allowed_tag,
        detail=detail,
    )


def record_reads(
    db: Session,
    answer: OwnAnswer,
    *,
    requester: Requester,
    agency: Agency,
    reads: list[tuple[str | None, str] | tuple[str | None, str, str | None]],
    at: datetime,
    allowed_tag: AuditTag = AuditTag.SECTION_VIEWED,
    detail: dict | None = None,
) -> None:
    """One entry per (client reference, subject) read under the same answer (a page that
    lists many clients), in one batch in the agency's own log. A read of a case's record
    (its minutes) adds the case's reference, (client reference, subject, case reference):
    the log's Case column and a lead's search by case find it there, not in the subject."""
    tag = allowed_tag if answer.allowed else AuditTag.DISCLOSURE_WITHHELD
    detail = {
        "section": answer.section.key,
        "own_agency": True,
        "reason": None if answer.why is None else sentence(answer.why),
        **(detail or {}),
    }
    record_many(
        db,
        [
            entry_values(
                tag,
                agency_id=agency.id,
                actor=requester,
                subject=subject,
                detail=detail,
                at=at,
                disclosure=DisclosureFacts(
                    case_ref=case_ref,
                    client_ref=client_ref,
                    section_key=answer.section.key,
                    purpose=answer.purpose,
                    decision="released" if answer.allowed else "withheld",
                    gate=None if answer.allowed else Gate.POLICY,
                    policy_rule=answer.rule,
                    viewer_role=requester.audit_role(answer.role),
                ),
            )
            for client_ref, subject, case_ref in (_with_case(read) for read in reads)
        ],
    )


def _with_case(read: tuple) -> tuple[str | None, str, str | None]:
    client_ref, subject, *case = read
    return client_ref, subject, case[0] if case else None


def read(
    db: Session,
    requester: Requester,
    section,
    *,
    agency: Agency,
    client_ref: str | None,
    subject: str,
    at: datetime,
    allowed_tag: AuditTag = AuditTag.SECTION_VIEWED,
    detail: dict | None = None,
) -> OwnAnswer:
    """Decide one own-staff read and audit it; the caller reads content only if allowed."""
    answer = decide(db, requester, section, agency=agency)
    record_read(
        db,
        answer,
        requester=requester,
        agency=agency,
        client_ref=client_ref,
        subject=subject,
        at=at,
        allowed_tag=allowed_tag,
        detail=detail,
    )
    return answer


@dataclass(frozen=True)
class GuardedPart:
    """A line of a section that tells what another section holds (a needs assessment's
    substance use line), with the owner's policy answer for that other section: the line is
    the requester's to read, or to change, only where that section is."""

    field_key: str
    field_type: str  # "domains" or "checklist"
    option: str
    answer: OwnAnswer

    @property
    def withheld(self) -> bool:
        return self.answer.withheld


def guarded_parts(
    db: Session,
    requester: Requester,
    section: Section,
    *,
    agency: Agency,
    in_force: policy.OwnerPolicy | None = None,
) -> list[GuardedPart]:
    """Every guarded line of `section`, decided for the requester as their own agency's
    policy decides the section it tells of (as the disclosure point decides it for a
    partner: `point._with_parts_decided`). `in_force`: as for `decide_many`."""
    lines = [(f, option, guard) for f in section.fields for option, guard in f.guarded]
    if not lines:
        return []
    guards = sorted({g for *_, g in lines})
    answers = {
        found.section.key: found
        for found in decide_many(db, requester, guards, agency=agency, in_force=in_force)
    }
    return [GuardedPart(f.key, f.type, option, answers[guard]) for f, option, guard in lines]


def record_parts_read(
    db: Session,
    parts: list[GuardedPart],
    *,
    of: Section,
    requester: Requester,
    agency: Agency,
    client_ref: str | None,
    subject: str,
    at: datetime,
    detail: dict | None = None,
) -> None:
    """One entry per guarded line's section read with `of` (shown, or withheld as a
    placeholder): "who read our substance use notes" finds a read of the needs assessment
    that showed its substance use line."""
    for part in parts:
        record_read(
            db,
            part.answer,
            requester=requester,
            agency=agency,
            client_ref=client_ref,
            subject=subject,
            at=at,
            detail={"part_of": of.key, "line": part.option, **(detail or {})},
        )


def without_parts(content: dict, parts: list[GuardedPart]) -> dict:
    """Stored content without each withheld line: in a needs list, its status and note
    give way to the placeholder's words (the shape `point._without_parts` gives a partner's
    copy); from a checklist, the option is taken out (the page says it is withheld, whether
    or not it was ticked)."""
    hidden = [part for part in parts if part.withheld]
    if not hidden:
        return content
    shown = dict(content)
    for part in hidden:
        lines = shown.get(part.field_key)
        if part.field_type == "checklist":
            ticked = lines if isinstance(lines, list) else []
            shown[part.field_key] = [option for option in ticked if option != part.option]
            continue
        shown[part.field_key] = {
            **(lines if isinstance(lines, dict) else {}),
            part.option: {"status": "", "note": "", "withheld": sentence(part.answer.why)},
        }
    return shown
