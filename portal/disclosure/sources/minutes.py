"""MDT meeting minutes, kept by the coordinating agency with its meetings."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.models import AgendaItem, Meeting


class MeetingMinutes:
    """The `mdt_minutes` section as its owner holds it: one row per meeting that took
    minutes on these cases, oldest first; version counts them (None when there are none)."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if not wanted.case_ids:
            return Content((), None, None)
        found = db.exec(
            select(Meeting.meeting_date, Meeting.status, AgendaItem.minutes)
            .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
            .where(
                AgendaItem.owner_agency_id == wanted.owner_id,
                AgendaItem.case_id.in_(wanted.case_ids),
                AgendaItem.minutes.is_not(None),
            )
            .order_by(Meeting.starts_at, AgendaItem.id)
        ).all()
        rows = tuple(
            Row(f"MDT meeting {day.isoformat()} ({status})", "textarea", text)
            for day, status, text in found
        )
        return Content(rows, len(rows) or None, None)
