"""An agency lead's own lines in the disclosure policy: add and retire, audited.

Lines govern only the lead's own agency as an owner. Every change bumps the agency's
policy version, and the policy gate reads the lines on every request, so a change counts
from the very next request without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

import consent
from portal.audit import AuditTag, effective_after_disclosures, lock_logs, record
from portal.disclosure.policy import ANY, OWN, default_lines
from portal.errors import Conflict, Invalid, NotFound
from portal.models import Actor, Agency, AgencyKind, PolicyLine, PolicyVersion, Role
from portal.sections import catalogue
from portal.services import validation

EFFECTS = ("allow", "deny")


@dataclass(frozen=True)
class LineView:
    public_id: str | None  # None for a default line, which no agency can change
    kind: str
    role: str
    section: str
    purpose: str
    effect: str


def kinds() -> list[str]:
    return [ANY, OWN, *(k.value for k in AgencyKind)]


def roles() -> list[str]:
    return [ANY, *(r.value for r in Role)]


def sections() -> list[str]:
    return [ANY, *(s.key for s in catalogue().sections)]


def purposes() -> list[str]:
    return [ANY, *(p.value for p in consent.Purpose)]


def _one_of(value: object, field: str, options: list[str], label: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise Invalid(field, f"Choose {label} from the list.")
    return value


def default_policy() -> list[LineView]:
    return [LineView(None, *line[1:]) for line in default_lines()]


def agency_policy(db: Session, agency: Agency) -> list[LineView]:
    rows = db.exec(
        select(PolicyLine)
        .where(PolicyLine.agency_id == agency.id, PolicyLine.retired_at.is_(None))
        .order_by(PolicyLine.id)
    ).all()
    return [
        LineView(
            r.public_id, r.recipient_kind, r.recipient_role, r.section_key, r.purpose, r.effect
        )
        for r in rows
    ]


def _bump(db: Session, agency: Agency) -> int:
    version = db.get(PolicyVersion, agency.id)
    if version is None:
        version = PolicyVersion(agency_id=agency.id, version=0)
        db.add(version)
    version.version += 1
    db.flush()
    return version.version


def add_line(
    db: Session,
    agency: Agency,
    *,
    kind: object,
    role: object,
    section: object,
    purpose: object,
    effect: object,
    actor: Actor,
    at: datetime,
) -> PolicyLine:
    values = validation.collect(
        kind=lambda: _one_of(kind, "kind", kinds(), "a recipient agency kind"),
        role=lambda: _one_of(role, "role", roles(), "a recipient role"),
        section=lambda: _one_of(section, "section", sections(), "a section"),
        purpose=lambda: _one_of(purpose, "purpose", purposes(), "a purpose"),
        effect=lambda: _one_of(effect, "effect", list(EFFECTS), "allow or deny"),
    )
    line = (values["kind"], values["role"], values["section"], values["purpose"], values["effect"])
    if values["role"] == "*" and values["effect"] == "allow":
        # Deny by default: an allow line names the role it releases to, so a role nobody
        # decided on (an agency lead, one added later) is released nothing.
        raise Invalid(
            "role",
            "An allow line names the role it releases to; any role is for deny lines only.",
        )
    # The agency's log (where the line is written) before the check: the same line added
    # twice at once is one line, which one retirement removes.
    lock_logs(db, [agency.id])
    at = effective_after_disclosures(db, agency.id, at=at)
    if any(
        (v.kind, v.role, v.section, v.purpose, v.effect) == line for v in agency_policy(db, agency)
    ):
        raise Conflict("effect", "Your agency already has this exact line.")
    row = PolicyLine(
        agency_id=agency.id,
        recipient_kind=line[0],
        recipient_role=line[1],
        section_key=line[2],
        purpose=line[3],
        effect=line[4],
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(row)
    version = _bump(db, agency)
    record(
        db,
        AuditTag.POLICY_LINE_ADDED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={"line": ", ".join(line), "version": version},
        at=at,
    )
    return row


def active_line(db: Session, agency: Agency, public_id: str) -> PolicyLine:
    """One of the agency's own lines in force (404 for any other), as it is now."""
    row = db.exec(
        select(PolicyLine)
        .where(
            PolicyLine.public_id == public_id,
            PolicyLine.agency_id == agency.id,
            PolicyLine.retired_at.is_(None),
        )
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound("policy line")
    return row


def retire_line(db: Session, agency: Agency, public_id: str, *, actor: Actor, at: datetime) -> None:
    lock_logs(db, [agency.id])  # a second retirement at once waits, then finds it retired
    at = effective_after_disclosures(db, agency.id, at=at)
    row = active_line(db, agency, public_id)
    row.retired_at = at
    row.retired_by_id = actor.id if actor else None
    version = _bump(db, agency)
    record(
        db,
        AuditTag.POLICY_LINE_RETIRED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={
            "line": ", ".join(
                (row.recipient_kind, row.recipient_role, row.section_key, row.purpose, row.effect)
            ),
            "version": version,
        },
        at=at,
    )
