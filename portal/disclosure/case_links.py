"""What a disclosure of a client on a case rested on, read again as it is logged.

A partner reads a client's sections only while her agency has her confirmed on the case
and, where she joined under a release, that release is in effect (`point._load_links`;
issue 14). A page reads the links without the owner's log locked (issue 15: readers do not
wait), and a withdrawal of the link (`casework.withdraw_link`) or a revocation of that
release (`releases.revoke`) holds the owner's log until it commits. So an append that says
"released" to another agency, once it holds the owner's log, reads both again here: if
either changed since the page read them, nothing is written and the page is made again
(`audit.rechecks`). The owner's own reads rest on neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlmodel import Session

from portal.audit import rechecks
from portal.audit.rechecks import ChangedMeanwhile
from portal.audit.revoked import refuse_revoked_by
from portal.models import CaseLink

# Session.info: (case reference, client public id) -> Linked, as this transaction read it
_READ = rechecks.notes("case_links_read")

_LINKS_NOW = select(
    CaseLink.case_id, CaseLink.agency_id, CaseLink.client_id, CaseLink.confirmed_at
).where(CaseLink.case_id.in_(bindparam("cases", expanding=True)))


@dataclass(frozen=True)
class Linked:
    """A client confirmed on a case, as a page read it."""

    case_id: int
    agency_id: int
    client_id: int
    owner_ref: str  # the client's agency, by public id
    joined: str | None  # the release she joined under; None for a link that names none


def note(db: Session, case_ref: str, client_ref: str, linked: Linked | None) -> None:
    """What the page's disclosures of the client on the case rest on (None: nothing, as
    the link is not confirmed or has lapsed), to be read again as they are logged."""
    noted = db.info.setdefault(_READ, {})
    if linked is None:
        noted.pop((case_ref, client_ref), None)
        return
    noted[(case_ref, client_ref)] = linked
    rechecks.recheck_under_lock(db, "case_links", _unchanged)


def _unchanged(db: Session, rows) -> None:
    noted = db.info.get(_READ, {})
    relied = []
    for row in rows:
        linked = noted.get((row.get("case_ref"), row.get("client_ref")))
        if (
            linked is not None
            and row.get("decision") == "released"
            and row.get("actor_agency_ref") != linked.owner_ref
        ):
            relied.append((linked, row["at"]))
    if not relied:
        return
    refuse_revoked_by(db, [(linked.joined, at) for linked, at in relied if linked.joined])
    now = {
        (case_id, agency_id): (client_id, confirmed_at)
        for case_id, agency_id, client_id, confirmed_at in db.connection().execute(
            _LINKS_NOW, {"cases": sorted({linked.case_id for linked, _at in relied})}
        )
    }
    for linked, _at in relied:
        client_id, confirmed_at = now.get((linked.case_id, linked.agency_id), (None, None))
        if client_id != linked.client_id or confirmed_at is None:
            raise ChangedMeanwhile("A client was taken off the case")
