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
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, exists, select
from sqlmodel import Session

from portal.crypto import KeyWrapper
from portal.db import read
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


_screening, _client, _link = Screening.__table__, Client.__table__, CaseLink.__table__
# A finalised screening of a minor with a clear concern, whose client the owner has not
# linked to any MDT case (confirmed or only named). Built once: every coordinator's
# dashboard asks it of every partner.
_FLAGGED = (
    _screening.c.agency_id == bindparam("owner"),
    _screening.c.concern == "clear",
    _screening.c.age_group == AgeGroup.MINOR.value,
    _screening.c.finalised_at.is_not(None),
    ~exists().where(
        _link.c.agency_id == _screening.c.agency_id,
        _link.c.client_id == _screening.c.client_id,
    ),
)
_CANDIDATES = (
    select(_screening.c.client_id, _client.c.public_id, _screening.c.public_id)
    .join(_client, _client.c.id == _screening.c.client_id)
    .where(*_FLAGGED)
    .order_by(_screening.c.screened_at, _screening.c.id)
)
_REFERRAL = (
    select(
        _screening.c.public_id,
        _screening.c.tool_key,
        _screening.c.band,
        _screening.c.screened_at,
        _screening.c.finalised_at,
        _client.c.reference,
    )
    .join(_client, _client.c.id == _screening.c.client_id)
    .where(
        *_FLAGGED,
        _screening.c.client_id == bindparam("client"),
        _screening.c.public_id == bindparam("screening"),
    )
)


def candidates(
    db: Session, owner_id: int, *, limit: int = LIMIT, only: str | None = None
) -> tuple[list[Candidate], bool]:
    """Each such client once (their earliest such screening), oldest first; and whether
    there were more than `limit`. `only`: the one referral (its screening's public id) a
    page asks about; nothing of any other minor is decided, read or logged."""
    found: dict[int, Candidate] = {}
    for client_id, client_ref, screening_ref in read(db, _CANDIDATES, {"owner": owner_id}):
        found.setdefault(client_id, Candidate(client_id, client_ref, screening_ref))
    listed = list(found.values())
    if only is not None:
        return [c for c in listed if c.screening_ref == only], False
    return listed[:limit], len(listed) > limit


class _Row(NamedTuple):
    public_id: str
    tool_key: str
    band: str
    screened_at: datetime
    finalised_at: datetime
    client_reference: str


class MdtReferrals:
    """The `mdt_referral` section as its owner holds it: one referral, by the public id of
    the screening (`wanted.refs`), while it still flags its client; nothing otherwise."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if wanted.client_id is None or len(wanted.refs) != 1:
            return Content((), None, None)
        found = read(
            db,
            _REFERRAL,
            {"owner": wanted.owner_id, "client": wanted.client_id, "screening": wanted.refs[0]},
        ).first()
        if found is None:
            return Content((), None, None)
        screening = _Row(*found)
        tool = tools().get(screening.tool_key)
        band = tool.band(screening.band) if tool else None
        result = f"{band.label} ({tool.name})" if band and tool else screening.band
        values = {
            "referral": screening.public_id,
            "client_reference": screening.client_reference,
            "age_group": AgeGroup.MINOR.value,
            "screened_at": screening.screened_at.isoformat(),
            "result": result,
        }
        rows = tuple(
            Row(f.label, f.type, values[f.key]) for f in wanted.section.fields if f.key in values
        )
        return Content(rows, 1, screening.finalised_at)
