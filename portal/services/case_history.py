"""A case's history: the events noted as it moves (opened, reviewed, closed, ...), and
the list a coordinator reads."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    agency_id: int | None = None  # the agency of the staff who noted it

    @property
    def what(self) -> str:
        """The event in words, with what its note may say (a meeting's id never)."""
        reason = self.reason or ""
        if self.kind == CaseEventKind.CLOSED:
            return f"Case closed — {reason}" if reason else "Case closed"
        if self.kind == CaseEventKind.REOPENED:
            return f"Case reopened — {reason}" if reason else "Case reopened"
        if self.kind == CaseEventKind.AGENCY_ADDED and reason:
            return f"{reason} added to the case"
        if self.kind == CaseEventKind.LINK_CONFIRMED and reason:
            return f"{reason} confirmed its client record for the case"
        if self.kind == CaseEventKind.LINK_WITHDRAWN and reason:
            return f"{reason} withdrew its client record from the case"
        if self.kind == CaseEventKind.CADENCE_SET:
            days = reason.split(" ")[0]
            return f"Regular review every {days} days" if days.isdigit() else "Regular review off"
        if self.kind == CaseEventKind.TAKEN_OFF_AGENDA and reason:
            return f"Taken off the agenda of the MDT meeting of {reason}, not yet held"
        if self.kind == CaseEventKind.MANDATED_REPORT:
            # Who reported, to whom: never the report's number or content.
            return reason or "Mandated report made"
        return _WORDS.get(self.kind, self.kind.replace("_", " ").capitalize())


_WORDS = {
    CaseEventKind.OPENED: "Case opened",
    CaseEventKind.AGENCY_ADDED: "Agency added to the case",
    CaseEventKind.LINK_CONFIRMED: "Client record confirmed for the case",
    CaseEventKind.LINK_WITHDRAWN: "Client record withdrawn from the case",
    CaseEventKind.REVIEWED: "Reviewed at an MDT meeting",
    CaseEventKind.TAKEN_OFF_AGENDA: "Taken off the agenda of an MDT meeting not yet held",
}


def history(db: Session, case: MdtCase) -> list[HistoryRow]:
    rows = db.exec(
        select(CaseEvent, StaffUser.display_name, StaffUser.agency_id)
        .join(StaffUser, StaffUser.id == CaseEvent.actor_id, isouter=True)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    return [HistoryRow(e.at, e.kind, name, e.reason, agency) for e, name, agency in rows]


_NAMES_AN_AGENCY = (
    CaseEventKind.AGENCY_ADDED,
    CaseEventKind.LINK_CONFIRMED,
    CaseEventKind.LINK_WITHDRAWN,
)


def told(rows: list[HistoryRow], agency_names: set[str]) -> list[HistoryRow]:
    """The history without what would name an agency this viewer may not be told takes
    part (issue 14: a community-based agency's taking part is its own to tell): its joining
    events are left out, and a mandated report it made says only that one was made."""
    shown = []
    for row in rows:
        if row.kind in _NAMES_AN_AGENCY and row.reason not in agency_names:
            continue
        if row.kind == CaseEventKind.MANDATED_REPORT and not any(
            (row.reason or "").endswith(f" by {name}") for name in agency_names
        ):
            row = replace(row, reason=None, actor=None)
        shown.append(row)
    return shown
