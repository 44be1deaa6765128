"""What a node's answers let another node probe or get wrong, as a review found it: the
coordinating agency asking a community-based owner about agencies not on the case, vouchers
for an agency whose survivor's agreement to take part has lapsed, and a partner's signed
release judged with this node's keys alone. Each test named after a defect failed on the
reviewed code (on both databases where it takes one). Synthetic data only."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta

import httpx2
import pytest
import test_consent_cli as consent_cli_tests
import test_federation_vouchers as vouchers_tests
from sqlmodel import select

import consent
from consent.signing import envelope_dict
from portal.app import create_app
from portal.db import unit_of_work
from portal.disclosure import point
from portal.federation import membership, vouchers
from portal.federation.transport import Unavailable
from portal.models import AuditEntry, Client, Discipline, MdtCase, Role
from portal.requester import Requester
from portal.services import cases, casework, releases

import factories as make
import federation_world as fw
from federation_helpers import elsewhere, here, requester_of, signed_request, signed_roster

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
CASE_LINKS = "/federation/v1/case-links"
PARTICIPATION_TOLD = "/federation/v1/participation-told"
REFERENCE = "MDT-2026-PRB001"
URLS = vouchers_tests.URLS


def _requester(sender, roles=("mdt_coordinator",)) -> dict:
    return requester_of(sender, roles)


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


# -- 2. A voucher for an agency whose survivor's agreement to take part has lapsed ---------


def test_no_voucher_for_an_agency_whose_survivors_release_to_join_was_revoked(db, keys, clock):
    """A shelter on the coordinator's node joined the case under its survivor's release
    naming the coordinating CAC; the survivor revoked it. The coordinator's page shows the
    link as needing a new release and partners see nothing more of that survivor, yet
    `vouchers.for_request` (and `vouchers.mint`) still vouch that the shelter takes part,
    so owners elsewhere answer its staff as a part of the case."""
    cac = make.agency(db, keys, name="Voucher CAC (synthetic)")
    shelter = make.agency(
        db, keys, name="Voucher Shelter (synthetic)", discipline=Discipline.SHELTER
    )
    make.user(db, cac, Role.MDT_COORDINATOR)
    staff = make.user(db, shelter, Role.CASE_MANAGER)
    welfare = elsewhere("Voucher Welfare (synthetic)", node=THERE, kind="system")
    entries = membership.entries_json([welfare.member, here(db, shelter, node=HERE)])
    membership.sign_roster(db, cac, entries, node=HERE, keys=keys, at=clock())
    survivor = make.client_record(db, shelter, keys)
    joining = _sign(db, keys, clock, survivor, staff, [cac.public_id], ["placement_housing"])
    case = make.mdt_case(db, cac)
    clock.advance(minutes=1)
    cases.link_client(db, case, shelter, None, actor=None, at=clock())
    casework.confirm_link(
        db,
        case,
        shelter,
        client_reference=survivor.reference,
        actor=staff,
        at=clock(),
        keys=keys,
    )
    asking = Requester.of(staff, shelter, frozenset({Role.CASE_MANAGER.value}))
    # While the release is in effect the shelter is vouched for (no call elsewhere: the
    # coordinator's node mints it).
    voucher = vouchers.for_request(
        db, asking, shelter, case, keys=keys, federation=None, at=clock()
    )
    assert voucher["claim"]["agency"] == shelter.public_id
    clock.advance(minutes=1)
    releases.revoke(db, joining, reason="the client asked", actor=staff, keys=keys, at=clock())
    db.flush()
    clock.advance(minutes=1)
    assert shelter.id in point.lapsed_links(db, case, at=clock(), keys=keys)
    with pytest.raises(Unavailable):
        voucher = vouchers.for_request(
            db, asking, shelter, case, keys=keys, federation=None, at=clock()
        )
        raise AssertionError(f"the shelter was vouched for after the revocation: {voucher}")
    with pytest.raises(vouchers.NotVouched):
        vouchers.mint(
            db,
            case,
            shelter.public_id,
            coordinator=cac,
            asked_by=asking,
            keys=keys,
            at=clock(),
        )


world = vouchers_tests.world  # the fixture: three nodes, the case linked across them


def test_an_agency_elsewhere_whose_survivor_revoked_joining_asks_for_no_voucher(world):
    """The clinic (node B) joined the case under its survivor's release naming the CAC; the
    survivor revoked it, on B. Only B knows: the coordinator's node (A) holds no release of
    the clinic's and vouches on. B's `vouchers.for_request` still fetches a voucher and its
    staff ask owners elsewhere as a part of the case."""
    engine = world.b.engine()
    try:
        with unit_of_work(engine) as db:
            clinic = fw.agency_named(db, fw.CLINIC)
            staff = fw.staff_named(db, "clinic.cm")
            survivor = db.exec(select(Client).where(Client.agency_id == clinic.id)).one()
            (joining,) = releases.releases_of(db, survivor)
            releases.revoke(
                db, joining, reason="the client asked", actor=staff, keys=world.b.keys, at=fw.now()
            )
        with unit_of_work(engine) as db:
            case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
            clinic = fw.agency_named(db, fw.CLINIC)
            asking = Requester.of(
                fw.staff_named(db, "clinic.cm"), clinic, frozenset({Role.CASE_MANAGER.value})
            )
            with pytest.raises(Unavailable):
                voucher = vouchers.for_request(
                    db,
                    asking,
                    clinic,
                    case,
                    keys=world.b.keys,
                    federation=world.apps["b"].state.federation,
                    at=fw.now() + timedelta(seconds=1),
                )
                raise AssertionError(f"the clinic carries a voucher after revoking: {voucher}")
    finally:
        engine.dispose()


# -- 3. A partner's release verified on this node ------------------------------------------


def test_a_release_of_a_partner_elsewhere_verifies_under_its_roster_key_and_no_other(
    client, db, keys, clock
):
    """`portal consent verify` and the verify page judge a release with this node's key
    ring, which holds the keys of the agencies hosted here only: a release a partner on
    another node signed, with the key the MDT's roster lists for it, is "signed with a key
    that is not on the roster", though the page has words for one "not made on this node"
    (whose revocations cannot be checked here). Signed by another partner's key, it is
    still refused, as another agency's."""
    cac = make.agency(db, keys, name="Verify CAC (synthetic)")
    advocate = make.user(db, cac, Role.ADVOCATE)
    welfare = elsewhere("Verify Welfare (synthetic)", node=THERE, kind="system")
    police = elsewhere(
        "Verify Police (synthetic)", node=THERE, kind="system", discipline="law_enforcement"
    )
    entries = membership.entries_json([welfare.member, police.member])
    membership.sign_roster(db, cac, entries, node=HERE, keys=keys, at=clock())
    survivor = make.client_record(db, cac, keys)
    ours = releases.signed_document(
        db,
        _sign(db, keys, clock, survivor, advocate, [welfare.member.agency], ["safety_plan"]),
        keys=keys,
    )
    db.commit()
    theirs = dataclasses.replace(
        ours,
        release_id=str(uuid.uuid4()),
        disclosing_agency=welfare.member.agency,
        recipients=(cac.public_id,),
    )
    make.login(client, advocate.username)
    token = make.csrf_of_page(client, "/clients")

    def verified(signer, document=theirs) -> str:
        body = document.to_dict()
        signature = signer.signing_key.sign(consent.canonical_bytes(body)).signature
        envelope = envelope_dict("release", body, signer.key_id, signature)
        page = client.post(
            "/consent/verify",
            data={"csrf_token": token},
            files={"document": ("release.json", json.dumps(envelope).encode(), "application/json")},
        )
        assert page.status_code == 200, page.text
        return page.text

    page = verified(welfare)
    assert "Valid and in effect now" in page, (
        "child welfare's own release, signed with the key the roster lists for it, was "
        + (
            "refused as signed with a key not on the roster"
            if "not on the roster" in page
            else "refused"
        )
    )
    assert "its revocations could not be checked here" in page
    assert "signed with another agency" in verified(police)
    # Numbered as a release made here: still another agency's, whose revocations this node
    # does not hold (this node's release of that number is not it).
    numbered_as_ours = dataclasses.replace(theirs, release_id=ours.release_id)
    assert "its revocations could not be checked here" in verified(welfare, numbered_as_ours)


