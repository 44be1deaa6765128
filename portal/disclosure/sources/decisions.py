"""MDT decisions, kept by the coordinating agency with its meetings' agenda items."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Item, Row, SourceCache, Wanted
from portal.models import AgendaItem, Decision, Meeting


class MeetingDecisions:
    """The `mdt_decisions` section as its owner holds it: every decision its meetings
    recorded on these cases, oldest first, each with its notes."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if not wanted.case_ids:
            return Content((), None, None)
        query = (
            select(Decision, Meeting.meeting_date, AgendaItem.public_id)
            .join(AgendaItem, AgendaItem.id == Decision.agenda_item_id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(
                AgendaItem.owner_agency_id == wanted.owner_id,
                Decision.case_id.in_(wanted.case_ids),
            )
            .order_by(Decision.created_at, Decision.id)
        )
        if wanted.refs:
            query = query.where(Decision.public_id.in_(wanted.refs))
        found = db.exec(query).all()
        rows = tuple(
            Row(
                f"{decision.recommendation} (MDT meeting {day.isoformat()})",
                "textarea",
                decision.text,
            )
            for decision, day, _item in found
        )
        items = tuple(
            Item(
                decision.public_id,
                {
                    "recommendation": decision.recommendation,
                    "text": decision.text,
                    "meeting_date": day,
                    "agenda_item": item_ref,
                    "created_at": decision.created_at,
                },
            )
            for decision, day, item_ref in found
        )
        saved = max((decision.created_at for decision, _d, _i in found), default=None)
        return Content(rows, len(rows) or None, saved, items)
