"""Demo only: synthetic disclosure entries, so the lead's audit pages hold data at first login.

DEMO-ONLY. Until the disclosure point (issue 5, disclosure) writes real decisions, these
entries are made up here, through the one audit function, for obviously fictional cases.
Nothing outside the demo seed calls this module.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlmodel import Session, select

from portal.audit import AuditTag, DisclosureFacts, record
from portal.crypto import KeyWrapper
from portal.models import Agency, CaseLink, MdtCase, Role, StaffRole, StaffUser
from portal.services import audit_log

# DEMO-ONLY: every demo entry says so in its detail, and carries a demo tag, so it can
# never pass for a decision of the real disclosure point.
DEMO_DISCLOSURE_DETAIL = {"demo": "synthetic disclosure entry written by the demo seed"}

# (viewer username, section, purpose, decision, gate): partners reading the CAC's sections.
_DEMO_VIEWS = (
    ("casemanager", "safety_plan", "mdt_case_review", "released", None),
    ("casemanager", "needs_assessment", "mdt_case_review", "released", None),
    ("investigator", "mental_health", "mdt_case_review", "withheld", "policy"),
    ("investigator", "safety_plan", "mdt_case_review", "withheld", "no_consent"),
    ("advocate", "care_plan", "care_coordination", "released", None),
    ("advocate", "placement_housing", "care_coordination", "released", None),
    ("clinician", "needs_assessment", "referral", "withheld", "consent_expired"),
    ("mentor", "care_plan", "mdt_case_review", "released", None),
    ("coordinator", "safety_plan", "mdt_case_review", "released", None),  # own staff
)


def seed_audit(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    rng: random.Random,
) -> None:
    """DEMO-ONLY: a handful of disclosure decisions in the CAC's log, then a checkpoint of
    every agency's log."""
    owner = agencies_by_key["cac"]
    links = db.exec(
        select(MdtCase.reference, CaseLink.client_id)
        .join(CaseLink, CaseLink.case_id == MdtCase.id)
        .where(CaseLink.agency_id == owner.id, CaseLink.client_id.is_not(None))
        .order_by(MdtCase.id)
    ).all()
    if not links:
        return
    users = {u.username: u for u in db.exec(select(StaffUser)).all()}
    roles = {r.user_id: r.role for r in db.exec(select(StaffRole)).all()}
    moment = at - timedelta(days=6)
    for case_ref, client_id in links[:4]:
        for username, section, purpose, decision, gate in _DEMO_VIEWS:
            if rng.random() < 0.3:
                continue
            viewer = users[username]
            moment += timedelta(minutes=rng.randint(20, 400))
            record(
                db,
                AuditTag.DEMO_DISCLOSURE,
                agency_id=owner.id,
                actor=viewer,
                subject=case_ref,
                detail=DEMO_DISCLOSURE_DETAIL,
                at=min(moment, at),
                disclosure=DisclosureFacts(
                    case_ref=case_ref,
                    client_id=client_id,
                    section_key=section,
                    purpose=purpose,
                    decision=decision,
                    gate=gate,
                    release_ref=None,
                    policy_rule=None,
                    viewer_role=roles.get(viewer.id, Role.ADVOCATE.value),
                ),
            )
    for agency in agencies_by_key.values():
        audit_log.checkpoint_log(db, agency, keys=keys, actor=None, at=at)
