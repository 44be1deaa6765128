"""What a person's disclosures rested on, read again as they are logged: their account
still active, in an agency still active, holding the roles the page was decided for, and
the API token they act through not revoked.

A request reads who is asking once, at its start (`auth.sessions.resume`, an API token's
lookup), and a page then decides without any log locked (issue 15: readers do not wait).
A lead who takes a role away, deactivates the account or revokes the token commits that
change with an entry in the agency's log; the page's append that releases anything holds
the asker's agency's log too (its receipts, or the owner's log when the owner is their own
agency). So, once it holds the logs, it reads the asker again here: what was taken since
the page read it is seen, nothing is written and the page is made again
(`audit.rechecks`). Someone asking from another node is that node's to check; a preview's
recipient is no one.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, select

from portal.audit import ChangedMeanwhile, recheck_under_lock, rechecks
from portal.db import read_rows
from portal.models import Agency, ApiToken, StaffRole, StaffUser
from portal.requester import LOCAL_NODE, Requester

# Session.info: (user, agency, API token or None), by public id -> the roles decided for
_READ = rechecks.notes("requesters_read")

# One row per role the person holds (one with no role: NULL), each saying whether their
# account and agency are active and whether the API token named is live.
_HELD_NOW = (
    select(
        (StaffUser.is_active & Agency.is_active).label("active"),
        StaffRole.role,
        select(ApiToken.revoked_at.is_(None))
        .where(ApiToken.public_id == bindparam("via"), ApiToken.acting_user_id == StaffUser.id)
        .scalar_subquery()
        .label("token_live"),
    )
    .join(Agency, Agency.id == StaffUser.agency_id)
    .outerjoin(StaffRole, StaffRole.user_id == StaffUser.id)
    .where(StaffUser.public_id == bindparam("user"), Agency.public_id == bindparam("agency"))
)


def note(db: Session, requester: Requester) -> None:
    """That this transaction's decisions rest on `requester` holding their roles now, to
    be read again as any of them that releases something is logged."""
    if requester.node != LOCAL_NODE or requester.user is None:
        return
    noted = db.info.setdefault(_READ, {})
    asker = (requester.user, requester.agency, requester.via)
    if noted.get(asker) != requester.roles:
        noted[asker] = requester.roles  # a request's requester asks in one set of roles
        recheck_under_lock(db, "requester", _unchanged)


def _unchanged(db: Session, rows) -> None:
    """ChangedMeanwhile when an append releases something to a person this transaction
    decided for, and they have lost since it read them a role it was decided for, their
    account or agency, or the token they act through."""
    released_to = {
        (row.get("actor_user_ref"), row.get("actor_agency_ref"))
        for row in rows
        if row.get("decision") == "released"
    }
    for (user, agency, via), roles in db.info.get(_READ, {}).items():
        if (user, agency) not in released_to:
            continue
        # Through the driver, as the append's own reads (one round trip, no result
        # machinery), and without a flush, which would end what the append holds of the
        # logs' heads (`chain.append_many`).
        with db.no_autoflush:
            found = read_rows(db, _HELD_NOW, {"user": user, "agency": agency, "via": via})
        if not found or not found[0]["active"]:
            raise ChangedMeanwhile("Your account or your agency was deactivated")
        if via is not None and not found[0]["token_live"]:
            raise ChangedMeanwhile("The API token was revoked")
        if roles - {row["role"] for row in found}:
            raise ChangedMeanwhile("Your roles changed")
