"""A survivor served on a third node: before the coordinator's point answers an MDT record,
its node asks the survivor's node whether their release in effect names the requester's
agency for the record (a signed question, decided and audited there as a relied-on entry,
or withheld with its gate). Real nodes over HTTP on 127.0.0.1, on each database. The case:
the shelter's survivor on node A (with the coordinator), the clinic's on node B, child
welfare's on node C. Synthetic data only."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
import test_federation_mdt_records as one
from sqlmodel import select

from portal.db import unit_of_work
from portal.federation import transport
from portal.federation.elsewhere_consent import CASE_CONSENT
from portal.models import Client
from portal.services import policy

import federation_world as fw
from databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    yield from one.served(request, tmp_path_factory, elsewhere=(fw.CLINIC, fw.WELFARE))


def _release(world, node_name: str, holder: str, author: str, recipient: str) -> None:
    """`holder`'s survivor (on `node_name`) names `recipient` for the MDT's decisions."""
    node = getattr(world, node_name)
    with unit_of_work(node.engine()) as db:
        agency = fw.agency_named(db, holder)
        client = db.exec(select(Client).where(Client.agency_id == agency.id)).one()
        fw.sign_release(
            db,
            node,
            client,
            fw.staff_named(db, author),
            [world.ids[recipient]],
            ["mdt_decisions"],
            fw.now(),
        )


def _welfare_answers(world, before: set[int]) -> list:
    return one._since(world.c, "mdt_decisions", before)


# In order: each test adds a release to the one before.


def test_without_the_third_survivors_release_the_clinic_sees_the_gate_audited_there(world):
    _release(world, "a", fw.SHELTER, "shelter.cm", fw.CLINIC)
    before_a, before_c = one._ids(world.a, "mdt_decisions"), one._ids(world.c, "mdt_decisions")
    page = one._clinic_case_page(world)
    assert one.DECISION not in page
    assert 'data-section="mdt_decisions" data-gate="no_consent"' in page
    # Child welfare's node was asked and said no, in child welfare's own log.
    (asked,) = _welfare_answers(world, before_c)
    assert (asked.tag, asked.gate, asked.actor_agency_ref) == (
        "disclosure:section:withheld",
        "no_consent",
        world.ids[fw.CLINIC],
    )
    assert json.loads(asked.detail)["asked_by"] == world.ids[fw.CAC]
    decided = one._since(world.a, "mdt_decisions", before_a)
    assert [(e.tag, e.gate) for e in decided] == [("disclosure:section:withheld", "no_consent")]


def test_under_every_survivors_release_the_clinic_reads_the_decisions(world):
    _release(world, "c", fw.WELFARE, "cw.cm", fw.CLINIC)
    before_a, before_b = one._ids(world.a, "mdt_decisions"), one._ids(world.b, "mdt_decisions")
    before_c = one._ids(world.c, "mdt_decisions")
    page = one._clinic_case_page(world)
    assert one.DECISION in page
    (relied,) = _welfare_answers(world, before_c)
    assert (relied.tag, relied.actor_agency_ref, relied.decision) == (
        "disclosure:release:relied_on",
        world.ids[fw.CLINIC],
        "released",
    )
    assert relied.release_ref  # the welfare survivor's release, named in welfare's log
    decided = one._since(world.a, "mdt_decisions", before_a)
    assert {e.tag for e in decided} == {
        "disclosure:section:released",
        "disclosure:release:relied_on",  # the shelter's survivor, in the shelter's log
    }
    received = one._since(world.b, "mdt_decisions", before_b)
    assert [e.tag for e in received] == ["disclosure:section:received"]


def test_the_shelter_on_the_coordinators_node_asks_both_nodes_elsewhere(world):
    page = one._page(world, "a", "shelter.cm", f"/cases/{world.case_id}")
    assert one.DECISION not in page  # neither survivor elsewhere names the shelter yet
    _release(world, "b", fw.CLINIC, "clinic.cm", fw.SHELTER)
    _release(world, "c", fw.WELFARE, "cw.cm", fw.SHELTER)
    before_b, before_c = one._ids(world.b, "mdt_decisions"), one._ids(world.c, "mdt_decisions")
    page = one._page(world, "a", "shelter.cm", f"/cases/{world.case_id}")
    assert one.DECISION in page
    for node, before in ((world.b, before_b), (world.c, before_c)):
        (relied,) = one._since(node, "mdt_decisions", before)
        assert (relied.tag, relied.actor_agency_ref) == (
            "disclosure:release:relied_on",
            world.ids[fw.SHELTER],
        )


def _ask_welfare(world, *, signer_node: str, signer: str, sections) -> httpx2.Response:
    """A signed /case-consent request to child welfare's node, as `signer` signs it."""
    node = getattr(world, signer_node)
    with unit_of_work(node.engine()) as db:
        agency = fw.agency_named(db, signer)
        key_id, key = transport.signing_key_of(db, agency, keys=node.keys)
    asker = {
        "node": node.url,
        "agency": world.ids[signer],
        "agency_kind": "community",
        "user": None,
        "roles": ["mdt_coordinator"],
        "purpose": "mdt_case_review",
    }
    body = json.dumps(
        {
            "requester": asker,
            "asking": {**asker, "roles": ["case_manager"]},
            "case": world.case_ref,
            "owner": world.ids[fw.WELFARE],
            "sections": sections,
        }
    ).encode()
    target = world.c.url + "/federation/v1/case-consent"
    headers = transport.signed_request_headers(
        target, body, key_id=key_id, signing_key=key, now=time.time()
    )
    with httpx2.Client(timeout=one.TIMEOUT) as http:
        return http.post(target, content=body, headers=headers)


