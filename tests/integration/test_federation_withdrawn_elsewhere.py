"""An agency on a node other than the coordinator's takes its client record off an MDT case
(withdraws its link): its node tells the coordinator's node after the commit (the signed
participation-changed notice a revocation sends), the coordinator's link to that agency no
longer counts (no voucher, nothing more asked of it or disclosed to it for the case), and
the case's owners are told again who takes part. With the coordinator's node down the
withdrawal still stands and the notice is owed, sent again later.

Real node processes on 127.0.0.1 (`test_federation_nodes`'s three nodes: the coordinator on
node A, child welfare on node B, the shelter and the clinic on node C), on SQLite and on
PostgreSQL. Synthetic data only."""

from __future__ import annotations

import json
import re
import time

import httpx2
import pytest
from sqlmodel import select
from test_federation_nodes import SERVE, TIMEOUT, _browser, _case_on, _entries, _node, _signed
from test_federation_nodes import nodes as nodes  # the fixture: three nodes, cases linked
from test_federation_revoked_elsewhere import _agencies_on, _tell_owed

from portal.db import unit_of_work
from portal.demo import federated
from portal.models import Agency, CaseLink, MdtCase, OwedTell

# Run after the rest of the suite, in one process (./ops/test; the marker in pyproject.toml).
pytestmark = pytest.mark.alone

VOUCHER = "/federation/v1/participation"


def _withdraw(node, username: str, reference: str) -> str:
    """Withdraw the agency's client record from the case as its staff do; the page next."""
    browser = _browser(node, username)
    case = _case_on(node, reference)
    try:
        page = browser.get(f"/cases/{case}/withdraw-link")
        assert page.status_code == 200, page.text[:300]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = browser.post(
            f"/cases/{case}/withdraw-link", data={"csrf_token": token, "reason": "left_the_case"}
        )
        assert answer.status_code == 303, answer.text[:300]
        return browser.get(answer.headers["location"]).text
    finally:
        browser.close()


def _confirmed_on(node, reference: str, agency: str) -> bool:
    """Whether `node` holds the agency's link to the case as confirmed."""
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = db.exec(
            select(CaseLink.confirmed_at)
            .join(MdtCase, MdtCase.id == CaseLink.case_id)
            .join(Agency, Agency.id == CaseLink.agency_id)
            .where(MdtCase.reference == reference, Agency.public_id == agency)
        ).first()
    engine.dispose()
    return found is not None


def _owed_on(node) -> int:
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = len(db.exec(select(OwedTell)).all())
    engine.dispose()
    return found


def _ask_voucher(nodes, *, agency: str, reference: str) -> httpx2.Response:
    """The agency asks the coordinator for the voucher it shows owners elsewhere."""
    target = _node(nodes, "node-a").url + VOUCHER
    body = json.dumps(
        {
            "requester": {
                "node": nodes.node_of(agency).url,
                "agency": nodes.ids[agency],
                "agency_kind": "community",
                "user": None,
                "roles": [],
                "purpose": "mdt_case_review",
            },
            "case": reference,
        }
    ).encode()
    headers = _signed(nodes, body, target=target, agency_key=agency, now=time.time())
    with httpx2.Client(timeout=TIMEOUT) as http:
        return http.post(target, content=body, headers=headers)


def test_a_withdrawal_elsewhere_is_told_to_the_coordinator_and_its_owners_at_once(nodes):
    reference = nodes.references[1]
    node_a, node_b, node_c = (_node(nodes, n) for n in ("node-a", "node-b", "node-c"))
    clinic, shelter = nodes.ids["clinic"], nodes.ids["shelter"]
    assert clinic in _agencies_on(node_b, reference)
    assert _ask_voucher(nodes, agency="clinic", reference=reference).status_code == 200
    page = _withdraw(node_c, "clinician", reference)
    assert "withdrawn from the case" in page and "did not answer" not in page
    assert not _confirmed_on(node_c, reference, clinic)
    # The coordinator no longer counts the clinic: its link is no longer confirmed there,
    # and it vouches for the clinic no more.
    assert not _confirmed_on(node_a, reference, clinic), (
        "the coordinator still counts the clinic on the case after the clinic withdrew its "
        "client record on its own node"
    )
    assert _ask_voucher(nodes, agency="clinic", reference=reference).status_code == 404
    # Child welfare's node (B) is told again: the clinic no longer, the shelter still.
    held = _agencies_on(node_b, reference)
    assert clinic not in held
    assert shelter in held
    # The coordinator's log: the withdrawal, in the clinic's name (no staff member's).
    withdrawn = _entries(node_a, tag="mdt:case:link_withdrawn", subject=reference)
    assert [(e.actor_agency_ref, e.actor_user_ref) for e in withdrawn] == [(clinic, None)]
    asked = _entries(node_a, tag="mdt:case:participation_changed", subject=reference)
    assert [(e.actor_agency_ref, e.actor_user_ref) for e in asked][-1] == (clinic, None)
    told = _entries(node_c, tag="mdt:case:coordinator_told", subject=reference)
    assert len(told) == 1 and nodes.ids["cac"] in told[0].detail
    assert _owed_on(node_c) == 0


def test_with_the_coordinators_node_down_the_withdrawal_stands_and_is_told_later(nodes):
    reference = nodes.references[0]
    node_a, node_b, node_c = (_node(nodes, n) for n in ("node-a", "node-b", "node-c"))
    shelter = nodes.ids["shelter"]
    assert shelter in _agencies_on(node_b, reference)
    federated.stop(node_a)
    try:
        page = _withdraw(node_c, "advocate", reference)
        assert "withdrawn from the case" in page
        assert not _confirmed_on(node_c, reference, shelter)  # the withdrawal stands
        # Said plainly: who was not reached, and that it is tried again.
        assert "Riverbend Children&#39;s Advocacy Center (demo) did not answer" in page
        assert "tells it again" in page
        assert _owed_on(node_c) == 1
        still = _tell_owed(node_c)
        assert still.returncode == 1, still.stdout + still.stderr
    finally:
        federated.start(node_a, log=node_a.directory / "node-a.log", **SERVE)
        federated.wait_until_serving(node_a, seconds=60)
    assert _confirmed_on(node_a, reference, shelter)  # nobody told it yet
    told = _tell_owed(node_c)
    assert told.returncode == 0, told.stdout + told.stderr
    assert not _confirmed_on(node_a, reference, shelter)
    assert shelter not in _agencies_on(node_b, reference)
    assert _owed_on(node_c) == 0
    assert _tell_owed(node_c).returncode == 0  # nothing owed any more: nothing sent again
    assert len(_entries(node_c, tag="mdt:case:coordinator_told", subject=reference)) == 1
