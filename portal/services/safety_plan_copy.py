"""The survivor-facing printable copy of the safety plan: the survivor's own words and
strategies, no agency notes, and no address unless the survivor asked for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.models import Client
from portal.sections import catalogue
from portal.services import sections

NEVER_ON_THE_COPY = frozenset({"agency_notes", "print_address"})
ADDRESS = "safe_address"
ASKED = "yes, the survivor asked"


@dataclass(frozen=True)
class SurvivorCopy:
    version: int
    rows: list[tuple[str, str, object]]  # (label, type, value), blanks left out


def survivor_copy(
    db: Session, client: Client, *, requester, keys: KeyWrapper, at: datetime
) -> SurvivorCopy | None:
    """None when the requester's role may not read the plan (the read is audited either
    way)."""
    view = sections.read_section(db, client, "safety_plan", requester=requester, keys=keys, at=at)
    if view.answer.withheld or not view.versions:
        return None if view.answer.withheld else SurvivorCopy(0, [])
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
