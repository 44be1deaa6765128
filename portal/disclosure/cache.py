"""What one request's decisions have read, typed: it never outlives the request.

Everything here is read again on the next request, which is what makes a revocation, an
expiry or a policy change count at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from portal.db import transaction_memo
from portal.disclosure.sources import SourceCache
from portal.errors import NotFound
from portal.models import Agency

_AGENCIES = "agency_by_public_id"  # transaction_memo: public id -> the agency's row


def note_agencies(db: Session, agencies) -> None:
    """Agencies this transaction has read already (a case's participants): a request's
    cache then reads none of them again (`RequestCache.agency`)."""
    transaction_memo(db, _AGENCIES).update((agency.public_id, agency) for agency in agencies)


@dataclass
class RequestCache:
    # agency public id -> its row on this node
    agencies: dict[str, Agency] = field(default_factory=dict)
    # case id -> agency id -> (the agency's client on the case, when the link was confirmed)
    links: dict[int, dict[int, tuple[int | None, datetime | None]]] = field(default_factory=dict)
    # case id -> agencies whose client joined under a release no longer in effect
    lapsed: dict[int, set[int]] = field(default_factory=dict)
    client_refs: dict[int, str] = field(default_factory=dict)  # client id -> public id
    policies: dict[int, object] = field(default_factory=dict)  # owner id -> OwnerPolicy
    # (owner id, client id, recipient id, only this release) -> verified releases
    candidates: dict[tuple, list] = field(default_factory=dict)
    legal_bases: dict[int, list] = field(default_factory=dict)  # owner id -> bases in force
    # What the nodes of survivors served elsewhere answered for an MDT record, asked and
    # audited there (`portal.federation.elsewhere_consent`): (case id, holder agency id,
    # section key, recipient agency id) -> (the gate that withheld it, or None; the
    # release used). A page asks of many cases at once (a meeting's agenda, a task list).
    held_elsewhere: dict[tuple[int, int, str, int], tuple[str | None, str | None]] = field(
        default_factory=dict
    )
    sources: SourceCache = field(default_factory=SourceCache)

    def agency(self, db: Session, public_id: str) -> Agency:
        """The requester's agency as this node knows it (its roster entry, once federated)."""
        if public_id not in self.agencies:
            # Read once per transaction, whichever cache of the request asks.
            known = transaction_memo(db, _AGENCIES)
            found = known.get(public_id)
            if found is None:
                found = db.exec(select(Agency).where(Agency.public_id == public_id)).first()
                if found is None:
                    raise NotFound("agency")
                known[public_id] = found
            self.agencies[public_id] = found
        return self.agencies[public_id]
