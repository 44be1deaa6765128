"""The default policy, row by row: who may EVER receive what (consent still required)."""

import logging

import pytest

from portal.disclosure.policy import OwnerPolicy, default_lines, field_match
from portal.models import Role
from portal.sections import catalogue

ALL_PURPOSES = ("mdt_case_review", "care_coordination", "referral")
MDT_ROLES = {
    "advocate",
    "case_manager",
    "clinician",
    "investigator",
    "survivor_mentor",
    "mdt_coordinator",
}

# Partners' kinds, and the owner's own staff (decided as the kind "own").
KINDS = ("community", "system", "own")

# section -> kind -> roles that may receive it for SOME purpose. Anything absent: never.
TABLE = {
    "identity": {k: MDT_ROLES for k in KINDS},
    # Issue 14: the address apart from the name, never to a system-based partner; a
    # system-based owner's own staff still read it.
    "safe_contact": {"community": MDT_ROLES, "system": set(), "own": MDT_ROLES},
    # The whole plan holds the safe address: not to a system-based partner (the strategies
    # part is theirs), found by a review of the point.
    "safety_plan": {
        "community": {"advocate", "case_manager", "mdt_coordinator"},
        "system": set(),
        "own": {"advocate", "case_manager", "mdt_coordinator"},
    },
    # A survivor-mentor gets the strategies and contacts, never the whole plan (issue 20).
    "safety_strategies": {
        k: {"advocate", "case_manager", "survivor_mentor", "mdt_coordinator"} for k in KINDS
    },
    "screening": {
        "community": {"advocate", "case_manager", "clinician", "mdt_coordinator"},
        "system": {"advocate", "case_manager", "clinician", "investigator", "mdt_coordinator"},
        "own": {"advocate", "case_manager", "clinician", "investigator", "mdt_coordinator"},
    },
    # Its domains include substance use (42 CFR Part 2): not to a system-based partner.
    "needs_assessment": {
        "community": {
            "advocate",
            "case_manager",
            "clinician",
            "survivor_mentor",
            "mdt_coordinator",
        },
        "system": set(),
        "own": {"advocate", "case_manager", "clinician", "survivor_mentor", "mdt_coordinator"},
    },
    "care_plan": {k: {"advocate", "case_manager", "clinician", "mdt_coordinator"} for k in KINDS},
    "placement_housing": {k: {"advocate", "case_manager"} for k in KINDS},
    "legal_court": {
        "community": {"advocate", "case_manager", "mdt_coordinator"},
        "system": {"advocate", "case_manager", "investigator", "mdt_coordinator"},
        "own": {"advocate", "case_manager", "investigator", "mdt_coordinator"},
    },
    "investigation": {"community": set(), "system": {"investigator"}, "own": {"investigator"}},
    "medical": {k: {"clinician", "case_manager"} for k in KINDS},
    "mental_health": {k: {"clinician", "case_manager"} for k in KINDS},
    # The owner's own staff are not a copy that could be compelled: no deny for them.
    "substance_use": {
        "community": {"clinician", "case_manager"},
        "system": set(),
        "own": {"clinician", "case_manager"},
    },
    "education": {k: {"advocate", "case_manager", "mdt_coordinator"} for k in KINDS},
    "immigration": {
        "community": {"advocate", "case_manager"},
        "system": set(),
        "own": {"advocate", "case_manager"},
    },
    "mentor_accompaniment": {k: {"advocate", "mdt_coordinator"} for k in KINDS},
    "mdt_minutes": {k: MDT_ROLES for k in KINDS},
    # Issue 14: the MDT's decisions and tasks, and the fact of taking part.
    "mdt_decisions": {k: MDT_ROLES for k in KINDS},
    "mdt_tasks": {k: MDT_ROLES for k in KINDS},
    "participation": {k: MDT_ROLES for k in KINDS},
    # Issue 14, seed 004: parts of sections for the survivor-mentor only.
    "next_hearing": {k: {"survivor_mentor"} for k in KINDS},
    "placement_type": {k: {"survivor_mentor"} for k in KINDS},
    "care_plan_goals": {k: {"survivor_mentor"} for k in KINDS},
    # Issue 20, seed 004: a minor with a clear concern, to the MDT coordinator only.
    "mdt_referral": {k: {"mdt_coordinator"} for k in KINDS},
}

# Lines that are narrower than "any purpose": (section, role) -> the only purposes.
ONLY_FOR = {
    ("investigation", "investigator"): {"mdt_case_review"},
    ("legal_court", "investigator"): {"mdt_case_review"},
    ("safety_plan", "mdt_coordinator"): {"mdt_case_review"},
    ("safety_strategies", "mdt_coordinator"): {"mdt_case_review"},
    ("screening", "mdt_coordinator"): {"mdt_case_review"},
    ("screening", "investigator"): {"mdt_case_review"},
    ("care_plan", "mdt_coordinator"): {"mdt_case_review"},
    ("education", "mdt_coordinator"): {"mdt_case_review"},
    ("legal_court", "mdt_coordinator"): {"mdt_case_review"},
    ("mentor_accompaniment", "mdt_coordinator"): {"mdt_case_review"},
    **{("mdt_minutes", r): {"mdt_case_review"} for r in MDT_ROLES},
    **{
        (section, r): {"mdt_case_review"}
        for section in ("mdt_decisions", "mdt_tasks", "participation")
        for r in MDT_ROLES
    },
    ("mdt_referral", "mdt_coordinator"): {"referral"},
}

POLICY = OwnerPolicy(default_lines())
ROWS = [
    (section.key, kind, role.value, purpose)
    for section in catalogue().sections
    for kind in KINDS
    for role in Role
    for purpose in ALL_PURPOSES
]


def test_the_table_names_every_catalogue_section():
    assert set(TABLE) == catalogue().keys()


@pytest.mark.parametrize(("section", "kind", "role", "purpose"), ROWS)
def test_default_policy_row(section, kind, role, purpose):
    may = role in TABLE[section][kind] and purpose in ONLY_FOR.get((section, role), ALL_PURPOSES)
    answer = POLICY.decide("owner-x", kind, role, section, purpose)
    assert answer.allowed is may, (section, kind, role, purpose, answer.rule)


def test_administrators_and_leads_never_receive_anything():
    for section, kind, role, purpose in ROWS:
        if role in ("administrator", "agency_lead"):
            assert not POLICY.decide("o", kind, role, section, purpose).allowed


def test_an_empty_field_never_matches():
    assert not field_match("", "")
    assert not field_match("identity", "")
    assert field_match("identity", "*") and not field_match("", "*")


def test_casbin_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG)
    OwnerPolicy(default_lines()).decide("o", "system", "advocate", "medical", "referral")
    assert not [r for r in caplog.records if r.name.startswith("casbin")]


def test_the_model_names_every_policy_field_in_its_matcher():
    from portal.disclosure.policy import MODEL_PATH

    text = MODEL_PATH.read_text()
    matcher = next(line for line in text.splitlines() if line.startswith("m ="))
    for name in ("owner", "kind", "role", "section", "purpose", "eft"):
        assert f"p.{name}" in matcher
    assert "eval(" not in text
