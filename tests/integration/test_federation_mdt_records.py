"""An agency on another node, linked to a case, reads the MDT's records (the coordinator's
decisions and minutes) on its own node, through the coordinating agency's disclosure point:
the coordinator's log holds the decision, the agency's log its receipt, and what is
withheld is a placeholder naming the gate. Real nodes over HTTP on 127.0.0.1, on each
database. Synthetic data only."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx2
import pytest
from sqlmodel import select

from portal.app import create_app
from portal.db import unit_of_work
from portal.federation import links
from portal.models import CaseLink, Client, MdtCase
from portal.services import cases, meetings, releases

import federation_world as fw
from databases import BACKENDS

DECISION = "SYNTHETIC-FEDERATED-DECISION: partners agreed on a weekly check-in."
MINUTES = "SYNTHETIC-FEDERATED-MINUTES: the team reviewed the housing plan."
TIMEOUT = 15


def _open_case(world: fw.World, *, elsewhere: tuple[str, ...] = (fw.CLINIC,)) -> None:
    """A case coordinated on node A: the shelter's survivor (node A) and the clinic's
    (node B, linked through the protocol; `elsewhere`: these agencies' survivors). With
    the clinic alone, every survivor on it is served on the coordinator's node or by the
    clinic itself."""
    at = fw.now() - timedelta(minutes=4)
    federation = world.apps["a"].state.federation
    with unit_of_work(world.a.engine()) as db:
        cac = fw.agency_named(db, fw.CAC)
        shelter = fw.agency_named(db, fw.SHELTER)
        case = cases.open_case(
            db,
            cac,
            intake_date=at.date(),
            referral_source="hotline",
            actor=None,
            at=at,
            today=at.date(),
        )
        shelter_client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
        cases.link_client(db, case, shelter, shelter_client, actor=None, at=at, confirmed=True)
        for name in elsewhere:
            assert links.request_link(
                db,
                case,
                fw.agency_named(db, name),
                world.clients[name],
                requester=links.as_coordinator(cac),
                at=fw.now(),
                keys=world.a.keys,
                federation=federation,
                commit=db.commit,  # no node is waited on with a write held
            )
        world.case_ref, world.case_id = case.reference, case.public_id
        # A meeting held on the case, with a decision and minutes, kept on node A.
        coordinator = fw.staff_named(db, "coordinator")
        meeting = meetings.schedule_meeting(
            db,
            cac,
            day=at.date().isoformat(),
            clock="00:00",
            place="Room 1",
            case_ids=[case.public_id],
            actor=coordinator,
            at=at - timedelta(days=1),
            tz=ZoneInfo("UTC"),
        )
        meetings.hold_meeting(db, meeting, actor=coordinator, at=at, today=at.date())
        item = meetings.agenda(db, meeting, cac)[0].item
        label = meetings.recommendation_types(db, cac)[0].label
        meetings.record_decision(
            db, meeting, item, recommendation=label, text=DECISION, actor=coordinator, at=at
        )
        meetings.record_minutes(db, meeting, item, MINUTES, actor=coordinator, at=at)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    yield from served(request, tmp_path_factory)


def served(request, tmp_path_factory, *, elsewhere: tuple[str, ...] = (fw.CLINIC,)):
    """Three nodes served over HTTP on 127.0.0.1 (on `request.param`'s database), the
    case opened (`_open_case`); stopped at the end whatever happens."""
    directory = tmp_path_factory.mktemp("mdt-records")
    urls = tuple(f"http://127.0.0.1:{port}" for port in fw.free_ports(3))
    a, b, c = fw.nodes(directory, urls)
    with ExitStack() as stack:
        fw.on_backend(request.param, (a, b, c), directory, stack)
        world = fw.prepare(a, b, c)
        # The three nodes share this process (and its GIL): a node's first answer, cold, may
        # take longer than the product's 2 s on a loaded machine; a node that is down is
        # refused at once whatever the timeout.
        world.apps = {
            node.name: create_app(node.settings(federation_timeout_ms=TIMEOUT * 1000))
            for node in (a, b, c)
        }
        world.servers = {}
        for node, url in zip((a, b, c), urls, strict=True):
            port = int(url.rsplit(":", 1)[1])
            world.servers[node.name] = stack.enter_context(fw.serving(world.apps[node.name], port))
        _open_case(world, elsewhere=elsewhere)
        yield world


def _release_of_shelter_survivor(world, sections: list[str]) -> None:
    """The shelter's survivor (node A) names the clinic (node B) for these MDT records."""
    with unit_of_work(world.a.engine()) as db:
        shelter = fw.agency_named(db, fw.SHELTER)
        client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
        fw.sign_release(
            db,
            world.a,
            client,
            fw.staff_named(db, "shelter.cm"),
            [world.ids[fw.CLINIC]],
            sections,
            fw.now(),
        )


def _page(world, node: str, username: str, path: str) -> str:
    url = getattr(world, node).url
    with httpx2.Client(base_url=url, timeout=TIMEOUT, follow_redirects=False) as browser:
        form = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        signed_in = browser.post(
            "/login", data={"username": username, "password": fw.PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        page = browser.get(path)
    assert page.status_code == 200, page.text[:2000]
    return page.text


def _clinic_case_page(world) -> str:
    mirror = fw.case_on(world.b, world.case_ref)
    return _page(world, "b", "clinic.cm", f"/cases/{mirror.public_id}")


def _clinic_summary(world) -> str:
    mirror = fw.case_on(world.b, world.case_ref)
    return _page(world, "b", "clinic.cm", f"/cases/{mirror.public_id}/summary")


def _ids(node, section: str) -> set[int]:
    return {e.id for e in fw.entries(node, section_key=section)}


def _since(node, section: str, before: set[int]) -> list:
    """The node's entries of this section written since `before` (`_ids`), in log order."""
    return [e for e in fw.entries(node, section_key=section) if e.id not in before]


# The order matters: the denial first, then the release that lets the clinic read.


def test_without_a_release_the_clinic_elsewhere_sees_a_placeholder_audited_by_the_owner(world):
    clinic = world.ids[fw.CLINIC]
    before_a = _ids(world.a, "mdt_decisions")
    before_b = _ids(world.b, "mdt_decisions")
    page = _clinic_case_page(world)
    assert DECISION not in page
    assert re.search(
        r'<p class="withheld-record" data-section="mdt_decisions" data-gate="no_consent">'
        r"Decisions recorded by Coordinating CAC \(synthetic\) are withheld: ",
        page,
    ), page
    # The coordinator's node decided and wrote it in the coordinator's log, for the clinic.
    decided = _since(world.a, "mdt_decisions", before_a)
    assert [(e.tag, e.gate, e.actor_agency_ref) for e in decided] == [
        ("disclosure:section:withheld", "no_consent", clinic)
    ]
    assert json.loads(decided[0].detail)["viewer_node"] == world.b.url
    # Nothing was received on the clinic's node, and nothing was decided there.
    assert _since(world.b, "mdt_decisions", before_b) == []
    # The placeholder says nothing of the survivor whose release is missing.
    assert world.clients[fw.SHELTER] not in page


def test_under_a_release_the_clinic_elsewhere_reads_the_decisions_and_minutes(world):
    _release_of_shelter_survivor(world, ["mdt_decisions", "mdt_minutes"])
    clinic = world.ids[fw.CLINIC]
    before_a = _ids(world.a, "mdt_decisions")
    before_b = _ids(world.b, "mdt_decisions")
    page = _clinic_case_page(world)
    assert DECISION in page
    decided = _since(world.a, "mdt_decisions", before_a)
    owner_entries = [e for e in decided if e.tag == "disclosure:section:released"]
    assert [(e.actor_agency_ref, e.case_ref) for e in owner_entries] == [(clinic, world.case_ref)]
    # The shelter's log names what its survivor's release was relied on for.
    relied = [e for e in decided if e.tag == "disclosure:release:relied_on"]
    assert [e.actor_agency_ref for e in relied] == [clinic]
    received = _since(world.b, "mdt_decisions", before_b)
    assert [(e.tag, e.actor_agency_ref, json.loads(e.detail)["owner"]) for e in received] == [
        ("disclosure:section:received", clinic, world.ids[fw.CAC])
    ]
    # The minutes: in the coordinator's block of the case summary, asked of node A.
    assert MINUTES in _clinic_summary(world)


def test_a_clinic_no_longer_confirmed_on_the_case_is_answered_not_linked(world):
    with unit_of_work(world.a.engine()) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        clinic = fw.agency_named(db, fw.CLINIC)
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == clinic.id)
        ).one()
        confirmed_at, link.confirmed_at = link.confirmed_at, None
        db.add(link)
    try:
        page = _clinic_case_page(world)
        assert DECISION not in page
        assert 'data-section="mdt_decisions" data-gate="not_linked"' in page
    finally:
        with unit_of_work(world.a.engine()) as db:
            link = db.exec(
                select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == clinic.id)
            ).one()
            link.confirmed_at = confirmed_at
            db.add(link)


def test_a_survivor_here_whose_agreement_to_take_part_lapsed_withholds_them(world):
    """The shelter's survivor joined under a release naming the coordinator; once it is
    revoked, nothing more of the case reaches a partner, elsewhere as here."""
    with unit_of_work(world.a.engine()) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        shelter = fw.agency_named(db, fw.SHELTER)
        client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
        joined = next(
            row
            for row in releases.releases_of(db, client)
            if world.ids[fw.CAC] in releases.signed_document(db, row, keys=world.a.keys).recipients
        )
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == shelter.id)
        ).one()
        link.release_ref = joined.public_id
        db.add(link)
        releases.revoke(
            db,
            joined,
            reason="Synthetic: withdrew",
            actor=fw.staff_named(db, "shelter.cm"),
            keys=world.a.keys,
            at=fw.now(),
        )
    before_a = _ids(world.a, "mdt_decisions")
    before_b = _ids(world.b, "mdt_decisions")
    page = _clinic_case_page(world)
    assert DECISION not in page
    assert 'data-section="mdt_decisions" data-gate="consent_revoked"' in page
    decided = _since(world.a, "mdt_decisions", before_a)
    assert [(e.tag, e.gate) for e in decided] == [
        ("disclosure:section:withheld", "consent_revoked")
    ]
    assert _since(world.b, "mdt_decisions", before_b) == []


def test_with_the_coordinators_node_down_the_decisions_show_as_unavailable(world):
    """Last in this module: node A stops serving (the fixture's end stops it again)."""
    fw.stop_serving(world.servers["a"], world.a.url)
    page = _clinic_case_page(world)
    assert DECISION not in page
    assert re.search(
        r'<p class="unavailable" data-section="mdt_decisions">Decisions recorded by '
        r"Coordinating CAC \(synthetic\) are unavailable: its node",
        page,
    ), page
