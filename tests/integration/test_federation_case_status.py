"""A case closed or reopened by its coordinator closes or reopens on the owners' nodes too:
their staff see it as it is, and a later link of their client is not declined as being
"in another open case"."""

from __future__ import annotations

import httpx2
import test_federation_in_process as in_process
from sqlmodel import select
from starlette.testclient import TestClient

from portal.db import unit_of_work
from portal.federation.transport import Federation
from portal.models import Agency, CaseLink, CaseStatus, Client, MdtCase, OwedTell
from portal.services import cases, casework

import federation_world as fw

URLS = in_process.URLS
world = in_process.world  # three nodes in this process, the case linked across them


def _as_coordinator(world, action: str, reason: str) -> str:
    """Close or reopen the world's case from its coordinator's case page; the flash."""
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        page = client.get(f"/cases/{world.case_id}").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            f"/cases/{world.case_id}/{action}", data={"csrf_token": token, "reason": reason}
        )
        assert answer.status_code == 303, answer.text
        return client.get(answer.headers["location"]).text


def test_closing_and_reopening_reaches_the_owners_copy_of_the_case(world):
    assert fw.case_on(world.b, world.case_ref).status == "open"
    _as_coordinator(world, "close", "Synthetic: goals met")
    assert fw.case_on(world.b, world.case_ref).status == "closed"
    # The owner's log says who closed it; the coordinator's reason stays with the coordinator.
    closed = fw.entries(world.b, tag="mdt:case:closed", subject=world.case_ref)
    assert len(closed) == 1 and closed[0].actor_agency_ref == world.ids[fw.CAC]
    assert "goals met" not in (closed[0].detail or "")

    _as_coordinator(world, "reopen", "Synthetic: new disclosure")
    assert fw.case_on(world.b, world.case_ref).status == "open"
    assert len(fw.entries(world.b, tag="mdt:case:reopened", subject=world.case_ref)) == 1


def test_an_owner_node_down_is_named_when_the_case_closes(world):
    world.apps["a"].state.federation.close()
    world.apps["a"].state.federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[1]: fw.NodeDown(), URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},
    )
    page = _as_coordinator(world, "close", "Synthetic: goals met")
    assert "The case is closed." in page
    assert f"{fw.CLINIC} did not answer" in page
    assert fw.case_on(world.b, world.case_ref).status == "open"


def test_tell_owed_from_the_command_line_says_what_it_told(world, monkeypatch, capsys):
    from portal.cli import main as cli

    for name, value in world.a.environment().items():
        monkeypatch.setenv(name, value)
    assert cli.main(["roster", "tell-owed"]) == 0
    assert capsys.readouterr().out.strip() == "told 0 owner(s)"


def _clinics_client_in_a_case_of_its_own(world) -> str:
    """The clinic's client, once the world's case closed, in an open case the clinic
    coordinates on its own node; its reference."""
    engine = world.b.engine()
    with unit_of_work(engine) as db:
        clinic = fw.agency_named(db, fw.CLINIC)
        client = db.exec(select(Client).where(Client.public_id == world.clients[fw.CLINIC])).one()
        case = cases.open_case(
            db,
            clinic,
            intake_date=fw.now().date(),
            referral_source="hotline",
            actor=None,
            at=fw.now(),
            today=fw.now().date(),
        )
        cases.link_client(db, case, clinic, client, actor=None, at=fw.now(), confirmed=True)
        reference = case.reference
    engine.dispose()
    return reference


def _clinics_link(node, reference: str) -> CaseLink:
    engine = node.engine()
    with unit_of_work(engine) as db:
        link = db.exec(
            select(CaseLink)
            .join(MdtCase, MdtCase.id == CaseLink.case_id)
            .join(Agency, Agency.id == CaseLink.agency_id)
            .where(MdtCase.reference == reference, Agency.name == fw.CLINIC)
        ).one()
    engine.dispose()
    return link


