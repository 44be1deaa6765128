"""A needs assessment's substance use and mental health lines tell what those sections
hold (substance use is 42 CFR Part 2 matter): each line reaches a reader only where that
section's own gates, policy and consent, would release it."""

from datetime import UTC, timedelta

from disclosure_helpers import release, world, write
from sqlmodel import select

from portal.audit import AuditTag
from portal.disclosure import Released, disclose
from portal.models import AuditEntry, Discipline, Role

import factories as make

LATER = make.AT + timedelta(hours=1)
SU_NOTE = "SYNTHETIC-SUBSTANCE-NOTE"
MH_NOTE = "SYNTHETIC-MENTAL-HEALTH-NOTE"
FOOD_NOTE = "SYNTHETIC-FOOD-NOTE"


def _assessed(db, keys):
    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {
            "domains": {
                "food": {"status": "met", "note": FOOD_NOTE},
                "substance use": {"status": "need identified", "note": SU_NOTE},
                "mental health": {"status": "in progress", "note": MH_NOTE},
            },
            "assessed_on": "2026-11-01",
        },
    )
    return w


def _needs(db, keys, w, role):
    decision = disclose(
        db,
        w.viewer(role).asking("mdt_case_review"),
        w.case,
        w.owner,
        "needs_assessment",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Released)
    return next(r.value for r in decision.content.rows if r.type == "domains")


def test_a_release_naming_the_needs_assessment_alone_shows_neither_guarded_line(db, keys):
    w = _assessed(db, keys)
    release(db, keys, w, ["needs_assessment"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert domains["food"]["note"] == FOOD_NOTE
    for line, note in (("substance use", SU_NOTE), ("mental health", MH_NOTE)):
        assert note not in str(domains)
        assert domains[line]["status"] == "" and domains[line]["note"] == ""
        assert "no current release" in domains[line]["withheld"].lower()
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED
        )
    ).one()
    assert "substance use" in entry.detail and "mental health" in entry.detail


def test_a_guarded_line_shows_where_its_own_section_would(db, keys):
    w = _assessed(db, keys)
    release(db, keys, w, ["needs_assessment", "substance_use"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert domains["substance use"]["note"] == SU_NOTE
    assert MH_NOTE not in str(domains)  # the release does not name mental health


def test_a_role_the_policy_keeps_from_substance_use_never_sees_its_line(db, keys):
    w = _assessed(db, keys)
    release(db, keys, w, ["needs_assessment", "substance_use", "mental_health"])
    advocate = make.user(db, w.partner, Role.ADVOCATE)
    w.partner_staff = advocate
    domains = _needs(db, keys, w, Role.ADVOCATE)
    assert domains["food"]["note"] == FOOD_NOTE
    assert SU_NOTE not in str(domains) and MH_NOTE not in str(domains)
    assert domains["substance use"]["withheld"].startswith(
        "the disclosure policy does not release substance use to an advocate"
    )


def test_a_guarded_line_left_empty_is_withheld_alike(db, keys):
    """The placeholder never tells whether the owner wrote anything in that line."""
    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {"domains": {"food": {"status": "met", "note": ""}}, "assessed_on": "2026-11-01"},
    )
    release(db, keys, w, ["needs_assessment"])
    domains = _needs(db, keys, w, Role.CASE_MANAGER)
    assert set(domains) >= {"substance use", "mental health"}
    assert domains["substance use"]["withheld"] and domains["mental health"]["withheld"]
