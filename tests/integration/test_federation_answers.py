"""What an owner's node answers another node's signed request for a case: nothing in a
gate or its sentence tells that a community agency serves a survivor on the case, or that
a case a stranger names exists (found by a review; each failed before on both databases)."""

from __future__ import annotations

from portal.federation import membership
from portal.models import Role
from portal.services import cases

import factories as make
from federation_helpers import elsewhere, shelter_case, signed_request

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
PATH = "/federation/v1/disclosures"


def _world(db, keys, clock):
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    return made.case, made.shelter, made.quiet, made.welfare


def _ask(client, clock, welfare, payload):
    body, headers = signed_request(HERE + PATH, welfare, payload, now=clock().timestamp())
    return client.post(PATH, content=body, headers=headers)


def test_a_partner_node_cannot_tell_from_the_gate_whether_a_community_agency_serves_the_survivor(
    client, db, keys, clock
):
    """The shelter's taking part in the case is its own to disclose (fact of service): the
    child-welfare agency elsewhere, on the case but named in no release of the shelter's
    survivor, must not learn it. Asked by a signed request for the `participation` section
    of two community agencies (one on the case, one not), the owner's node must answer
    both alike; it answers "no consent" for the one that serves the survivor and "not
    linked" for the one that does not."""
    case, shelter, quiet, welfare = _world(db, keys, clock)
    answer = _ask(
        client,
        clock,
        welfare,
        {
            "requester": {
                "node": THERE,
                "agency": welfare.member.agency,
                "agency_kind": "system",
                "user": None,
                "roles": ["case_manager"],
                "purpose": "mdt_case_review",
            },
            "case": case.reference,
            "owners": [shelter.public_id, quiet.public_id],
            "sections": ["participation"],
        },
    )
    assert answer.status_code == 200, answer.text
    by_owner = {a["owner"]: a["decisions"][0] for a in answer.json()["answers"]}
    serving, not_serving = by_owner[shelter.public_id], by_owner[quiet.public_id]
    assert serving["decision"] == not_serving["decision"] == "withheld"
    assert (serving["gate"], serving["reason"]) == (not_serving["gate"], not_serving["reason"]), (
        f"the gate tells that the shelter serves a survivor on {case.reference}: "
        f"{serving['gate']!r} for the shelter, {not_serving['gate']!r} for an agency not on it"
    )


def test_a_node_not_on_a_case_cannot_tell_a_real_case_with_a_lapsed_release_from_none(
    client, db, keys, clock
):
    """An agency elsewhere that is not on a case asks the coordinator's point for the
    case's MDT decisions. For a reference no case has, the answer is "not linked"; for a
    real case on which a survivor's joining release was revoked, it is "consent revoked":
    `point._case_consent` checks the lapsed links before it checks that the requester is
    on the case, so the answer tells a stranger that the case exists and that a survivor
    withdrew."""
    from datetime import timedelta

    import consent
    from portal.models import CaseLink
    from portal.services import releases

    cac = make.agency(db, keys, name="Answers 2 CAC (synthetic)")
    shelter = make.agency(db, keys, name="Answers 2 Shelter (synthetic)")
    lead = make.user(db, shelter, Role.CASE_MANAGER)
    stranger = elsewhere("Answers 2 Police Elsewhere (synthetic)", node=THERE, kind="system")
    membership.sign_roster(
        db, cac, membership.entries_json([stranger.member]), node=HERE, keys=keys, at=clock()
    )
    case = make.mdt_case(db, cac)
    survivor = make.client_record(db, shelter, keys)
    # Signed now (a release signed before its agency's key existed does not verify, and
    # one that does not verify has nothing to revoke), revoked an hour later.
    at = clock()
    row = releases.draft_release(
        db,
        survivor,
        recipients=[cac.public_id],
        sections=["placement_housing"],
        purpose="mdt_case_review",
        effective_at=at,
        expiry=consent.DateExpiry(at + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=lead,
        at=at,
    )
    releases.sign(
        db,
        row,
        signer=consent.Signer("Robin Example", consent.Capacity.SELF),
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=lead,
        keys=keys,
        at=at,
    )
    link = cases.link_client(db, case, shelter, survivor, actor=None, at=at, confirmed=True)
    link.release_ref = row.public_id
    db.add(link)
    clock.advance(hours=1)
    releases.revoke(db, row, reason=None, actor=lead, keys=keys, at=clock())
    clock.advance(hours=1)
    db.commit()
    assert db.get(CaseLink, link.id).release_ref == row.public_id

    def gate_for(reference: str) -> str:
        answer = _ask(
            client,
            clock,
            stranger,
            {
                "requester": {
                    "node": THERE,
                    "agency": stranger.member.agency,
                    "agency_kind": "system",
                    "user": None,
                    "roles": ["investigator"],
                    "purpose": "mdt_case_review",
                },
                "case": reference,
                "owners": [cac.public_id],
                "sections": ["mdt_decisions"],
            },
        )
        assert answer.status_code == 200, answer.text
        (decision,) = answer.json()["answers"][0]["decisions"]
        return decision["gate"]

    real, made_up = gate_for(case.reference), gate_for("MDT-2026-NOSUCH")
    assert real == made_up, (
        f"a stranger to {case.reference} is answered {real!r} for it and {made_up!r} for a "
        "reference no case has"
    )