def test_a_case_reopened_while_the_owners_client_is_in_another_open_case_there(world):
    """Reopened on its coordinator's node, the case is open on the clinic's too; but the
    clinic's client is in another open case there now, and one survivor is in one open case
    at a time (as a reopening on one node is refused): the clinic's part is withdrawn on
    both nodes, and the coordinator is told why."""
    _as_coordinator(world, "close", "Synthetic: goals met")
    other = _clinics_client_in_a_case_of_its_own(world)

    page = _as_coordinator(world, "reopen", "Synthetic: new disclosure")

    assert "The case is open again." in page
    assert (
        f"{fw.CLINIC} took its client record off the case: that survivor is in another open "
        "case on its side." in page
    )
    assert fw.case_on(world.b, world.case_ref).status == "open"
    assert fw.case_on(world.b, other).status == "open"
    assert _clinics_link(world.b, world.case_ref).client_id is None
    assert _clinics_link(world.b, other).confirmed_at is not None
    withdrawn = fw.entries(world.b, tag="mdt:case:link_withdrawn", subject=world.case_ref)
    assert len(withdrawn) == 1 and '"in_another_open_case"' in withdrawn[0].detail
    # The coordinator counts the clinic's part no more (nothing of its client is asked for).
    assert _clinics_link(world.a, world.case_ref).confirmed_at is None
    told = fw.entries(world.a, tag="mdt:case:link_withdrawn", subject=world.case_ref)
    assert len(told) == 1 and world.ids[fw.CLINIC] in told[0].detail
    # Nothing more of the case is owed the clinic (its part is withdrawn).
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        assert db.exec(select(OwedTell)).all() == []
    engine.dispose()
    # Told again (the page opened anew), nothing more is withdrawn on either side.
    _as_coordinator(world, "close", "Synthetic: closed again")
    _as_coordinator(world, "reopen", "Synthetic: reopened again")
    assert len(fw.entries(world.b, tag="mdt:case:link_withdrawn", subject=world.case_ref)) == 1
    assert len(fw.entries(world.a, tag="mdt:case:link_withdrawn", subject=world.case_ref)) == 1


def test_a_reopening_told_after_the_owners_copy_reopened_still_keeps_the_survivor_apart(world):
    """Two owners hosted on one node are each told of the reopening: the first reopens the
    node's copy of the case, and the second found it open already and checked nothing."""
    _as_coordinator(world, "close", "Synthetic: goals met")
    _clinics_client_in_a_case_of_its_own(world)
    engine = world.b.engine()
    with unit_of_work(engine) as db:  # as another owner's notice here reopened it
        mirror = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        mirror.status = CaseStatus.OPEN
        db.add(mirror)
    engine.dispose()

    page = _as_coordinator(world, "reopen", "Synthetic: new disclosure")

    assert f"{fw.CLINIC} took its client record off the case" in page
    assert _clinics_link(world.b, world.case_ref).client_id is None
    assert _clinics_link(world.a, world.case_ref).confirmed_at is None


def test_a_part_withdrawn_for_the_agencys_own_reasons_is_told_without_a_reason(world):
    """The clinic withdrew its client record on its node (the wrong client), its notice
    to the coordinator not sent yet; the close's answer says its part is withdrawn, and
    the coordinator is told so, but not why: that reason stays with the clinic, and it is
    not the other open case of a reopening."""
    engine = world.b.engine()
    with unit_of_work(engine) as db:
        mirror = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        casework.withdraw_link(
            db,
            mirror,
            fw.agency_named(db, fw.CLINIC),
            reason="wrong_client",
            actor=fw.staff_named(db, "clinic.cm"),
            at=fw.now(),
        )
    engine.dispose()

    page = _as_coordinator(world, "close", "Synthetic: goals met")

    assert f"{fw.CLINIC} took its client record off the case." in page
    assert "another open case" not in page and "wrong" not in page
    assert _clinics_link(world.a, world.case_ref).confirmed_at is None
