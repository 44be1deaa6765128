"""Issue 20 across nodes: the coordinator's row asks partners hosted elsewhere over the
signed protocol, as the case summary does; each owner's node decides at its own point and
writes its own log, the coordinator's node receipts what came back. Three nodes in this
process (federation_world)."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import httpx2
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

import consent
from portal.app import create_app
from portal.db import unit_of_work
from portal.federation import referrals as partner_referrals
from portal.federation.transport import Federation
from portal.models import Agency, CaseLink, MdtCase, Role, StaffUser
from portal.requester import Requester
from portal.services import clients, legal_bases, screenings, staff
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import federation_world as fw

URLS = ("http://node-a.test", "http://node-b.test", "http://node-c.test")
NY = ZoneInfo("America/New_York")
PARENT = consent.Signer("Pat Example", consent.Capacity.PARENT)
CITATION = "Synthetic State Code 39.3035 (example)"


def _minor(db, node, owner_name, author_name, reference, *, release_to=None):
    at = fw.now() - timedelta(minutes=3)
    owner = db.exec(select(Agency).where(Agency.name == owner_name)).one()
    author = db.exec(select(StaffUser).where(StaffUser.username == author_name)).one()
    client = clients.register_client(
        db,
        owner,
        clients.Identity("Robin", "Minor", date(2012, 4, 9)),
        reference=reference,
        actor=author,
        keys=node.keys,
        at=at,
    )
    raw = {
        "tool": "fl_htst",
        "tool_version": "current edition",
        "screened_at": f"{(at - timedelta(days=1)).astimezone(NY):%Y-%m-%dT%H:%M}",
        "trigger": "intake",
        "band": "positive",
        "age_group": "minor",
        "action": "mdt_referral",
        "notes": "SYNTHETIC-REMOTE-NOTE",
    }
    given = screening_forms.read_screening(raw, tz=NY, now=at)
    made = screenings.start(
        db, client, given=given, actor=author, keys=node.keys, at=at, minors=MinorSigning()
    )
    screenings.finalise(db, made, actor=author, keys=node.keys, tz=NY, window_hours=48, at=at)
    if release_to:
        fw.sign_release(
            db,
            node,
            client,
            author,
            [release_to],
            ["mdt_referral"],
            at,
            purpose="referral",
            second_signer=PARENT,
        )
    return made


@pytest.fixture
def world(tmp_path):
    a, b, c = fw.nodes(tmp_path, URLS)
    world = fw.prepare(a, b, c)
    cac_id = world.ids[fw.CAC]
    refs = {}
    with unit_of_work(a.engine()) as db:
        refs["shelter"] = _minor(db, a, fw.SHELTER, "shelter.cm", "SH-MINOR", release_to=cac_id)
    with unit_of_work(b.engine()) as db:
        refs["clinic"] = _minor(db, b, fw.CLINIC, "clinic.cm", "CL-MINOR")  # no release
    with unit_of_work(c.engine()) as db:
        refs["welfare"] = _minor(db, c, fw.WELFARE, "cw.cm", "CW-MINOR")
        welfare = db.exec(select(Agency).where(Agency.name == fw.WELFARE)).one()
        lead = db.exec(select(StaffUser).where(StaffUser.username == "cw.lead")).one()
        legal_bases.record_basis(
            db,
            welfare,
            citation=CITATION,
            sections=["mdt_referral"],
            purpose="referral",
            minors_only=True,
            actor=lead,
            keys=c.keys,
            at=fw.now() - timedelta(minutes=2),
        )
    world.refs = {k: v.public_id for k, v in refs.items()}
    apps = {node.name: create_app(node.settings()) for node in (a, b, c)}
    mounts = {
        URLS[1]: httpx2.ASGITransport(app=apps["b"]),
        URLS[2]: httpx2.ASGITransport(app=apps["c"]),
    }
    # 30 s, not 5: under load a partner in this process once answered late (as in
    # federation_world.link), and the dashboard showed it unavailable.
    apps["a"].state.federation = Federation(timeout_seconds=30, window_seconds=30, mounts=mounts)
    world.apps = apps
    yield world
    apps["a"].state.federation.close()


def _row(page: str) -> str:
    return page.split("Minors with a clear concern and no MDT case", 1)[1].split("</tr>", 1)[0]


def test_partners_elsewhere_refer_through_their_own_points(world):
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        row = _row(client.get("/").text)
    # Child welfare (node C) under its legal basis; the shelter (here) under a release.
    assert "CW-MINOR" in row and CITATION in row
    assert "SH-MINOR" in row and "shared under the client's release" in row
    # The clinic (node B, community-based, no release): a count, never the reference.
    assert "CL-MINOR" not in row
    assert f"{fw.CLINIC}: 1 more minor, not shared with your agency (no consent)" in row
    assert "SYNTHETIC-REMOTE-NOTE" not in row and "Robin" not in row
    # Each owner's node wrote its own decision, naming its own client there.
    (released_c,) = fw.entries(world.c, section_key="mdt_referral")
    assert (released_c.decision, released_c.subject) == ("released", world.refs["welfare"])
    assert CITATION in json.loads(released_c.detail)["legal_basis"]
    assert released_c.actor_agency_ref == world.ids[fw.CAC]
    (withheld_b,) = fw.entries(world.b, section_key="mdt_referral")
    assert (withheld_b.decision, withheld_b.gate) == ("withheld", "no_consent")
    # The coordinator's node receipted what it received, from here and from elsewhere.
    received = fw.entries(world.a, tag="disclosure:section:received", section_key="mdt_referral")
    assert {json.loads(e.detail)["owner"] for e in received} == {
        world.ids[fw.WELFARE],
        world.ids[fw.SHELTER],
    }


def test_a_case_opened_from_a_remote_referral_asks_the_owner_to_link(world):
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        url = f"/referrals/{world.ids[fw.WELFARE]}/{world.refs['welfare']}"
        page = client.get(url)
        assert page.status_code == 200 and "CW-MINOR" in page.text
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        opened = client.post(url, data={"csrf_token": token, "referral_source": "child_welfare"})
        assert opened.status_code == 303
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        case = db.exec(select(MdtCase)).all()[-1]
        welfare = db.exec(select(Agency).where(Agency.name == fw.WELFARE)).one()
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == welfare.id)
        ).one()
    engine.dispose()
    # Invited; the owner's node declined to confirm: no release names the coordinator for
    # MDT case review yet (joining is the survivor's choice, whatever the legal basis).
    assert link.confirmed_at is None
    assert fw.entries(world.c, tag="mdt:case:link_declined", subject=case.reference)


def test_an_agency_that_does_not_coordinate_is_refused_by_the_owners_node(world):
    federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},
    )
    try:
        engine = world.a.engine()
        with unit_of_work(engine) as db:
            shelter = db.exec(select(Agency).where(Agency.name == fw.SHELTER)).one()
            welfare = db.exec(select(Agency).where(Agency.name == fw.WELFARE)).one()
            author = staff.create_staff(
                db,
                shelter,
                username="shelter.coordinator",
                display_name="Shelter coordinator (synthetic)",
                password=fw.PASSWORD,
                roles=[Role.MDT_COORDINATOR.value],
                actor=None,
                at=fw.now(),
            )
            asking = Requester.of(author, shelter, {Role.MDT_COORDINATOR.value})
            db.commit()  # the staff member stands: no node is asked with a write held
            # Not the coordinating agency: this node does not even ask.
            assert (
                partner_referrals.coordinator_referrals(
                    db,
                    asking,
                    configured=shelter.name,  # a setting never outranks the roster
                    at=fw.now(),
                    tz=UTC,
                    age_of_majority=18,
                    keys=world.a.keys,
                    federation=federation,
                )
                is None
            )
            # Asked anyway, the owner's node refuses the whole question: no count.
            answer = partner_referrals.one_partner(
                db,
                asking,
                welfare,
                configured=None,
                at=fw.now(),
                tz=UTC,
                age_of_majority=18,
                keys=world.a.keys,
                federation=federation,
            )
            assert answer is None
            found = _ask_as(db, world, shelter, asking, federation)
        engine.dispose()
    finally:
        federation.close()
    assert found["refused"]["gate"] == "not_coordinator" and found["decisions"] == []
    refused = fw.entries(world.c, section_key="mdt_referral", gate="not_coordinator")
    assert [e.actor_agency_ref for e in refused] == [world.ids[fw.SHELTER]]


def _ask_as(db, world, agency, asking, federation):
    """The signed question as the shelter's node would send it, past the requester's own
    check: the owner's node must refuse on its own."""
    from dataclasses import replace

    from portal.federation import transport, wire

    roster, local_url = transport.roster_and_url(db)
    member = roster.member(world.ids[fw.WELFARE])
    (call,) = transport.calls_by_node(
        db,
        agency,
        [member],
        partner_referrals.REFERRALS,
        lambda hosted: {
            "requester": wire.requester_dict(replace(asking.asking("referral"), node=local_url)),
            "owners": [m.agency for m in hosted],
        },
        keys=world.a.keys,
    )
    (answer,) = federation.send([call])
    return answer["answers"][0]


def test_an_owner_down_shows_unavailable_and_the_rest_stands(world):
    world.apps["a"].state.federation.close()
    world.apps["a"].state.federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[1]: fw.NodeDown(), URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},
    )
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        page = client.get("/")
    assert page.status_code == 200
    row = _row(page.text)
    assert f"{fw.CLINIC}: unavailable" in row and "CW-MINOR" in row
