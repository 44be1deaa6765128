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

from portal.audit import AuditTag, DisclosureFacts, record
from portal.disclosure import policy
from portal.disclosure.wording import policy_reason
from portal.models import Agency
from portal.sections import Section, catalogue

IDENTITY = "identity"  # the section that carries the client's sealed identity record


@dataclass(frozen=True)
class OwnAnswer:
    """Whether the viewer's roles may read this section of their own agency's records."""

    section: Section
    allowed: bool
    purpose: str
    role: str | None  # the role the decision was made for
    rule: str | None  # the policy line that matched, as written
    reason: str | None  # the placeholder's sentence, when withheld

    @property
    def withheld(self) -> bool:
        return not self.allowed


def decide(db: Session, viewer, section: Section | str, *, purpose: str) -> OwnAnswer:
    """The owner's policy for its own staff: no consent gate, never any content."""
    return decide_many(db, viewer, [section], purpose=purpose)[0]


def decide_many(db: Session, viewer, sections, *, purpose: str) -> list[OwnAnswer]:
    agency: Agency = viewer.agency
    in_force = policy.owner_policy(db, agency)
    answers = []
    for given in sections:
        section = given if isinstance(given, Section) else catalogue().get(given)
        if section is None:
            raise ValueError(f"unknown section {given!r}")
        answer, role = policy.decide(
            in_force,
            agency,
            kind=agency.kind,
            roles=viewer.roles,
            section=section.key,
            purpose=purpose,
        )
        reason = None
        if not answer.allowed:
            reason = policy_reason(
                section, roles=viewer.roles, kind=agency.kind, own=True, purpose=purpose
            )
        answers.append(OwnAnswer(section, answer.allowed, purpose, role, answer.rule, reason))
    return answers


def record_read(
    db: Session,
    answer: OwnAnswer,
    *,
    viewer,
    client_ref: str | None,
    subject: str,
    at: datetime,
    allowed_tag: AuditTag = AuditTag.SECTION_VIEWED,
    detail: dict | None = None,
) -> None:
    """One entry in the agency's own log for one own-staff read, allowed or withheld."""
    facts = DisclosureFacts(
        case_ref=None,
        client_ref=client_ref,
        section_key=answer.section.key,
        purpose=answer.purpose,
        decision="released" if answer.allowed else "withheld",
        gate=None if answer.allowed else "policy",
        policy_rule=answer.rule,
        viewer_role=answer.role or ",".join(sorted(viewer.roles))[:30] or None,
    )
    record(
        db,
        allowed_tag if answer.allowed else AuditTag.DISCLOSURE_WITHHELD,
        agency_id=viewer.agency.id,
        actor=viewer,
        subject=subject,
        detail={
            "section": answer.section.key,
            "own_agency": True,
            "reason": answer.reason,
            **(detail or {}),
        },
        at=at,
        disclosure=facts,
    )


def read(
    db: Session,
    viewer,
    section: Section | str,
    *,
    purpose: str,
    client_ref: str | None,
    subject: str,
    at: datetime,
    allowed_tag: AuditTag = AuditTag.SECTION_VIEWED,
) -> OwnAnswer:
    """Decide one own-staff read and audit it; the caller reads content only if allowed."""
    answer = decide(db, viewer, section, purpose=purpose)
    record_read(
        db,
        answer,
        viewer=viewer,
        client_ref=client_ref,
        subject=subject,
        at=at,
        allowed_tag=allowed_tag,
    )
    return answer
