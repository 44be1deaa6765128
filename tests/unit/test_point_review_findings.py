"""The disclosure point as a review found it: the default policy let the survivor's safe
address (in the safety plan) and substance-use needs (in the needs assessment) reach a
system-based partner; a preview's entry named a role the previewing person does not hold.
Each test is named after a defect the review found and failed before it was fixed."""

from datetime import UTC, timedelta

from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import select

from portal.audit import AuditTag
from portal.disclosure import Released, disclose, preview
from portal.models import AgencyKind, AuditEntry, Discipline, Role

import factories as make

LATER = make.AT + timedelta(hours=1)
ADDRESS = "12 SYNTHETIC LANE, NOWHERE"


def _entries(db, agency_id, tag=None):
    query = select(AuditEntry).where(AuditEntry.agency_id == agency_id)
    if tag:
        query = query.where(AuditEntry.tag == tag)
    return db.exec(query.order_by(AuditEntry.id)).all()


def test_safety_plan_releases_the_survivors_safe_address_to_a_system_based_partner(db, keys):
    """The policy keeps the address from every system-based partner (safe_contact deny,
    issue 14), but the safety plan carries the same address in its 'Current safe address'
    field and the default policy releases the whole plan to system-based case managers,
    advocates and coordinators."""
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, partner_kind=AgencyKind.SYSTEM)
    write(db, keys, w, "safety_plan", {"stage": "leaving", "safe_address": ADDRESS})
    release(db, keys, w, ["safe_contact", "safety_plan"])
    asking = w.viewer(Role.CASE_MANAGER).asking("mdt_case_review")

    contact = disclose(db, asking, w.case, w.owner, "safe_contact", LATER, tz=UTC, keys=keys)
    assert contact.decision == "withheld"  # the address section itself: never to system

    plan = disclose(db, asking, w.case, w.owner, "safety_plan", LATER, tz=UTC, keys=keys)
    shown = [r.value for r in plan.content.rows] if isinstance(plan, Released) else []
    assert ADDRESS not in shown, (
        "a system-based partner received the survivor's current safe address "
        f"through the safety plan: {shown}"
    )


def test_preview_audit_entry_names_a_role_the_previewing_staff_member_does_not_hold(db, keys):
    """A preview shows the owner's clinician the medical content; the entry in the owner's
    log names that clinician as the actor but writes the previewed recipient role
    (case_manager) as the actor's role, and the partner-kind policy line, not the line
    under which the clinician was actually shown the content."""
    w = world(db, keys)  # owner staff: a clinician
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    decisions = preview(
        db, w.own_viewer(Role.CLINICIAN), row, w.partner, "case_manager", LATER, tz=UTC, keys=keys
    )
    medical = next(d for d in decisions if d.section.key == "medical")
    assert isinstance(medical, Released)
    assert SECRET_NOTE in [r.value for r in medical.content.rows]  # shown to the clinician
    entry = next(
        e
        for e in _entries(db, w.owner.id, AuditTag.DISCLOSURE_PREVIEWED)
        if e.section_key == "medical"
    )
    assert entry.actor_user_ref == w.owner_staff.public_id
    assert entry.actor_role == "clinician", (
        f"the entry says {w.owner_staff.public_id} read medical content as "
        f"{entry.actor_role!r} under {entry.policy_rule!r}; they hold only 'clinician'"
    )
