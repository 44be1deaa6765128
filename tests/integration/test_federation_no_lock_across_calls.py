"""No writer on the coordinating node waits on a node elsewhere (issue 15: writers queue, a
transaction holds the write lock only for its writes and its commit). A case closed, its
page opened with news owed, or a link confirmed by an owner elsewhere, sent the news to the
owners' nodes while the request's transaction still held the coordinator's log (and on
SQLite the node's writers' lock): an owner's node slow to answer held up every other write
to that log (every write, on SQLite) for as long as it took, up to the federation's
timeout. The decision now stands, with the news owed to every owner (`OwedTell`), before
any node is asked; the local points decide in their own transaction; what the owners
answered is noted afterwards. And nothing is lost: an owner whose node is down is owed the
news, told later.

A page that asks nodes elsewhere after its earlier work wrote (the shelter's summary, its
receipts for what the clinic's node told) commits first too. And the build checks the
rule at every call (`portal.federation.transport`, tests/conftest.py).

Node A (the coordinator) answers in this process; the owners' nodes B and C serve on
127.0.0.1, each through a gate that holds an answer until the test lets it go. On SQLite and
on PostgreSQL. Synthetic data only."""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditTag, lock_logs, record
from portal.db import unit_of_work
from portal.federation import elsewhere_consent, links
from portal.federation.transport import Federation
from portal.models import Agency, CaseLink, Client, MdtCase, OwedTell
from portal.services import casework

import federation_world as fw
from databases import BACKENDS

PARTICIPANTS = links.CASE_PARTICIPANTS
TOLD = links.PARTICIPATION_TOLD
CONSENT = elsewhere_consent.CASE_CONSENT
WAIT = 15  # seconds: bounded waits, each well past what a write here takes


class Gate:
    """A node's app whose answers to `path` wait, once armed, until `release` is set."""

    def __init__(self, app) -> None:
        self.app = app
        self.path: str | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, 60)
        await self.app(scope, receive, send)


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path):
    ports = fw.free_ports(3)
    urls = tuple(f"http://127.0.0.1:{port}" for port in ports)
    a, b, c = fw.nodes(tmp_path, urls)
    with ExitStack() as stack:
        fw.on_backend(request.param, (a, b, c), tmp_path, stack)
        world = fw.prepare(a, b, c)
        world.gate = Gate(create_app(b.settings()))
        world.ports = ports
        world.b_server = stack.enter_context(fw.serving(world.gate, ports[1]))
        world.gate_c = Gate(create_app(c.settings()))
        stack.enter_context(fw.serving(world.gate_c, ports[2]))
        fw.link(world)
        app = create_app(a.settings())
        app.state.federation.close()
        app.state.federation = Federation(timeout_seconds=30, window_seconds=30)
        stack.callback(lambda: app.state.federation.close())
        world.app = app
        world.stack = stack
        engine = a.engine()
        stack.callback(engine.dispose)
        world.engine = engine
        yield world
        world.gate.release.set()
        world.gate_c.release.set()


def _browser(world) -> TestClient:
    client = TestClient(world.app, base_url=world.a.url, follow_redirects=False)
    fw.login(client, "coordinator")
    return client


def _as_coordinator(world, action: str, reason: str) -> str:
    """Close or reopen the case from its coordinator's page; the page shown next."""
    with _browser(world) as client:
        page = client.get(f"/cases/{world.case_id}").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            f"/cases/{world.case_id}/{action}", data={"csrf_token": token, "reason": reason}
        )
        assert answer.status_code == 303, answer.text[:300]
        return client.get(answer.headers["location"]).text


def _in_thread(work) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # reported by the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _appended_meanwhile(world, agency_name: str, gate: Gate | None = None) -> dict:
    """Append an entry to the agency's log on node A while B (or `gate`'s node) holds its
    answer; what came of it, once it ended or `WAIT` seconds passed (then the node is let
    go, and it ends)."""

    def append() -> None:
        with unit_of_work(world.engine) as db:
            agency = fw.agency_named(db, agency_name)
            lock_logs(db, [agency.id])
            record(
                db,
                AuditTag.AGENCY_UPDATED,
                agency_id=agency.id,
                actor=None,
                subject=agency.public_id,
                detail={"synthetic": "a write elsewhere on the node"},
                at=fw.now(),
            )

    writer, outcome = _in_thread(append)
    writer.join(timeout=WAIT)
    outcome["before_release"] = not writer.is_alive()
    (gate or world.gate).release.set()
    writer.join(timeout=60)
    return outcome


