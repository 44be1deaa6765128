"""What a node's answers let another node probe or get wrong, as a review found it: the
coordinating agency asking a community-based owner about agencies not on the case, vouchers
for an agency whose survivor's agreement to take part has lapsed, and a partner's signed
release judged with this node's keys alone. Each test named after a defect failed on the
reviewed code (on both databases where it takes one). Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import test_federation_vouchers as vouchers_tests
from sqlmodel import select

import consent
from portal.app import create_app
from portal.db import unit_of_work
from portal.federation import membership
from portal.models import AuditEntry, Client, Discipline, Role
from portal.services import releases

import factories as make
import federation_world as fw
from federation_helpers import elsewhere, here, signed_request, signed_roster

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
CASE_LINKS = "/federation/v1/case-links"
PARTICIPATION_TOLD = "/federation/v1/participation-told"
REFERENCE = "MDT-2026-PRB001"
URLS = vouchers_tests.URLS


def _requester(sender, roles=("mdt_coordinator",)) -> dict:
    return {
        "node": sender.member.node,
        "agency": sender.member.agency,
        "agency_kind": sender.member.kind,
        "user": None,
        "roles": list(roles),
        "purpose": "mdt_case_review",
    }


def _sign(db, keys, clock, survivor, author, recipients, sections):
    at = clock()  # after the agency's key was made: a release is signed under it
    row = releases.draft_release(
        db,
        survivor,
        recipients=recipients,
        sections=sections,
        purpose="mdt_case_review",
        effective_at=at,
        expiry=consent.DateExpiry(at + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=author,
        at=at,
    )
    releases.sign(
        db,
        row,
        signer=consent.Signer("Robin Example", consent.Capacity.SELF),
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=author,
        keys=keys,
        at=at,
    )
    return row


def _post(client, clock, sender, path, payload):
    body, headers = signed_request(HERE + path, sender, payload, now=clock().timestamp())
    return client.post(path, content=body, headers=headers)


# -- 1. The participation-told question about agencies not on the case -------------------


def test_the_coordinator_cannot_probe_an_owner_about_an_agency_not_on_the_case(
    client, db, keys, clock
):
    """A shelter here serves a survivor on a case coordinated elsewhere, with child welfare
    (elsewhere) on it. The survivor's release names child welfare and the police (elsewhere,
    not on the case) for taking part. `owner.participation_told` answers for any agency the
    coordinator lists: asked about the police, it says they may be told, and so tells the
    coordinator what the survivor's release names about an agency with no part in the case
    (any agency of the roster can be tried, one answer each)."""
    shelter = make.agency(db, keys, name="Probe Shelter (synthetic)", discipline=Discipline.SHELTER)
    author = make.user(db, shelter, Role.CASE_MANAGER)
    cac = elsewhere("Probe CAC (synthetic)", node=THERE, kind="community", discipline="advocacy")
    welfare = elsewhere("Probe Welfare (synthetic)", node=THERE, kind="system")
    police = elsewhere(
        "Probe Police (synthetic)", node=THERE, kind="system", discipline="law_enforcement"
    )
    roster = [cac.member, welfare.member, police.member, here(db, shelter, node=HERE)]
    membership.import_roster(db, signed_roster(cac, roster, at=clock()), pin=cac.key_id, at=clock())
    survivor = make.client_record(db, shelter, keys)
    _sign(db, keys, clock, survivor, author, [cac.member.agency], ["placement_housing"])
    told_of = [welfare.member.agency, police.member.agency]
    _sign(db, keys, clock, survivor, author, told_of, ["participation"])
    db.commit()
    clock.advance(minutes=1)
    linked = _post(
        client,
        clock,
        cac,
        CASE_LINKS,
        {
            "requester": _requester(cac),
            "owner": shelter.public_id,
            "client": survivor.public_id,
            "case": {"reference": REFERENCE, "intake_date": clock().date().isoformat()},
            "participants": [cac.member.agency, shelter.public_id, welfare.member.agency],
        },
    )
    assert linked.json()["confirmed"] is True, linked.text
    clock.advance(seconds=1)
    answer = _post(
        client,
        clock,
        cac,
        PARTICIPATION_TOLD,
        {
            "requester": _requester(cac),
            "owner": shelter.public_id,
            "case": REFERENCE,
            "recipients": told_of,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["told"] == [welfare.member.agency], (
        "asked about the police, not on the case, the shelter's node answered "
        f"{answer.json()['told']}: what its survivor's release names, to a probe"
    )
    # The question is in the shelter's log all the same, withheld as for an agency not on
    # the case: its lead sees who was asked about.
    db.expire_all()
    about_police = [
        e
        for e in db.exec(select(AuditEntry).where(AuditEntry.subject == REFERENCE)).all()
        if police.member.agency in (e.detail or "")
    ]
    assert [(e.decision, e.gate) for e in about_police] == [("withheld", "not_linked")]


def test_an_agency_confirmed_after_a_community_one_is_told_of_it_at_once(tmp_path):
    """The guard beside the fix above: the clinic's survivor names child welfare for taking
    part before child welfare joins the case. Once child welfare's link is confirmed, the
    clinic's node must know it is on the case before it is asked whether it may be told of
    the clinic, so child welfare's node is told of the clinic in the same round."""
    a, b, c = fw.nodes(tmp_path, URLS)
    world = fw.prepare(a, b, c)
    engine = b.engine()
    with unit_of_work(engine) as db:
        clinic = fw.agency_named(db, fw.CLINIC)
        survivor = db.exec(select(Client).where(Client.agency_id == clinic.id)).one()
        author = fw.staff_named(db, "clinic.cm")
        fw.sign_release(
            db, b, survivor, author, [world.ids[fw.WELFARE]], ["participation"], fw.now()
        )
    engine.dispose()
    apps = {each.name: create_app(each.settings()) for each in (b, c)}
    fw.link(
        world,
        mounts={
            URLS[1]: httpx2.ASGITransport(app=apps["b"]),
            URLS[2]: httpx2.ASGITransport(app=apps["c"]),
        },
    )
    assert fw.CLINIC in vouchers_tests._links_on(c, world.case_ref), (
        "child welfare's node was not told of the clinic, though the clinic's survivor names "
        "it: the clinic's node was asked before it knew child welfare takes part"
    )
