"""No entry says a disclosure was made under a release that was revoked by then.

A page decides its owners' answers from what it read without their logs locked (issue 15:
readers do not wait), and a revocation holds the release's log from its start to its
commit (`releases.hold_release`). So a page that read the releases just before a
revocation committed would show, and log, what the survivor had already withdrawn. Its
append holds the same log, so it reads the revocations again there (`refuse_revoked`): a
revocation that committed meanwhile is seen, and the page is made again. The revocation, in
turn, takes effect after every disclosure its log holds when it gets the lock
(`releases.revoke`), so the two orders the log can hold them in are both true; so does a
change of the agency's policy (`services.policy`), which a page's append reads again as
`rechecks` says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlmodel import Session

from portal.audit.rechecks import ChangedMeanwhile
from portal.models import Agency, AuditEntry, ConsentRelease, ReleaseRevocation

_ONE_TICK = timedelta(microseconds=1)  # the finest time both databases keep

_REVOCATIONS = (
    select(ConsentRelease.public_id, ReleaseRevocation.revoked_at)
    .join(ReleaseRevocation, ReleaseRevocation.release_id == ConsentRelease.id)
    .where(ConsentRelease.public_id.in_(bindparam("refs", expanding=True)))
)


class RevokedMeanwhile(ChangedMeanwhile):
    """A disclosure decided under a release whose revocation committed before it could be
    logged: nothing of it is written or shown. A page is made again (`web.routing`)."""

    def __init__(self) -> None:
        super().__init__("A release was revoked")


def refuse_revoked(db: Session, entries: Iterable[Mapping[str, Any]]) -> None:
    """RevokedMeanwhile if any entry says it released under a release revoked at or before
    its time (as the consent gate counts a revocation: from its row's time, whatever its
    document says). The caller holds the logs the entries go to."""
    refuse_revoked_by(
        db,
        [
            (entry["release_ref"], entry["at"])
            for entry in entries
            if entry.get("decision") == "released" and entry.get("release_ref")
        ],
    )


def refuse_revoked_by(db: Session, relied_on: Iterable[tuple[str, datetime]]) -> None:
    """RevokedMeanwhile if any release among `relied_on` (its public id, and the time a
    disclosure relied on it) was revoked at or before that time. The caller holds the logs
    of the releases' agencies."""
    relied_on = list(relied_on)
    if not relied_on:
        return
    refs = sorted({ref for ref, _at in relied_on})
    first_revoked: dict[str, Any] = {}
    for ref, revoked_at in db.connection().execute(_REVOCATIONS, {"refs": refs}):
        first_revoked[ref] = min(revoked_at, first_revoked.get(ref, revoked_at))
    if any(ref in first_revoked and first_revoked[ref] <= at for ref, at in relied_on):
        raise RevokedMeanwhile()


_LAST_RELEASED = select(func.max(AuditEntry.at)).where(
    AuditEntry.agency_id == bindparam("agency"),
    AuditEntry.at >= bindparam("at"),  # the log's (agency, at) index: only the latest few
    AuditEntry.decision == "released",
)
# Under the release, or of its client to another agency: every such disclosure rested on
# the release the client joined the case under (`point._load_links`), whatever release
# named the section. Not the owner's own reads, which rest on no release.
_LAST_RELEASED_UNDER = _LAST_RELEASED.where(
    or_(
        AuditEntry.release_ref == bindparam("release"),
        and_(
            AuditEntry.client_ref == bindparam("client"),
            AuditEntry.actor_agency_ref
            != select(Agency.public_id).where(Agency.id == bindparam("agency")).scalar_subquery(),
        ),
    )
)


def effective_after_disclosures(
    db: Session,
    agency_id: int,
    release_ref: str | None = None,
    *,
    client_ref: str | None = None,
    at: datetime,
) -> datetime:
    """When a change made at `at` that withholds from then on (a release's revocation, a
    client's link withdrawn; with neither, a change of the agency's policy) takes effect:
    `at`, or just after the last disclosure (under the release, or of its client
    `client_ref` to another agency) that the agency's log holds from then on: a page that
    read what it changes before the change began, and logged first. The caller holds the
    log, so no later one can be written before the change commits."""
    params = {"agency": agency_id, "at": at}
    if release_ref is None and client_ref is None:
        last = db.connection().execute(_LAST_RELEASED, params).scalar()
    else:
        last = (
            db.connection()
            .execute(_LAST_RELEASED_UNDER, {**params, "release": release_ref, "client": client_ref})
            .scalar()
        )
    return at if last is None else last + _ONE_TICK
