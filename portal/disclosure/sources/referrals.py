"""Minors with a clear concern and no MDT case, as the agency that screened them keeps them
(issue 20): the `mdt_referral` fact its disclosure point may tell the MDT's coordinating
agency of, so that the MDT path can start (seed 004).

Read from the owner's own screenings and case links, only by its disclosure point. What a
released referral holds is the minimum the coordinator needs: the owner's own client
reference (never a name), that the client is a minor, when they were screened and the
result band. Never the screener's notes, the action's reason or anything of a tool's items.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Row, SourceCache, Wanted
from portal.models import CaseLink, Client
from portal.models.screening import AgeGroup, Screening
from portal.screening_tools import catalogue as tools

# How many minors one answer tells of (the oldest screenings first); beyond it the answer
# says that there are more, and the coordinator opens cases for the first ones first.
LIMIT = 50


@dataclass(frozen=True)
class Candidate:
    """One of the owner's minors to decide on: never leaves the owner's point as such."""

    client_id: int
    client_ref: str  # the client's public id, for the owner's own log
    screening_ref: str  # the earliest such screening's public id: the referral's reference


def _flagged(owner_id: int):
    """A finalised screening of a minor with a clear concern, whose client the owner has
    not linked to any MDT case (confirmed or only named)."""
    linked = (
        select(CaseLink.id)
        .where(CaseLink.agency_id == owner_id, CaseLink.client_id == Screening.client_id)
        .exists()
    )
    return (
        Screening.agency_id == owner_id,
        Screening.concern == "clear",
        Screening.age_group == AgeGroup.MINOR,
        Screening.finalised_at.is_not(None),
        ~linked,
    )


def candidates(db: Session, owner_id: int, *, limit: int = LIMIT) -> tuple[list[Candidate], bool]:
    """Each such client once (their earliest such screening), oldest first; and whether
    there were more than `limit`."""
    rows = db.exec(
        select(Screening.client_id, Client.public_id, Screening.public_id)
        .join(Client, Client.id == Screening.client_id)
        .where(*_flagged(owner_id))
        .order_by(Screening.screened_at, Screening.id)
    ).all()
    found: dict[int, Candidate] = {}
    for client_id, client_ref, screening_ref in rows:
        found.setdefault(client_id, Candidate(client_id, client_ref, screening_ref))
    listed = list(found.values())
    return listed[:limit], len(listed) > limit


class MdtReferrals:
    """The `mdt_referral` section as its owner holds it: one referral, by the public id of
    the screening (`wanted.refs`), while it still flags its client; nothing otherwise."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if wanted.client_id is None or len(wanted.refs) != 1:
            return Content((), None, None)
        found = db.exec(
            select(Screening, Client.reference)
            .join(Client, Client.id == Screening.client_id)
            .where(
                *_flagged(wanted.owner_id),
                Screening.client_id == wanted.client_id,
                Screening.public_id == wanted.refs[0],
            )
        ).first()
        if found is None:
            return Content((), None, None)
        screening, client_reference = found
        tool = tools().get(screening.tool_key)
        band = tool.band(screening.band) if tool else None
        result = f"{band.label} ({tool.name})" if band and tool else screening.band
        values = {
            "referral": screening.public_id,
            "client_reference": client_reference,
            "age_group": AgeGroup.MINOR.value,
            "screened_at": screening.screened_at.isoformat(),
            "result": result,
        }
        rows = tuple(
            Row(f.label, f.type, values[f.key]) for f in wanted.section.fields if f.key in values
        )
        return Content(rows, 1, screening.finalised_at)
