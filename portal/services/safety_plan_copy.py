"""The survivor-facing printable copy of the safety plan: the survivor's own words and
strategies, no agency notes, and no address unless the survivor asked for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.models import Client
from portal.placeholders import sentence
from portal.sections import catalogue
from portal.services import sections

NEVER_ON_THE_COPY = frozenset({"agency_notes", "print_address"})
ADDRESS = "safe_address"
ASKED = "yes, the survivor asked"


@dataclass(frozen=True)
class SurvivorCopy:
    version: int  # 0: no plan recorded yet
    rows: list[tuple[str, str, object]]  # (label, type, value), blanks left out
    withheld: str | None = None  # why this request may not read the plan, in words


def survivor_copy(
    db: Session, client: Client, *, requester, keys: KeyWrapper, at: datetime
) -> SurvivorCopy:
    """The copy, or why it is withheld (the role, or the purpose asked for: the read is
    audited either way). A version holding nothing for the survivor's copy is printed as
    such, and no print is logged: nothing was printed."""
    view = sections.read_section(db, client, "safety_plan", requester=requester, keys=keys, at=at)
    if view.answer.withheld:
        return SurvivorCopy(0, [], withheld=sentence(view.answer.why))
    if not view.versions:
        return SurvivorCopy(0, [])
    latest = view.versions[0]
    content = latest.content
    rows = []
    for field in catalogue().get("safety_plan").fields:
        if field.key in NEVER_ON_THE_COPY:
            continue
        if field.key == ADDRESS and content.get("print_address") != ASKED:
            continue
        value = content.get(field.key)
        if value:
            rows.append((field.label, field.type, value))
    if not rows:
        return SurvivorCopy(latest.version, [])
    record(
        db,
        AuditTag.SAFETY_PLAN_PRINTED,
        agency_id=client.agency_id,
        actor=requester,
        subject=client.public_id,
        detail={"version": latest.version, "address": content.get("print_address") == ASKED},
        at=at,
    )
    return SurvivorCopy(latest.version, rows)
