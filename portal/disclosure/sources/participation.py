"""That an agency takes part in an MDT case: its own confirmed link to the case."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.models import CaseLink


class CaseParticipation:
    """The `participation` section as its owner holds it: the date its client's link to
    these cases was confirmed. Nothing of the client; the fact of service is the content."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if not wanted.case_ids:
            return Content((), None, None)
        confirmed = db.exec(
            select(CaseLink.confirmed_at).where(
                CaseLink.agency_id == wanted.owner_id,
                CaseLink.case_id.in_(wanted.case_ids),
                CaseLink.confirmed_at.is_not(None),
            )
        ).first()
        if confirmed is None:
            return Content((), None, None)
        label = wanted.section.fields[0].label
        return Content((Row(label, "date", confirmed.date().isoformat()),), 1, confirmed)