def link_on_a(world, agency_name: str, **change) -> CaseLink:
    """The agency's link to the case on node A, as it is now, after `change` (unconfirmed:
    its part withdrawn; any other: a column's new value)."""
    with unit_of_work(world.engine) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        agency = fw.agency_named(db, agency_name)
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
        ).one()
        if change.pop("unconfirmed", False):
            casework.unconfirm(db, link, at=fw.now())
        for name, value in change.items():
            setattr(link, name, value)
        db.add(link)
        db.flush()
        db.refresh(link)
        return link


def _owed(world) -> set[str]:
    """The agencies node A owes news of a case (by name)."""
    with unit_of_work(world.engine) as db:
        return set(db.exec(select(Agency.name).join(OwedTell, OwedTell.agency_id == Agency.id)))


def test_a_close_waiting_on_an_owner_node_holds_up_no_other_write(world):
    world.gate.path = PARTICIPANTS
    closing, closed = _in_thread(lambda: _as_coordinator(world, "close", "Synthetic: goals met"))
    assert world.gate.arrived.wait(WAIT), "the close did not send to the clinic's node"
    meanwhile = _appended_meanwhile(world, fw.CAC)
    closing.join(timeout=60)
    assert meanwhile["before_release"] and "error" not in meanwhile, (
        "a write to the coordinator's log waited for the clinic's node to answer a close "
        f"(or failed: {meanwhile.get('error')!r})"
    )
    assert "error" not in closed, closed.get("error")
    assert "The case is closed." in closed["value"]
    assert "did not answer" not in closed["value"]
    assert fw.case_on(world.b, world.case_ref).status == "closed"
    assert fw.case_on(world.c, world.case_ref).status == "closed"
    assert _owed(world) == set()  # each owner took it: nothing stays owed
    assert len(fw.entries(world.a, tag="mdt:case:closed", subject=world.case_ref)) == 1


def test_a_case_page_telling_what_is_owed_holds_up_no_other_write(world):
    # Child welfare (system-based, node C) is owed the case's news since a while ago: the
    # page tells it again, after asking the shelter's point here and the clinic's node
    # whether it may be told they take part. The clinic's node holds its answer.
    long_ago = fw.now() - timedelta(hours=1)
    with unit_of_work(world.engine) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        welfare = fw.agency_named(db, fw.WELFARE)
        db.add(OwedTell(case_id=case.id, agency_id=welfare.id, since=long_ago, tried_at=long_ago))
    world.gate.path = TOLD

    def open_page() -> int:
        with _browser(world) as client:
            return client.get(f"/cases/{world.case_id}").status_code

    opening, opened = _in_thread(open_page)
    assert world.gate.arrived.wait(WAIT), "the page did not ask the clinic's node"
    # The shelter's point decided (its log written) before the clinic's node was asked.
    meanwhile = _appended_meanwhile(world, fw.SHELTER)
    opening.join(timeout=60)
    assert meanwhile["before_release"] and "error" not in meanwhile, (
        "a write to the shelter's log waited for the clinic's node to answer while the "
        f"case page told what was owed (or failed: {meanwhile.get('error')!r})"
    )
    assert opened.get("value") == 200, opened
    assert _owed(world) == set()


def test_an_owner_node_down_at_the_close_is_owed_the_news_and_told_later(world):
    fw.stop_serving(world.b_server, world.b.url)
    page = _as_coordinator(world, "close", "Synthetic: goals met")
    assert "The case is closed." in page
    assert f"{fw.CLINIC} did not answer" in page
    # Child welfare too: it was told without the clinic, whose node did not say whether it
    # may be told the clinic takes part.
    assert _owed(world) == {fw.CLINIC, fw.WELFARE}
    assert fw.case_on(world.b, world.case_ref).status == "open"
    # The clinic's node is back: the news owed reaches it.
    world.gate.path = None
    with fw.serving(world.gate, world.ports[1]), unit_of_work(world.engine) as db:
        told, still = links.tell_owed(
            db,
            keys=world.a.keys,
            federation=world.app.state.federation,
            at=fw.now(),
            commit=db.commit,
        )
    assert (told, still) == (2, [])
    assert fw.case_on(world.b, world.case_ref).status == "closed"
    assert _owed(world) == set()


