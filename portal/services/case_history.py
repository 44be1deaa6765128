"""A case's history: the events noted as it moves (opened, reviewed, closed, ...), and
the list a coordinator reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from portal.models import Actor, MdtCase, StaffUser
from portal.models.workflow import CaseEvent, CaseEventKind


def note(
    db: Session, case: MdtCase, kind: CaseEventKind, *, actor: Actor, at: datetime, reason=None
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id, kind=kind, at=at, actor_id=actor.id if actor else None, reason=reason
    )
    db.add(event)
    return event


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    kind: str
    actor: str | None
    reason: str | None


def history(db: Session, case: MdtCase) -> list[HistoryRow]:
    rows = db.exec(
        select(CaseEvent, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == CaseEvent.actor_id, isouter=True)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    return [HistoryRow(e.at, e.kind, name, e.reason) for e, name in rows]


_NAMES_AN_AGENCY = (CaseEventKind.AGENCY_ADDED, CaseEventKind.LINK_CONFIRMED)


def told(rows: list[HistoryRow], agency_names: set[str]) -> list[HistoryRow]:
    """The history without the events that would name an agency this viewer may not be
    told takes part (issue 14: a community-based agency's taking part is its own to tell)."""
    return [row for row in rows if row.kind not in _NAMES_AN_AGENCY or row.reason in agency_names]
