"""Mentor accompaniment, kept in the survivor-mentor program's log."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.models import Accompaniment
from portal.models.mentoring import AccompanimentKind, Outcome, PlaceType, duration_label

LIMIT = 50


class AccompanimentLog:
    """The `mentor_accompaniment` section as its owner releases it: one line per entry,
    newest first — date, kind, duration, kind of place, outcome and any follow-up. Never
    the mentor's notes (the survivor's words to their mentor stay in the program) and
    never an address (none is recorded)."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if not wanted.case_ids:
            return Content((), None, None)
        entries = db.exec(
            select(Accompaniment)
            .where(
                Accompaniment.agency_id == wanted.owner_id,
                Accompaniment.case_id.in_(wanted.case_ids),
                Accompaniment.deleted_at.is_(None),
            )
            .order_by(Accompaniment.occurred_on.desc(), Accompaniment.id.desc())
            .limit(LIMIT)
        ).all()
        lines = [
            f"{e.occurred_on.isoformat()}: {AccompanimentKind(e.kind).label}, "
            f"{duration_label(e.duration_minutes)}, {PlaceType(e.place_type).label}, "
            f"{Outcome(e.outcome).label.lower()}"
            + (f"; follow-up: {e.follow_up or 'needed'}" if e.follow_up_needed else "")
            for e in entries
        ]
        label = wanted.section.fields[0].label if wanted.section.fields else "Summary"
        rows = (Row(label, "textarea", "\n".join(lines)),) if lines else ()
        return Content(rows, len(lines) or None, None)