def test_owners_told_of_a_remote_link_confirmed_hold_up_no_other_write(world):
    # Child welfare's part, confirmed on its node, is asked again by the coordinator (as
    # after a withdrawal); once it confirms, the owners are told who takes part: the
    # clinic's node holds its answer.
    link_on_a(world, fw.WELFARE, unconfirmed=True)
    world.gate.path = PARTICIPANTS

    def ask() -> str:
        with _browser(world) as client:
            answer = fw.ask_remote_link(client, world, fw.WELFARE)
            assert answer.status_code == 303, answer.text[:300]
            return client.get(answer.headers["location"]).text

    asking, asked = _in_thread(ask)
    assert world.gate.arrived.wait(WAIT), "the owners were not told of the link"
    meanwhile = _appended_meanwhile(world, fw.CAC)
    asking.join(timeout=60)
    assert meanwhile["before_release"] and "error" not in meanwhile, (
        "a write to the coordinator's log waited for the clinic's node to be told of a "
        f"link confirmed (or failed: {meanwhile.get('error')!r})"
    )
    assert "error" not in asked, asked.get("error")
    assert f"{fw.WELFARE} confirmed its client for this case." in asked["value"]
    assert _owed(world) == set()


def _no_write_waits_while(world, page, what: str) -> None:
    """`page()` (its status) asks child welfare's node, which holds its answer: meanwhile
    an entry is appended to the coordinator's log on node A, and does not wait for it."""
    opening, opened = _in_thread(page)
    assert world.gate_c.arrived.wait(WAIT), f"{what} did not reach child welfare's node"
    meanwhile = _appended_meanwhile(world, fw.CAC, gate=world.gate_c)
    opening.join(timeout=60)
    assert meanwhile["before_release"] and "error" not in meanwhile, (
        f"a write to the coordinator's log waited for child welfare's node to answer {what} "
        f"(or failed: {meanwhile.get('error')!r})"
    )
    assert opened.get("value") == 200, opened


def test_a_summary_waiting_on_an_owner_node_holds_up_no_other_write(world):
    # The shelter's summary: the clinic's node is asked first whether the shelter may be
    # told that the clinic takes part (what it answered is receipted here, the voucher the
    # call carried entered in the coordinator's log); then the owners elsewhere are asked
    # for their sections, and, for the coordinator's MDT records decided here, the nodes
    # of the survivors served elsewhere for their consent. Child welfare's node holds that
    # answer.
    world.gate_c.path = CONSENT

    def open_summary() -> int:
        with TestClient(world.app, base_url=world.a.url, follow_redirects=False) as client:
            fw.login(client, "shelter.cm")
            return client.get(f"/cases/{world.case_id}/summary").status_code

    _no_write_waits_while(world, open_summary, "the shelter's summary")
    # Nothing the page decided is lost: the voucher the shelter showed is in the log.
    assert fw.entries(world.a, tag="mdt:case:participation_vouched", subject=world.case_ref)


def test_an_owner_endpoint_asking_a_third_node_holds_up_no_other_write(world):
    """The clinic's case page on its node (B) asks the coordinator's node (A) for the case's
    MDT records; A's point asks child welfare's node (C) whether its
    survivor's release names the clinic, and C holds that answer. The request's nonce,
    written on A before the handler ran, was committed only with the answer: on SQLite it
    held every writer on A for as long as C took."""
    with unit_of_work(world.engine) as db:  # the survivor here names the clinic
        shelter = fw.agency_named(db, fw.SHELTER)
        fw.sign_release(
            db,
            world.a,
            db.exec(select(Client).where(Client.agency_id == shelter.id)).one(),
            fw.staff_named(db, "shelter.cm"),
            [world.ids[fw.CLINIC]],
            ["mdt_decisions"],
            fw.now(),
        )
    world.gate_c.path = CONSENT
    mirror = fw.case_on(world.b, world.case_ref)

    def clinic_summary() -> int:
        with TestClient(world.gate.app, base_url=world.b.url, follow_redirects=False) as client:
            fw.login(client, "clinic.cm")
            return client.get(f"/cases/{mirror.public_id}").status_code

    with fw.serving(world.app, world.ports[0]):
        _no_write_waits_while(world, clinic_summary, "the clinic's case page on its node")
