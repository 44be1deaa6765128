"""A survivor revokes, at her agency on a node other than the coordinator's, the release that
let owners elsewhere be told her agency takes part: her agency's node tells the
coordinator's node at once (a signed request), and the coordinator tells the case's owners
again without her agency. With the coordinator's node down the revocation still stands, the
staff member is told the coordinator was not reached, and the notice is sent again later.

Real node processes on 127.0.0.1 (`test_federation_nodes`'s three nodes: the coordinator on
node A, child welfare on node B, the shelter on node C), on SQLite and on PostgreSQL.
Synthetic data only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx2
import pytest
from sqlmodel import select
from test_federation_nodes import SERVE, TIMEOUT, _browser, _entries, _node, _signed
from test_federation_nodes import nodes as nodes  # the fixture: three nodes, cases linked

from portal.db import unit_of_work
from portal.demo import federated
from portal.models import Agency, CaseLink, Client, ConsentRelease, MdtCase, OwedTell
from portal.services import releases

# Run after the rest of the suite, in one process (./ops/test; the marker in pyproject.toml).
pytestmark = pytest.mark.alone

CHANGED = "/federation/v1/participation-changed"


def _agencies_on(node, reference: str) -> set[str]:
    """The agencies `node` holds as taking part in the case (public ids)."""
    engine = node.engine()
    with unit_of_work(engine) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == reference)).one()
        found = set(
            db.exec(
                select(Agency.public_id)
                .join(CaseLink, CaseLink.agency_id == Agency.id)
                .where(CaseLink.case_id == case.id)
            ).all()
        )
    engine.dispose()
    return found


def _release_of(nodes, number: int, agency_key: str) -> str:
    node = nodes.node_of(agency_key)
    engine = node.engine()
    with unit_of_work(engine) as db:
        client = db.exec(
            select(Client).where(Client.public_id == nodes.clients[(number, agency_key)])
        ).one()
        found = db.exec(
            select(ConsentRelease.public_id).where(ConsentRelease.client_id == client.id)
        ).one()
    engine.dispose()
    return found


def _revoked(node, release: str) -> bool:
    engine = node.engine()
    with unit_of_work(engine) as db:
        row = db.exec(select(ConsentRelease).where(ConsentRelease.public_id == release)).one()
        found = releases.revoked_at(db, row, keys=node.keys, at=datetime.now(UTC)) is not None
    engine.dispose()
    return found


def _revoke(node, username: str, release: str) -> str:
    """Revoke the release on its agency's node as its staff do; the page shown next."""
    browser = _browser(node, username)
    try:
        page = browser.get(f"/releases/{release}/revoke")
        assert page.status_code == 200, page.text[:300]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = browser.post(
            f"/releases/{release}/revoke",
            data={"csrf_token": token, "reason": "Synthetic: she changed her mind"},
        )
        assert answer.status_code == 303, answer.text[:300]
        return browser.get(answer.headers["location"]).text
    finally:
        browser.close()


def test_a_revocation_elsewhere_is_told_to_the_coordinator_and_its_owners_at_once(nodes):
    reference = nodes.references[1]
    node_a, node_b, node_c = (_node(nodes, n) for n in ("node-a", "node-b", "node-c"))
    shelter, clinic = nodes.ids["shelter"], nodes.ids["clinic"]
    assert shelter in _agencies_on(node_b, reference)
    page = _revoke(node_c, "advocate", _release_of(nodes, 1, "shelter"))
    assert "did not answer" not in page
    # Child welfare's node (B) no longer holds that the shelter serves the survivor; the
    # clinic, whose survivor's release still names child welfare, it still does.
    held = _agencies_on(node_b, reference)
    assert shelter not in held, (
        "child welfare's node still holds that the shelter takes part after the survivor "
        "revoked, on the shelter's node, the release that let it be told"
    )
    assert clinic in held
    # The coordinator's log: the shelter's node asked, in the shelter's name (no staff
    # member's: who revoked is the shelter's to know), and the owners were told again.
    asked = _entries(node_a, tag="mdt:case:participation_changed", subject=reference)
    assert [(e.actor_agency_ref, e.actor_user_ref) for e in asked] == [(shelter, None)]
    # The shelter's log: it told the coordinating agency.
    told = _entries(node_c, tag="mdt:case:coordinator_told", subject=reference)
    assert len(told) == 1 and nodes.ids["cac"] in told[0].detail


