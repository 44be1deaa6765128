"""Issue 20, seed 004: a minor's clear concern screened at a partner reaches the MDT's
coordinating agency only through the partner's own disclosure point: under its policy and
the client's release naming the coordinator (or a system-based partner's legal basis),
audited on both sides; never an adult, a draft or a minor already on a case."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta

import pytest
from referral_helpers import AT, CITATION, LATER, NOTE, NY, Mdt
from sqlmodel import select

from portal.disclosure import Gate, Released, Withheld
from portal.errors import Invalid, NotFound
from portal.models import AuditEntry, Role
from portal.services import (
    audit_log,
    cases,
    legal_bases,
    policy,
    referrals,
    releases,
    screenings,
)
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make


@pytest.fixture
def mdt(db, keys):
    return Mdt(db, keys)


def _values(decision: Released) -> dict:
    return {row.label: row.value for row in decision.content.rows}


# -- released: the policy and the client's release naming the coordinator -------------


def test_a_release_naming_the_coordinator_tells_it_the_minimum(mdt):
    client, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    release = mdt.release(client, mdt.shelter_staff)
    found = mdt.ask(mdt.shelter)
    assert found.refused is None and len(found.decisions) == 1
    (decision,) = found.released
    assert decision.release_ref == release.public_id
    values = _values(decision)
    assert values == {
        "Referral": screening.public_id,
        "Their client reference": client.reference,
        "Age group": "minor",
        "Screened": screening.screened_at.isoformat(),
        "Result": "Clear concern (Commercial Sexual Exploitation-Identification Tool (CSE-IT))",
    }
    # Never the name, the screener's notes or anything else of the screening.
    shown = json.dumps([str(v) for v in values.values()])
    assert NOTE not in shown and "Robin" not in shown and "Example" not in shown
    # The owner's log names its own client and the release; its accounting lists it.
    (entry,) = mdt.owner_entries(mdt.shelter)
    assert entry.tag == "disclosure:section:released"
    assert (entry.client_ref, entry.subject, entry.release_ref) == (
        client.public_id,
        screening.public_id,
        release.public_id,
    )
    assert entry.actor_agency_ref == mdt.cac.public_id and entry.purpose == "referral"
    accounting = audit_log.accounting(
        mdt.db, mdt.shelter, client.reference, actor=mdt.shelter_staff, at=LATER
    )
    assert [r.entry.section_key for r in accounting.rows] == ["mdt_referral"]


def test_without_a_release_a_community_partner_tells_only_that_one_is_withheld(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    found = mdt.ask(mdt.shelter)
    (decision,) = found.decisions
    assert isinstance(decision, Withheld) and decision.gate == Gate.NO_CONSENT
    assert found.released == ()
    # The placeholder carries nothing of the client; the owner's own log names them.
    assert not hasattr(decision, "content")
    (entry,) = mdt.owner_entries(mdt.shelter)
    assert entry.tag == "disclosure:section:withheld" and entry.client_ref == client.public_id
    assert entry.gate == "no_consent"


def test_a_release_for_another_purpose_or_fact_does_not_cover_the_referral(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff, purpose="mdt_case_review")
    mdt.release(client, mdt.shelter_staff, sections=["screening"])
    (decision,) = mdt.ask(mdt.shelter).decisions
    assert isinstance(decision, Withheld) and decision.gate == Gate.NO_CONSENT


def test_a_revoked_release_withholds_on_the_next_question(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    row = mdt.release(client, mdt.shelter_staff)
    assert mdt.ask(mdt.shelter).released
    releases.revoke(
        mdt.db, row, reason="the client asked", actor=mdt.shelter_staff, keys=mdt.keys, at=LATER
    )
    mdt.db.flush()
    (decision,) = mdt.ask(mdt.shelter, at=LATER + timedelta(minutes=1)).decisions
    assert isinstance(decision, Withheld) and decision.gate == Gate.CONSENT_REVOKED


# -- released: a system-based partner's legal basis -------------------------------------


def _basis(mdt, *, sections=("mdt_referral",), purpose="referral"):
    return legal_bases.record_basis(
        mdt.db,
        mdt.welfare,
        citation=CITATION,
        sections=list(sections),
        purpose=purpose,
        minors_only=True,
        actor=mdt.welfare_lead,
        keys=mdt.keys,
        at=AT,
    )


def test_a_system_partners_legal_basis_refers_a_minor_and_is_named(mdt):
    client, _ = mdt.minor(mdt.welfare, mdt.welfare_lead)
    (before,) = mdt.ask(mdt.welfare).decisions
    assert isinstance(before, Withheld)
    basis = _basis(mdt)
    (decision,) = mdt.ask(mdt.welfare, at=LATER + timedelta(minutes=1)).released
    assert decision.release_ref is None and CITATION in decision.legal_basis
    entry = mdt.owner_entries(mdt.welfare)[-1]
    assert basis.public_id in json.loads(entry.detail)["legal_basis"]
    assert entry.client_ref == client.public_id and entry.decision == "released"


def test_someone_whose_record_says_adult_is_never_screened_as_a_minor(mdt):
    # A minors-only basis refers the minors the owner's screenings found: a screening
    # typed "minor" for a client whose sealed birth date says adult is refused outright
    # (and the referral point reads the owner's own record besides).
    with pytest.raises(Invalid, match="makes them an adult"):
        mdt.minor(mdt.welfare, mdt.welfare_lead, birth=date(1995, 1, 1))
    _basis(mdt)
    assert not mdt.ask(mdt.welfare).decisions


def test_a_basis_for_another_section_or_purpose_refers_nothing(mdt):
    mdt.minor(mdt.welfare, mdt.welfare_lead)
    _basis(mdt, sections=("screening",))
    legal_bases.record_basis(
        mdt.db,
        mdt.welfare,
        citation=CITATION + " (review)",
        sections=["mdt_referral"],
        purpose="mdt_case_review",
        minors_only=True,
        actor=mdt.welfare_lead,
        keys=mdt.keys,
        at=AT,
    )
    (decision,) = mdt.ask(mdt.welfare).decisions
    assert isinstance(decision, Withheld)


# -- refused as a whole: not the coordinator, or the policy ----------------------------


def test_an_agency_that_does_not_coordinate_the_mdt_is_refused_the_question(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    # Even a release naming it does not make another agency the MDT's coordinator.
    mdt.release(client, mdt.shelter_staff, recipients=[mdt.welfare.public_id])
    welfare_coordinator = make.user(mdt.db, mdt.welfare, Role.MDT_COORDINATOR)
    found = mdt.ask(
        mdt.shelter, mdt.requester(welfare_coordinator, mdt.welfare, Role.MDT_COORDINATOR)
    )
    assert found.decisions == () and found.refused.gate == Gate.NOT_COORDINATOR
    (entry,) = mdt.owner_entries(mdt.shelter)
    assert entry.gate == "not_coordinator" and entry.client_ref is None
    assert entry.subject is None


def test_with_no_coordinating_agency_known_nobody_is_told(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff)
    found = mdt.ask(mdt.shelter, coordinating=None)
    assert found.decisions == () and found.refused.gate == Gate.NOT_COORDINATOR


def test_the_policy_refuses_other_roles_the_whole_question_without_a_count(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff)
    found = mdt.ask(mdt.shelter, mdt.requester(mdt.advocate, mdt.cac, Role.ADVOCATE))
    assert found.decisions == () and found.refused.gate == Gate.POLICY
    # The same answer when the owner has no such minor at all.
    empty = mdt.ask(mdt.welfare, mdt.requester(mdt.advocate, mdt.cac, Role.ADVOCATE))
    assert empty.decisions == () and empty.refused.gate == Gate.POLICY


def test_an_owners_deny_line_refuses_the_coordinator(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff)
    policy.add_line(
        mdt.db,
        mdt.shelter,
        kind="*",
        role="mdt_coordinator",
        section="mdt_referral",
        purpose="*",
        effect="deny",
        actor=mdt.shelter_staff,
        at=AT,
    )
    mdt.db.flush()
    found = mdt.ask(mdt.shelter)
    assert found.decisions == () and found.refused.gate == Gate.POLICY
    entry = mdt.owner_entries(mdt.shelter)[-1]
    assert "deny" in entry.policy_rule


def test_an_agencys_own_minors_are_not_a_disclosure(mdt):
    with pytest.raises(NotFound):
        mdt.ask(mdt.cac)


# -- who is never flagged ---------------------------------------------------------------


def test_an_adult_is_never_flagged_even_with_a_yes_and_a_release(mdt):
    client, screening = mdt.minor(
        mdt.shelter, mdt.shelter_staff, birth=date(1990, 1, 1), age="adult"
    )
    screenings.record_choice(
        mdt.db, screening, choice="yes", actor=mdt.shelter_staff, keys=mdt.keys, tz=NY, at=AT
    )
    mdt.release(client, mdt.shelter_staff, adult=True)
    found = mdt.ask(mdt.shelter)
    assert found.refused is None and found.decisions == ()
    assert mdt.owner_entries(mdt.shelter) == []


def test_a_draft_or_a_possible_concern_is_never_flagged(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff, finalise=False)
    other, _ = mdt.minor(mdt.shelter, mdt.shelter_staff, band="possible_concern")
    for each in (client, other):
        mdt.release(each, mdt.shelter_staff)
    assert mdt.ask(mdt.shelter).decisions == ()


def test_a_minor_already_linked_to_a_case_is_not_flagged(mdt):
    client, _ = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff)
    assert len(mdt.ask(mdt.shelter).decisions) == 1
    case = make.mdt_case(mdt.db, mdt.cac)
    cases.link_client(mdt.db, case, mdt.shelter, client, actor=None, at=AT, confirmed=True)
    mdt.db.flush()
    assert mdt.ask(mdt.shelter).decisions == ()


def test_a_minor_screened_twice_is_told_of_once_by_the_first_screening(mdt):
    client, first = mdt.minor(mdt.shelter, mdt.shelter_staff)
    raw = screenings.form_values(mdt.db, first, keys=mdt.keys, tz=NY)
    given = screening_forms.read_screening(raw, tz=NY, now=LATER)
    again = screenings.start(
        mdt.db,
        client,
        given=given,
        actor=mdt.shelter_staff,
        keys=mdt.keys,
        at=LATER,
        minors=MinorSigning(),
    )
    screenings.finalise(
        mdt.db, again, actor=mdt.shelter_staff, keys=mdt.keys, tz=NY, window_hours=48, at=LATER
    )
    mdt.release(client, mdt.shelter_staff)
    (decision,) = mdt.ask(mdt.shelter, at=LATER + timedelta(minutes=1)).released
    assert _values(decision)["Referral"] == first.public_id


# -- the coordinator's side: both logs, counts by gate ----------------------------------


def test_asking_partners_here_writes_both_sides_and_counts_the_withheld(mdt):
    told, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(told, mdt.shelter_staff)
    mdt.minor(mdt.shelter, mdt.shelter_staff)  # no release: counted, never named
    mdt.minor(mdt.welfare, mdt.welfare_lead)  # no basis, no release
    found = referrals.ask_here(
        mdt.db,
        mdt.requester(),
        [mdt.shelter, mdt.welfare],
        coordinating=mdt.cac.public_id,
        at=LATER,
        tz=UTC,
        age_of_majority=18,
        keys=mdt.keys,
    )
    shelter, welfare = found[mdt.shelter.public_id], found[mdt.welfare.public_id]
    assert [r.client_reference for r in shelter.referrals] == [told.reference]
    assert [(w.gate, w.count) for w in shelter.withheld] == [("no_consent", 1)]
    assert shelter.count == 2 and welfare.count == 1 and welfare.referrals == ()
    assert shelter.referrals[0].screened_on(NY) == (AT - timedelta(days=2)).astimezone(NY).date()
    received = mdt.db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == mdt.cac.id, AuditEntry.tag == "disclosure:section:received"
        )
    ).all()
    assert [(e.subject, e.client_ref, json.loads(e.detail)["owner"]) for e in received] == [
        (screening.public_id, None, mdt.shelter.public_id)
    ]


def test_a_case_opened_from_a_referral_invites_the_owner_and_starts_the_clock(mdt):
    client, screening = mdt.minor(mdt.shelter, mdt.shelter_staff)
    mdt.release(client, mdt.shelter_staff)
    found = referrals.ask_here(
        mdt.db,
        mdt.requester(),
        [mdt.shelter],
        coordinating=mdt.cac.public_id,
        at=LATER,
        tz=UTC,
        age_of_majority=18,
        keys=mdt.keys,
    )
    referral = referrals.find(found[mdt.shelter.public_id], screening.public_id)
    case = referrals.open_case_from(
        mdt.db,
        referral,
        mdt.cac,
        referral_source=referrals.referral_source_of(mdt.shelter),
        actor=mdt.coordinator,
        at=LATER,
        tz=NY,
        today=LATER.astimezone(NY).date(),
        window_days=14,
    )
    assert case.intake_date == screening.screened_at.astimezone(NY).date()
    assert case.referral_source == "community_agency"
    assert [c.reference for c in referrals.waiting_on(mdt.db, mdt.cac, mdt.shelter)] == [
        case.reference
    ]
    with pytest.raises(NotFound):
        referrals.find(found[mdt.shelter.public_id], "no-such-referral")
