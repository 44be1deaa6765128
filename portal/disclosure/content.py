"""Reading an owner's section content once the disclosure point has allowed it.

Called only by the disclosure point (and by the benchmark, which measures the bare cost
of loading and rendering released content). Never call it to decide anything. The
content itself comes from the owner-side source the catalogue names for the section.
"""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources import (
    Content,
    Item,
    Row,
    SourceCache,
    Wanted,
    source_of,
)
from portal.models import CaseLink
from portal.sections import Section

__all__ = ["Content", "Item", "Row", "load"]


def load(
    db: Session,
    *,
    owner_id: int,
    client_id: int,
    section: Section,
    keys: KeyWrapper,
    cache: SourceCache,
    case_id: int | None = None,
    refs: tuple[str, ...] = (),
) -> Content:
    """The released content of one section, as its owner keeps it.

    `case_id` names the case being read; without it (a release preview) the minutes and
    accompaniment of every case the owner has linked this client to are shown."""
    if section.source is None:  # sealed versions belong to the client, not to a case
        case_ids: tuple[int, ...] = ()
    elif case_id is not None:
        case_ids = (case_id,)
    else:
        case_ids = _linked_cases(db, owner_id, client_id)
    if case_id is not None:
        cache.case_id = case_id
    wanted = Wanted(owner_id, client_id, section, case_ids, refs)
    return source_of(section).load(db, wanted, keys=keys, cache=cache)


def _linked_cases(db: Session, owner_id: int, client_id: int) -> tuple[int, ...]:
    return tuple(
        db.exec(
            select(CaseLink.case_id)
            .where(
                CaseLink.agency_id == owner_id,
                CaseLink.client_id == client_id,
                CaseLink.confirmed_at.is_not(None),
            )
            .order_by(CaseLink.case_id)
        ).all()
    )