def _tell_owed(node) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli.main", "roster", "tell-owed"],
        env={**os.environ, **node.environment()},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_the_coordinators_node_down_the_revocation_stands_and_is_told_later(nodes):
    reference = nodes.references[0]
    node_a, node_b, node_c = (_node(nodes, n) for n in ("node-a", "node-b", "node-c"))
    shelter = nodes.ids["shelter"]
    release = _release_of(nodes, 0, "shelter")
    assert shelter in _agencies_on(node_b, reference)
    federated.stop(node_a)
    try:
        page = _revoke(node_c, "advocate", release)
        assert _revoked(node_c, release)
        assert "The release is revoked." in page
        # Said plainly: who was not reached, what that means, and that it is tried again.
        assert "Riverbend Children&#39;s Advocacy Center (demo) did not answer" in page
        assert "tells it again" in page
        assert shelter in _agencies_on(node_b, reference)  # nobody told it yet
        still = _tell_owed(node_c)
        assert still.returncode == 1, still.stdout + still.stderr
        assert "Riverbend" in still.stdout
    finally:
        federated.start(node_a, log=node_a.directory / "node-a.log", **SERVE)
        federated.wait_until_serving(node_a, seconds=60)
    told = _tell_owed(node_c)
    assert told.returncode == 0, told.stdout + told.stderr
    assert shelter not in _agencies_on(node_b, reference)
    assert _tell_owed(node_c).returncode == 0  # nothing owed any more: nothing sent again
    assert len(_entries(node_c, tag="mdt:case:coordinator_told", subject=reference)) == 1


def _notice(
    nodes, *, signer: str, agency: str, reference: str, kind: str = "community"
) -> httpx2.Response:
    target = _node(nodes, "node-a").url + CHANGED
    body = json.dumps(
        {
            "requester": {
                "node": nodes.node_of(agency).url,
                "agency": nodes.ids[agency],
                "agency_kind": kind,
                "user": None,
                "roles": [],
                "purpose": "mdt_case_review",
            },
            "case": reference,
        }
    ).encode()
    headers = _signed(nodes, body, target=target, agency_key=signer, now=time.time())
    with httpx2.Client(timeout=TIMEOUT) as http:
        return http.post(target, content=body, headers=headers)


def test_the_coordinator_takes_a_notice_only_from_an_agency_on_the_case_for_itself(nodes):
    reference = nodes.references[1]
    # One agency cannot speak for another: the key is the clinic's, the notice the shelter's.
    refused = _notice(nodes, signer="clinic", agency="shelter", reference=reference)
    assert (refused.status_code, refused.json()["error"]) == (401, "wrong_sender")
    # A case the coordinator does not hold is answered as one the agency is not on.
    unknown = _notice(nodes, signer="clinic", agency="clinic", reference="MDT-2026-9999")
    assert unknown.status_code == 404
    assert _notice(nodes, signer="clinic", agency="clinic", reference=reference).is_success


def _restart(node, **env: str) -> None:
    federated.stop(node)
    federated.start(node, log=node.directory / f"{node.name}.log", **SERVE, **env)
    federated.wait_until_serving(node, seconds=60)


def _owed_on(node) -> int:
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = len(db.exec(select(OwedTell)).all())
    engine.dispose()
    return found


def test_notices_past_an_agencys_count_are_refused_and_the_refused_one_stays_owed(nodes):
    reference = nodes.references[0]
    node_a, node_b = _node(nodes, "node-a"), _node(nodes, "node-b")
    cw = nodes.ids["cw"]
    # Child welfare's node (B) has sent no notice in this module: its count starts at 0.
    _restart(node_a, PORTAL_FEDERATION_NOTICES_PER_WINDOW="3")
    try:
        heard_before = len(_entries(node_a, tag="mdt:case:participation_changed"))
        for _ in range(3):
            heard = _notice(nodes, signer="cw", agency="cw", reference=reference, kind="system")
            assert heard.is_success, heard.text
        refused = _notice(nodes, signer="cw", agency="cw", reference=reference, kind="system")
        assert (refused.status_code, refused.json()["error"]) == (429, "too_many")
        assert 1 <= int(refused.headers["Retry-After"]) <= 600
        # Refused before any owner was asked again: nothing of it in the coordinator's log.
        assert len(_entries(node_a, tag="mdt:case:participation_changed")) == heard_before + 3
        # Each agency has its own count.
        other = _notice(nodes, signer="pd", agency="pd", reference=reference, kind="system")
        assert other.is_success, other.text
        # Child welfare's node sends one for real (a survivor revokes): refused, it is owed.
        page = _revoke(node_b, "casemanager", _release_of(nodes, 0, "cw"))
        assert "The release is revoked." in page and "did not answer" in page
        assert _owed_on(node_b) == 1
        assert _tell_owed(node_b).returncode == 1  # refused again: still owed
        assert _owed_on(node_b) == 1
    finally:
        _restart(node_a)  # the product's count again: the notice is heard
    told = _tell_owed(node_b)
    assert told.returncode == 0, told.stdout + told.stderr
    assert _owed_on(node_b) == 0
    asked = _entries(node_a, tag="mdt:case:participation_changed", subject=reference)
    assert asked[-1].actor_agency_ref == cw
