"""Real node processes on 127.0.0.1 (issue 16): three `portal serve` processes, each its own
SQLite database and keys, the demo's six agencies split among them, one signed roster.

Bounded in time: the nodes start once for the module (about 20 s on two cores), every
request has a timeout, and the processes are stopped at the end whatever happens."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack

import httpx2
import pytest
from nacl.signing import SigningKey
from sqlmodel import select

from portal.db import unit_of_work
from portal.demo import federated
from portal.demo.logins import DEMO_PASSWORD
from portal.federation import transport
from portal.models import Agency, AuditEntry, Client, ConsentRelease, MdtCase, StaffUser
from portal.services import releases

import federation_world as fw
from databases import BACKENDS

# Run after the rest of the suite, in one process (./ops/test; the marker in pyproject.toml).
pytestmark = pytest.mark.alone

TIMEOUT = 15
# Every owner decided in the page (a loaded machine must not leave one to load on its own).
SERVE = {"PORTAL_SUMMARY_BUDGET_MS": "60000"}


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(request, tmp_path_factory):
    """Three nodes on SQLite files, or on three PostgreSQL databases of their own."""
    directory = tmp_path_factory.mktemp("federated")
    planned = federated.plan(directory, ports=fw.free_ports(3))
    with ExitStack() as stack:  # the nodes stopped, then their databases dropped
        fw.on_backend(request.param, planned, directory, stack)
        for node in planned:
            node.directory.mkdir(parents=True, exist_ok=True)
        world = federated.prepare(planned, cases_count=2)
        for node in planned:
            stack.callback(federated.stop, node)
            federated.start(node, log=directory / f"{node.name}.log", **SERVE)
        for node in planned:
            federated.wait_until_serving(node, seconds=60)
        federated.link(world)
        yield world


def _node(world, name):
    return next(n for n in world.nodes if n.name == name)


def _browser(node, username) -> httpx2.Client:
    browser = httpx2.Client(base_url=node.url, timeout=TIMEOUT, follow_redirects=False)
    page = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text[:300]
    return browser


def _case_on(node, reference) -> str:
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = db.exec(select(MdtCase.public_id).where(MdtCase.reference == reference)).one()
    engine.dispose()
    return found


def _entries(node, **where) -> list[AuditEntry]:
    engine = node.engine()
    with unit_of_work(engine) as db:
        query = select(AuditEntry)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        found = list(db.exec(query).all())
    engine.dispose()
    return found


def _summary(world, node_name, username, number=0) -> str:
    node = _node(world, node_name)
    reference = world.references[number]
    browser = _browser(node, username)
    try:
        page = browser.get(f"/cases/{_case_on(node, reference)}/summary")
    finally:
        browser.close()
    assert page.status_code == 200
    return page.text


def test_summary_fans_out_to_every_owner_and_each_side_writes_its_own_log(nodes):
    page = _summary(nodes, "node-b", "casemanager")  # child welfare, on node B
    blocks = re.findall(r'<section class="panel wide owner" id="owner-([0-9a-f-]+)"', page)
    assert set(blocks) == set(nodes.ids.values())  # six owners on three nodes
    assert "Unavailable from" not in page
    assert page.count(federated.MARK) >= 6
    assert 'data-gate="policy"' in page  # withheld sections name their gate
    reference = nodes.references[0]
    cw = nodes.ids["cw"]
    for name, owners in (("node-a", ("cac", "mentor")), ("node-c", ("shelter", "clinic"))):
        decided = [
            e
            for e in _entries(_node(nodes, name), case_ref=reference, actor_agency_ref=cw)
            # not the coordinator's questions whether child welfare's node may be told that
            # a community agency takes part (disclosures to child welfare too, asked before)
            if "told_to_node_of" not in e.detail
        ]
        assert {e.tag for e in decided} >= {"disclosure:section:released"}
        owner_ids = {nodes.ids[k] for k in owners}
        assert {json.loads(e.detail)["owner"] for e in decided} == owner_ids
        assert {json.loads(e.detail)["viewer_node"] for e in decided} == {
            _node(nodes, "node-b").url
        }
    received = _entries(
        _node(nodes, "node-b"), case_ref=reference, tag="disclosure:section:received"
    )
    assert {json.loads(e.detail)["owner"] for e in received} == {
        nodes.ids[k] for k in ("cac", "mentor", "shelter", "clinic", "pd")
    }


def _signed(nodes, body: bytes, *, target: str, agency_key="cw", now=None):
    node = nodes.node_of(agency_key)
    engine = node.engine()
    with unit_of_work(engine) as db:
        agency = db.exec(select(Agency).where(Agency.public_id == nodes.ids[agency_key])).one()
        key_id, key = transport.signing_key_of(db, agency, keys=node.keys)
    engine.dispose()
    return transport.signed_request_headers(
        target, body, key_id=key_id, signing_key=key, now=now or time.time()
    )


def _ask(nodes, *, owner="cac") -> bytes:
    return json.dumps(
        {
            "requester": {
                "node": _node(nodes, "node-b").url,
                "agency": nodes.ids["cw"],
                "agency_kind": "system",
                "user": None,
                "roles": ["case_manager"],
                "purpose": "mdt_case_review",
            },
            "case": nodes.references[0],
            "owners": [nodes.ids[owner]],
            "sections": None,
        }
    ).encode()


def test_replayed_tampered_stale_and_stranger_requests_are_refused(nodes):
    target = _node(nodes, "node-a").url + "/federation/v1/disclosures"
    body = _ask(nodes)
    headers = _signed(nodes, body, target=target)
    with httpx2.Client(timeout=TIMEOUT) as http:
        first = http.post(target, content=body, headers=headers)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"
        replay = http.post(target, content=body, headers=headers)
        assert (replay.status_code, replay.json()["error"]) == (401, "replayed")

        headers = _signed(nodes, body, target=target)
        tampered = body.replace(b"case_manager", b"agency_lead")
        refused = http.post(target, content=tampered, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "content_digest_mismatch")

        stale = _signed(nodes, body, target=target, now=time.time() - 3600)
        refused = http.post(target, content=body, headers=stale)
        assert (refused.status_code, refused.json()["error"]) == (401, "stale")

        # A node that is not in the roster: its agency's key is nobody the roster names.
        stranger = transport.signed_request_headers(
            target,
            body,
            key_id="9a9a9a9a-0000-4000-8000-000000000000:0123456789abcdef",
            signing_key=SigningKey.generate(),
            now=time.time(),
        )
        refused = http.post(target, content=body, headers=stranger)
        assert (refused.status_code, refused.json()["error"]) == (401, "unknown_key")
        assert "roster" in refused.json()["message"]

        unsigned = http.post(target, content=body, headers={"Content-Type": "application/json"})
        assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unsigned")


def test_a_revocation_on_the_owners_node_is_withheld_everywhere_a_second_later(nodes):
    clinic = nodes.node_of("clinic")
    engine = clinic.engine()
    with unit_of_work(engine) as db:
        client = db.exec(
            select(Client).where(Client.public_id == nodes.clients[(1, "clinic")])
        ).one()
        row = db.exec(select(ConsentRelease).where(ConsentRelease.client_id == client.id)).one()
        author = db.exec(select(StaffUser).where(StaffUser.username == "clinician")).one()
        before = _summary(nodes, "node-b", "casemanager", number=1)
        assert 'data-gate="consent_revoked"' not in before
        releases.revoke(
            db, row, reason="the client asked", actor=author, keys=clinic.keys, at=federated_now()
        )
    engine.dispose()
    time.sleep(1)
    for node_name, username in (("node-b", "casemanager"), ("node-a", "mentor.casemanager")):
        page = _summary(nodes, node_name, username, number=1)
        # The revoked release also let partners be told the clinic takes part (issue 14):
        # from the next request they are not, nor anything of its survivor.
        assert f'id="owner-{nodes.ids["clinic"]}"' not in page, node_name
        assert "Northside Community Health Clinic (demo)" not in page
        assert "1 more agency takes part" in page
    # The coordinator, which the survivor's joining release names, sees it withheld.
    page = _summary(nodes, "node-a", "coordinator", number=1)
    clinic_block = page.split(f'id="owner-{nodes.ids["clinic"]}"')[1].split("</section>")[0]
    # Its link lapsed with that release (the joining release): withheld as not linked.
    assert 'data-gate="not_linked"' in clinic_block
    assert federated.MARK not in clinic_block


def federated_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_an_owner_node_down_shows_unavailable_and_the_page_stands(nodes):
    node_c = _node(nodes, "node-c")
    federated.stop(node_c)
    try:
        page = _summary(nodes, "node-b", "casemanager")
        # Community-based agencies on node C cannot be asked whether child welfare may be
        # told they take part: not named, only counted (deny by default).
        assert "Lantern House Shelter and Advocacy (demo)" not in page
        assert "2 more agencies take part" in page
        # The coordinator is told every agency and sees node C's owners unavailable.
        page = _summary(nodes, "node-a", "coordinator")
        assert "Unavailable from Lantern House Shelter and Advocacy (demo)" in page
        assert "Unavailable from Northside Community Health Clinic (demo)" in page
        # The owners that answered are shown as before.
        cac_block = page.split(f'id="owner-{nodes.ids["cac"]}"')[1].split("</section>")[0]
        assert "Unavailable" not in cac_block
    finally:
        federated.start(node_c, log=node_c.directory / "node-c.log", **SERVE)
        federated.wait_until_serving(node_c, seconds=60)
