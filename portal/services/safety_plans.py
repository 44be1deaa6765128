"""The structured safety plan's clocks and its derived section (issue 20).

The plan itself is the `safety_plan` section, versioned like any other. Each version also
writes `safety_strategies` (the strategies, emergency contacts and safe places alone, for
those the policy lets see only that), counts as the first plan of a running risk-screen
clock, and sets the review date. A move to new housing (a placement change recorded in
`placement_housing`) marks the plan due for review at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.models import Actor, Client
from portal.models.screening import SafetyPlanState
from portal.sections import SectionContent, catalogue
from portal.services import risk_screens, section_versions

PLAN = "safety_plan"
STRATEGIES = "safety_strategies"
PLACEMENT = "placement_housing"


def section_saved(
    db: Session,
    client: Client,
    section_key: str,
    version: int,
    content: SectionContent,
    *,
    before: SectionContent | None,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> None:
    """Called by the section form's save, in its transaction, for every section saved."""
    if section_key == PLAN:
        _plan_saved(db, client, version, content, actor=actor, keys=keys, at=at)
    elif section_key == PLACEMENT and placement_changed(before, content):
        _moved(db, client, actor=actor, at=at)


def _state(db: Session, client: Client) -> SafetyPlanState:
    state = db.exec(
        select(SafetyPlanState).where(
            SafetyPlanState.agency_id == client.agency_id,
            SafetyPlanState.client_id == client.id,
        )
    ).first()
    return state or SafetyPlanState(agency_id=client.agency_id, client_id=client.id)


def _plan_saved(db, client, version, content, *, actor: Actor, keys, at) -> None:
    strategies = catalogue().get(STRATEGIES)
    subset = {f.key: content.get(f.key, "") for f in strategies.fields}
    section_versions.add_version(db, client, STRATEGIES, subset, actor=actor, keys=keys, at=at)
    state = _state(db, client)
    state.plan_version = version
    state.planned_at = at
    review = content.get("review_date") or ""
    state.review_date = date.fromisoformat(review) if review else None
    state.moved_at = None  # this version is the review the move asked for
    db.add(state)
    risk_screens.plan_recorded(db, client, at=at)


def placement_changed(before: SectionContent | None, after: SectionContent) -> bool:
    """A move: a new move date, or a different placement type than the version before.
    The first placement recorded, or a type recorded for the first time where none was
    (notes saved first), is a move only when it carries a move date."""
    if before is None or not (before.get("placement_type") or ""):
        if (before or {}).get("moved_on") == after.get("moved_on"):
            return False
        return bool(after.get("moved_on"))
    return any(
        (before.get(key) or "") != (after.get(key) or "") for key in ("moved_on", "placement_type")
    )


def _moved(db: Session, client: Client, *, actor: Actor, at: datetime) -> None:
    state = _state(db, client)
    state.moved_at = at
    db.add(state)
    db.flush()
    record(
        db,
        AuditTag.SAFETY_PLAN_REVIEW_DUE,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"reason": "placement change", "plan_version": state.plan_version},
        at=at,
    )


def state_of(db: Session, client: Client) -> SafetyPlanState | None:
    found = _state(db, client)
    return found if found.id is not None else None


@dataclass(frozen=True)
class ReviewRow:
    client_id: str
    client_reference: str
    plan_version: int | None
    review_date: date | None
    moved_at: datetime | None
    # Due after a move the viewer may not be told of (screening_panel): "review now" only.
    move_withheld: bool = False

    @property
    def after_move(self) -> bool:
        return self.moved_at is not None


def due_for_review(
    db: Session, agency_id: int, *, today: date, limit: int = 25
) -> tuple[int, list[ReviewRow]]:
    """Plans past their review date, or due after a move; moves first, then oldest review."""
    due = (
        SafetyPlanState.agency_id == agency_id,
        SafetyPlanState.moved_at.is_not(None) | (SafetyPlanState.review_date < today),
    )
    total = db.exec(select(func.count()).select_from(SafetyPlanState).where(*due)).one()
    rows = db.exec(
        select(
            Client.public_id,
            Client.reference,
            SafetyPlanState.plan_version,
            SafetyPlanState.review_date,
            SafetyPlanState.moved_at,
        )
        .join(Client, Client.id == SafetyPlanState.client_id)
        .where(*due)
        .order_by(SafetyPlanState.moved_at.is_(None), SafetyPlanState.review_date, Client.reference)
        .limit(limit)
    ).all()
    return total, [ReviewRow(*row) for row in rows]
