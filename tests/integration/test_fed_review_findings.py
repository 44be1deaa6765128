"""Federation review of 4bd9e08..bdc7d37 (case status to owners elsewhere, participation
vouchers, community agencies told of when their point says so, owed tells). Each test fails
on the reviewed code and shows a defect. Synthetic data only."""

from __future__ import annotations

from datetime import date, timedelta

import httpx2
import pytest
import test_federation_vouchers as vouchers_tests
from sqlmodel import select

from portal.app import create_app
from portal.db import unit_of_work
from portal.federation import links, membership
from portal.federation.roster import Mou
from portal.federation.transport import Federation
from portal.models import AuditEntry, MdtCase, OwedTell, Role
from portal.requester import Requester
from portal.services import audit_log, cases

import federation_world as fw
from databases import setup_unit

URLS = vouchers_tests.URLS
_links_on = vouchers_tests._links_on
_sign_participation = vouchers_tests._sign_participation
_tell_again = vouchers_tests._tell_again
world = vouchers_tests.world  # the fixture: three nodes, the case linked across them


def _coordinator(world) -> Requester:
    return Requester(
        node="local",
        agency=world.ids[fw.CAC],
        agency_kind="community",
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
    )


def _case_a(db, world) -> MdtCase:
    return db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()


# -- 1. The survivor's accounting names the wrong recipient ---------------------------------


def test_survivors_accounting_names_the_coordinator_not_child_welfare_as_told_of_the_shelter(
    world,
):
    """`point.told_to_agency` records the shelter's telling child welfare's node that it
    serves the survivor as a disclosure whose actor is the coordinator (who asked): the
    accounting of disclosures shows the actor's agency as the recipient, so the survivor is
    told the CAC learned it, never that child welfare (system-based: discoverable) did."""
    _sign_participation(world, "a", fw.SHELTER, fw.WELFARE)
    _tell_again(world)
    assert fw.SHELTER in _links_on(world.c, world.case_ref)  # child welfare was told
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        shelter = fw.agency_named(db, fw.SHELTER)
        accounting = audit_log.accounting(
            db,
            shelter,
            world.clients[fw.SHELTER],
            actor=fw.staff_named(db, "shelter.cm"),
            at=fw.now(),
        )
        recipients = {
            row.actor_agency_name
            for row in accounting.rows
            if row.entry.section_key == "participation"
        }
    engine.dispose()
    assert fw.WELFARE in recipients, (
        "the shelter's taking part was told to child welfare's node, but the survivor's "
        f"accounting lists it as released to {sorted(r or '?' for r in recipients)}"
    )


# -- 2. A community agency's node down during a tell: forgotten for good -------------------


def test_an_owner_told_while_the_clinics_node_was_down_never_learns_of_the_clinic_again(world):
    """The clinic's survivor names child welfare for taking part, and child welfare's node
    is told of the clinic. A later tell (here: any change of the case) while the clinic's
    node is down asks the clinic nothing, so child welfare's node is told the case without
    the clinic and drops its link; child welfare's node answered, so nothing is owed to it.
    Once the clinic's node is back, `tell_owed` tells the clinic only: child welfare's staff
    never again learn of the clinic, though its survivor agreed they may."""
    _sign_participation(world, "b", fw.CLINIC, fw.WELFARE)
    _tell_again(world)
    assert fw.CLINIC in _links_on(world.c, world.case_ref)
    down = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[1]: fw.NodeDown(), URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},
    )
    engine = world.a.engine()
    try:
        with unit_of_work(engine) as db:
            untold = links.tell_participants(
                db,
                _case_a(db, world),
                requester=_coordinator(world),
                keys=world.a.keys,
                federation=down,
                at=fw.now(),
                commit=db.commit,  # no node is waited on with a write held
            )
            assert untold == [fw.CLINIC]
    finally:
        down.close()
    # The clinic's node is back; the owed tells are told (as the page or the CLI does).
    with unit_of_work(engine) as db:
        _told, still = links.tell_owed(
            db,
            keys=world.a.keys,
            federation=world.apps["a"].state.federation,
            at=fw.now(),
            commit=db.commit,  # no node is waited on with a write held
        )
        assert still == []
        assert db.exec(select(OwedTell)).all() == []
    engine.dispose()
    assert fw.CLINIC in _links_on(world.c, world.case_ref), (
        "child welfare's node lost the clinic while the clinic's node was down, and nothing "
        "is owed to tell it again"
    )


# -- 4. The participation-told question names community agencies to other nodes ------------

ADVOCACY = "Advocacy Elsewhere (synthetic)"


