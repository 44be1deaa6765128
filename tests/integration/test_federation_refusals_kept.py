"""What another node's refused or withheld request leaves behind at `/federation/v1`: a
refused request's nonce is kept (the same bytes are not served twice), and every
placeholder a community-based owner answers is in its own log. Each test failed before its
fix (found by a review). Synthetic data only."""

from __future__ import annotations

import json

from sqlmodel import select

from portal.models import AuditEntry

from federation_helpers import shelter_case, signed_request

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
DISCLOSURES = "/federation/v1/disclosures"


def _world(db, keys, clock):
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    return None, made.case, made.shelter, made.welfare


def _signed(clock, sender, path, payload) -> tuple[bytes, dict]:
    return signed_request(HERE + path, sender, payload, now=clock().timestamp())


def _requester(sender, roles=("case_manager",)) -> dict:
    return {
        "node": THERE,
        "agency": sender.member.agency,
        "agency_kind": sender.member.kind,
        "user": None,
        "roles": list(roles),
        "purpose": "mdt_case_review",
    }


def test_a_request_refused_with_a_4xx_cannot_be_sent_again_within_the_window(
    client, db, keys, clock
):
    """ "A replayed or stale request is refused" (DESIGN.md, Federation). The nonce of an
    accepted signature is remembered in the answer's own transaction, which was rolled
    back on a WireError or a DomainError (400, 404, ...): the nonce was forgotten, and the
    very same signed bytes were served again, as often as anyone who saw them liked while
    the window lasted (so a request refused for the state of the moment was carried out
    once the state had changed)."""
    _cac, case, _shelter, welfare = _world(db, keys, clock)
    body, headers = _signed(
        clock,
        welfare,
        DISCLOSURES,
        {
            "requester": _requester(welfare),
            "case": case.reference,
            "owners": ["00000000-0000-4000-8000-000000000000"],  # no agency here
            "sections": ["placement_housing"],
        },
    )
    first = client.post(DISCLOSURES, content=body, headers=headers)
    assert first.status_code == 404, first.text
    again = client.post(DISCLOSURES, content=body, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed", (
        f"the same signed request, sent a second time, was served again: {again.status_code} "
        f"{again.text}"
    )


def test_every_placeholder_a_community_owner_answers_is_in_its_own_log(client, db, keys, clock):
    """ "Denials are audited too" and each side writes its own entry. Asked by a partner
    elsewhere for sections of a community-based owner whose `participation` it may not be
    told, the owner's node wrote the one `participation` decision to the owner's log and
    answered every section asked with a "not linked" placeholder that no entry recorded:
    the shelter's lead, asking "who asked what of ours", never saw that the child-welfare
    agency asked for its survivor's placement and safety plan on this case."""
    _cac, case, shelter, welfare = _world(db, keys, clock)
    asked = ["placement_housing", "safety_plan"]
    before = db.exec(
        select(AuditEntry.id).where(
            AuditEntry.agency_id == shelter.id, AuditEntry.subject == case.reference
        )
    ).all()
    body, headers = _signed(
        clock,
        welfare,
        DISCLOSURES,
        {
            "requester": _requester(welfare),
            "case": case.reference,
            "owners": [shelter.public_id],
            "sections": asked,
        },
    )
    answer = client.post(DISCLOSURES, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    decisions = answer.json()["answers"][0]["decisions"]
    assert [d["section"] for d in decisions] == asked
    assert all(d["decision"] == "withheld" for d in decisions)
    db.expire_all()
    logged = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == shelter.id,
            AuditEntry.subject == case.reference,
            AuditEntry.id.not_in(before or [0]),
        )
    ).all()
    keys_logged = {e.section_key for e in logged}
    missing = [s for s in asked if s not in keys_logged]
    assert not missing, (
        f"the shelter's node answered {welfare.member.name} a placeholder for {missing} "
        f"and wrote no entry for it in the shelter's log (entries: "
        f"{sorted(str(k) for k in keys_logged)})"
    )
    # Each is withheld for the true reason (the shelter's participation was not released),
    # beside what the asker was answered.
    sections = [e for e in logged if e.section_key in asked]
    assert {e.decision for e in sections} == {"withheld"}
    assert all(e.gate != "not_linked" for e in sections)
    assert all(json.loads(e.detail)["answered"] for e in sections)
