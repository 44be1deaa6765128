"""What an owner-side source gives the disclosure point: rows of one section's content."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from portal.crypto import KeyWrapper
from portal.sections import Section


@dataclass(frozen=True)
class Row:
    label: str
    type: str  # text | textarea | date | choice | checklist | domains
    value: object


@dataclass(frozen=True)
class Item:
    """One record of a kind kept per case (a decision, a task), by its public id, so a page
    can set each beside the facts it already shows (a task's due date and status)."""

    ref: str
    values: dict[str, object]


@dataclass(frozen=True)
class Content:
    rows: tuple[Row, ...]
    version: int | None  # None: the owner has recorded nothing in this section yet
    saved_at: datetime | None
    items: tuple[Item, ...] = ()

    def item(self, ref: str) -> Item | None:
        return next((item for item in self.items if item.ref == ref), None)


@dataclass(frozen=True)
class Wanted:
    """One read the disclosure point has already allowed: this section of this owner's
    client, as recorded for these cases (minutes and accompaniment are kept per case)."""

    owner_id: int
    client_id: int | None  # None for the MDT's own records, kept per case
    section: Section
    case_ids: tuple[int, ...]
    # Records kept per case: only these (by public id), with everything about them (a
    # task's comments and history); empty: all of the owner's, as a list shows them.
    refs: tuple[str, ...] = ()


@dataclass
class SourceCache:
    """What one request's reads have loaded: never outlives the request, so a new version
    is seen on the next one. (Unwrapped keys live longer: see `KeyWrapper.unwrap_key`.)"""

    # (owner id, client id) -> section key -> its newest sealed version
    latest: dict[tuple[int, int], dict[str, object]] = field(default_factory=dict)
    # client id -> (owner id, sealed identity)
    identities: dict[int, tuple[int, object]] = field(default_factory=dict)
    # The case this request reads (set by the loader): the sealed source then reads every
    # linked client's records at once, whatever the number of owners.
    case_id: int | None = None
    cases: set[int] = field(default_factory=set)  # cases whose records were read at once


class Source(Protocol):
    """An owner's records of one kind, read only for a disclosure already decided."""

    def load(
        self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache
    ) -> Content: ...