def _prepare_with_advocacy(a, b, c) -> fw.World:
    """As `fw.prepare`, with a second community-based agency (an advocacy centre) hosted
    on node C beside child welfare."""
    at = fw.now() - timedelta(minutes=5)
    ids: dict[str, str] = {}
    entries = []
    for node, made in (
        (a, [(fw.CAC, "community", "advocacy"), (fw.SHELTER, "community", "shelter")]),
        (b, [(fw.CLINIC, "community", "health")]),
        (c, [(fw.WELFARE, "system", "child_welfare"), (ADVOCACY, "community", "advocacy")]),
    ):
        engine = node.engine()
        fw.migrate.upgrade(engine)
        with setup_unit(engine) as db:
            for name, kind, discipline in made:
                ids[name] = fw._agency(db, node, name, kind, discipline, at).public_id
            db.flush()
            for agency in membership.local_agencies(db):
                entries.append(
                    membership.member_entry(
                        db, agency, node=node.url, mou=Mou(date(2026, 1, 15), date(2027, 1, 15))
                    )
                )
        engine.dispose()
    clients: dict[str, str] = {}
    with setup_unit(a.engine()) as db:
        cac, shelter = fw.agency_named(db, fw.CAC), fw.agency_named(db, fw.SHELTER)
        fw._user(db, cac, "coordinator", Role.MDT_COORDINATOR, at)
        author = fw._user(db, shelter, "shelter.cm", Role.CASE_MANAGER, at)
        clients[fw.SHELTER] = fw._client_with_release(
            db,
            a,
            shelter,
            author,
            [ids[fw.CAC]],
            {"placement_housing": {"placement_type": "shelter", "stability": fw.SECRET}},
            at,
        ).public_id
        signed = membership.sign_roster(
            db, cac, membership.entries_json(entries), node=a.url, keys=a.keys, at=at
        )
    for node, names in ((b, [fw.CLINIC]), (c, [fw.WELFARE, ADVOCACY])):
        engine = node.engine()
        with setup_unit(engine) as db:
            membership.import_roster(db, signed.to_json().encode(), pin=signed.key_id, at=at)
            for name in names:
                owner = fw.agency_named(db, name)
                author = fw._user(db, owner, name.split()[0].lower() + ".cm", Role.CASE_MANAGER, at)
                clients[name] = fw._client_with_release(
                    db,
                    node,
                    owner,
                    author,
                    [ids[fw.CAC]],
                    {"placement_housing": {"placement_type": "shelter", "stability": fw.SECRET}},
                    at,
                ).public_id
        engine.dispose()
    return fw.World(a, b, c, "", "", ids, clients)


@pytest.fixture
def world4(tmp_path):
    a, b, c = fw.nodes(tmp_path, URLS)
    world = _prepare_with_advocacy(a, b, c)
    apps = {node.name: create_app(node.settings()) for node in (a, b, c)}
    transports = {u: httpx2.ASGITransport(app=apps[n]) for n, u in zip("abc", URLS, strict=True)}
    # Three nodes in this process: on a busy machine a node's answer took over 5 s.
    federation = Federation(
        timeout_seconds=20, window_seconds=30, mounts={u: transports[u] for u in URLS[1:]}
    )
    try:
        with unit_of_work(a.engine()) as db:
            case = cases.open_case(
                db,
                fw.agency_named(db, fw.CAC),
                intake_date=fw.now().date(),
                referral_source="hotline",
                actor=None,
                at=fw.now(),
                today=fw.now().date(),
            )
            for name in (fw.CLINIC, fw.WELFARE, ADVOCACY):
                assert links.request_link(
                    db,
                    case,
                    fw.agency_named(db, name),
                    world.clients[name],
                    requester=_coordinator(world),
                    at=fw.now(),
                    keys=a.keys,
                    federation=federation,
                    commit=db.commit,  # no node is waited on with a write held
                )
            world.case_ref, world.case_id = case.reference, case.public_id
    finally:
        federation.close()
    yield world


def _entries_naming(node, reference: str, public_id: str) -> list[AuditEntry]:
    return [e for e in fw.entries(node, subject=reference) if public_id in (e.detail or "")]


def test_participation_told_question_names_each_community_agency_to_the_others_nodes(
    world4,
):
    """Before telling owners elsewhere who takes part, the coordinator asks each
    community-based agency elsewhere which owners may be told of it, listing every owner
    elsewhere as a recipient, community-based ones included. So the clinic's node (B) is
    sent, and writes in its log, that the advocacy centre takes part, and child welfare's
    node (C) is sent and keeps that the clinic does: neither survivor named anyone for it."""
    on_b = _entries_naming(world4.b, world4.case_ref, world4.ids[ADVOCACY])
    on_c = _entries_naming(world4.c, world4.case_ref, world4.ids[fw.CLINIC])
    assert not on_b and not on_c, (
        f"the clinic's node holds {len(on_b)} entries naming the advocacy centre on the "
        f"case, child welfare's node {len(on_c)} naming the clinic "
        f"(e.g. {(on_b or on_c)[0].detail})"
    )