def test_only_the_coordinator_asks_and_only_of_mdt_records(world):
    before_c = one._ids(world.c, "mdt_decisions")
    refused = _ask_welfare(world, signer_node="b", signer=fw.CLINIC, sections=["mdt_decisions"])
    assert refused.status_code == 404, refused.text
    assert one._since(world.c, "mdt_decisions", before_c) == []
    for sections in (["placement_housing"], [], ["no_such_section"], "mdt_decisions"):
        wrong = _ask_welfare(world, signer_node="a", signer=fw.CAC, sections=sections)
        assert (wrong.status_code, wrong.json()["error"]) == (400, "bad_request"), sections
    asked = _ask_welfare(world, signer_node="a", signer=fw.CAC, sections=["mdt_decisions"])
    assert asked.status_code == 200, asked.text
    (answer,) = asked.json()["answers"]
    # Asked for the coordinator itself: no release of welfare's survivor names it for the
    # decisions (its joining release names it for case review, not for this record).
    assert (answer["section"], answer["gate"]) == ("mdt_decisions", "no_consent")
    (entry,) = one._since(world.c, "mdt_decisions", before_c)
    assert (entry.tag, entry.actor_agency_ref) == (
        "disclosure:section:withheld",
        world.ids[fw.CAC],
    )


def test_a_rule_changed_while_the_survivors_nodes_answer_is_seen_before_anything_shows(
    world, monkeypatch
):
    """The coordinator's node commits before it waits for the survivors' nodes elsewhere
    (no lock held meanwhile): the coordinator's policy its point read before that commit
    is read again under its log as the decisions are logged. Its lead denies the shelter
    the decisions while the nodes answer: the page is made again and shows nothing of
    them (before: shown, and logged as released after the line that stopped it)."""
    assert _shown_to_the_shelter(world)  # both survivors' releases name the shelter
    federation = world.apps["a"].state.federation
    send = federation.send
    denied = []

    def lead_denies_meanwhile(calls):
        if not denied and any(call.path == CASE_CONSENT for call in calls):
            with unit_of_work(world.a.engine()) as db:
                denied.append(
                    policy.add_line(
                        db,
                        fw.agency_named(db, fw.CAC),
                        kind="community",
                        role="case_manager",
                        section="mdt_decisions",
                        purpose="*",
                        effect="deny",
                        actor=fw.staff_named(db, "cac.lead"),
                        at=fw.now(),
                    ).public_id
                )
        return send(calls)

    monkeypatch.setattr(federation, "send", lead_denies_meanwhile)
    before_a = one._ids(world.a, "mdt_decisions")
    try:
        page = one._page(world, "a", "shelter.cm", f"/cases/{world.case_id}")
    finally:
        monkeypatch.undo()
        if denied:
            with unit_of_work(world.a.engine()) as db:
                policy.retire_line(
                    db,
                    fw.agency_named(db, fw.CAC),
                    denied[0],
                    actor=fw.staff_named(db, "cac.lead"),
                    at=fw.now(),
                )
    assert denied, "the survivors' nodes were not asked"
    assert one.DECISION not in page
    decided = one._since(world.a, "mdt_decisions", before_a)
    assert decided and all(e.decision != "released" for e in decided), [
        (e.tag, e.decision) for e in decided
    ]
    assert _shown_to_the_shelter(world)  # the line retired: released again


def _shown_to_the_shelter(world) -> bool:
    return one.DECISION in one._page(world, "a", "shelter.cm", f"/cases/{world.case_id}")
