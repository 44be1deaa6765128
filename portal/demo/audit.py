"""Demo seed: real decisions of the disclosure point, so the leads' audit pages hold entries.

Some demo staff open the summaries of a few of their cases through the same code a page
view runs (`case_summary.owner_block`, each owner's disclosure point), so every entry is a
genuine decision —
released or withheld by policy or consent — written to the owner's log and, when
released, to the viewer's. Then every agency's log gets a signed checkpoint.
"""

from __future__ import annotations

import random
from datetime import datetime, tzinfo

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.models import Agency, StaffRole, StaffUser
from portal.requester import Requester
from portal.services import audit_log, case_summary, cases

VIEWERS = ("casemanager", "investigator", "advocate", "clinician", "mentor", "coordinator")
PURPOSES = ("mdt_case_review", "care_coordination")


def seed_audit(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    tz: tzinfo,
    rng: random.Random,
) -> None:
    agencies = {a.id: a for a in agencies_by_key.values()}
    for username in VIEWERS:
        user = db.exec(select(StaffUser).where(StaffUser.username == username)).first()
        if user is None:
            continue
        roles = frozenset(db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)))
        agency = agencies[user.agency_id]
        requester = Requester.of(user, agency, roles)
        for row in cases.cases_for_agency(db, agency, window_days=14, limit=2):
            case = cases.access_case(db, agency, row.public_id)
            asking = requester.asking(rng.choice(PURPOSES))
            for participant in case_summary.participants(db, case):
                case_summary.owner_block(
                    db, asking, case, participant.agency, at=at, tz=tz, keys=keys
                )
    for agency in agencies_by_key.values():
        audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=at)
