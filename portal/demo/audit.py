"""Demo seed: real decisions of the disclosure point, so the leads' audit pages hold entries.

Some demo staff open the summaries of a few of their cases through the same code a page
view runs (`summary.owner_block` → `disclose`), so every entry is a genuine decision —
released or withheld by policy or consent — written to the owner's log and, when
released, to the viewer's. Then every agency's log gets a signed checkpoint.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlmodel import Session, select

from portal.auth.sessions import Viewer
from portal.crypto import KeyWrapper
from portal.disclosure import summary
from portal.models import Agency, StaffRole, StaffUser
from portal.services import audit_log, cases

VIEWERS = ("casemanager", "investigator", "advocate", "clinician", "mentor", "coordinator")
PURPOSES = ("mdt_case_review", "care_coordination")


def seed_audit(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    rng: random.Random,
) -> None:
    agencies = {a.id: a for a in agencies_by_key.values()}
    for username in VIEWERS:
        user = db.exec(select(StaffUser).where(StaffUser.username == username)).first()
        if user is None:
            continue
        roles = frozenset(db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)))
        viewer = Viewer(user=user, agency=agencies[user.agency_id], roles=roles, session=None)
        for row in cases.cases_for_agency(db, viewer.agency, window_days=14, limit=2):
            case = cases.access_case(db, viewer.agency, row.public_id)
            purpose = rng.choice(PURPOSES)
            for participant in summary.participants(db, case):
                summary.owner_block(
                    db, viewer, case, participant.agency, purpose=purpose, at=at, keys=keys
                )
    for agency in agencies_by_key.values():
        audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=at)