node = consent_cli_tests.node  # the fixture: a migrated node as an operator has it


def test_the_command_line_verifies_a_partners_release_with_its_roster_key(node, tmp_path, capsys):
    """The same on `portal consent verify`: it exits 0 for a partner's release signed with
    its roster key, and says that revocations are the disclosing agency's to tell."""
    envelope, _ = consent_cli_tests.make_release(node)
    engine, keys = node
    welfare = elsewhere("Verify Welfare CLI (synthetic)", node=THERE, kind="system")
    with unit_of_work(engine) as db:
        owner = fw.agency_named(db, "Owner Agency (synthetic)")
        entries = membership.entries_json([welfare.member])
        membership.sign_roster(db, owner, entries, node=HERE, keys=keys, at=consent_cli_tests.now())
        recipient = owner.public_id
    engine.dispose()
    theirs = dataclasses.replace(
        consent.Release.from_dict(envelope["release"]),
        release_id=str(uuid.uuid4()),
        disclosing_agency=welfare.member.agency,
        recipients=(recipient,),
    )
    body = theirs.to_dict()
    signature = welfare.signing_key.sign(consent.canonical_bytes(body)).signature
    signed = envelope_dict("release", body, welfare.key_id, signature)
    code, output = consent_cli_tests.verify(tmp_path, capsys, signed)
    assert code == 0 and output.startswith("VALID"), output
    assert "made on another node" in output
