"""Suspicions about federation and the audit log, each proven by a test that failed on the
code as it stood, then fixed. Synthetic data only."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from types import SimpleNamespace

import httpx2
import pytest
import test_audit_cli
import test_federation_in_process as in_process
from sqlalchemy import update
from sqlmodel import select
from starlette.testclient import TestClient

from portal import audit
from portal.audit import AuditTag, verify
from portal.cli import main as cli
from portal.db import unit_of_work
from portal.federation import links, transport
from portal.federation.transport import Federation
from portal.models import Agency, AuditEntry, AuditHead, CaseLink, MdtCase, OwedTell, Role
from portal.requester import Requester
from portal.services import cases

import factories as make
import federation_world as fw
from federation_helpers import shelter_case

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
DISCLOSURES = "/federation/v1/disclosures"
CASE_LINKS = "/federation/v1/case-links"
PARTICIPANTS = "/federation/v1/case-participants"
REFERRALS = "/federation/v1/mdt-referrals"

URLS = in_process.URLS
node = test_audit_cli.node  # the fixture: a migrated SQLite node with two agencies
ALDER = "Alder Advocacy (synthetic)"
BIRCH = "Birch Welfare (synthetic)"


def _as_local(db, keys, agency, path: str, payload: dict, *, now: float):
    """(body, headers) of a request signed with the key of an agency hosted on this node."""
    key_id, signing_key = transport.signing_key_of(db, agency, keys=keys)
    body = json.dumps(payload).encode()
    headers = transport.signed_request_headers(
        HERE + path, body, key_id=key_id, signing_key=signing_key, now=now
    )
    return body, headers


@pytest.mark.parametrize("path", [DISCLOSURES, CASE_LINKS, PARTICIPANTS, REFERRALS])
def test_a_request_signed_by_an_agency_hosted_here_is_refused_at_the_federation_door(
    client, db, keys, clock, path
):
    """A local agency's staff ask through the in-process path (their own session, roles,
    and the owner's policy for them). Signed with this node's own agency key, a request
    to `/federation/v1` claimed any roles and any user for that agency, and was answered:
    the node's keys opened the door meant for other nodes."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    cac = db.get(Agency, made.case.coordinating_agency_id)  # coordinates the case, hosted here
    requester = {
        "node": HERE,
        "agency": cac.public_id,
        "agency_kind": cac.kind,
        "user": None,
        "roles": ["case_manager"],
        "purpose": "mdt_case_review",
    }
    payload = {
        DISCLOSURES: {
            "requester": requester,
            "case": made.case.reference,
            "owners": [made.shelter.public_id],
            "sections": ["placement_housing"],
        },
        CASE_LINKS: {
            "requester": requester,
            "owner": made.shelter.public_id,
            "client": "R-NOBODY",
            "case": {"reference": "MDT-2026-LOCAL1", "intake_date": "2026-11-01"},
            "participants": [],
        },
        PARTICIPANTS: {
            "requester": requester,
            "owner": made.shelter.public_id,
            "case": made.case.reference,
            "participants": [],
        },
        REFERRALS: {"requester": requester, "owners": [made.shelter.public_id]},
    }[path]
    entries_before = len(db.exec(select(AuditEntry.id)).all())
    body, headers = _as_local(db, keys, cac, path, payload, now=clock().timestamp())
    answer = client.post(path, content=body, headers=headers)
    assert 400 <= answer.status_code < 500, (
        f"a request signed by an agency hosted on this node was answered "
        f"{answer.status_code}: {answer.text[:200]!r}"
    )
    assert answer.json()["error"] == "local_sender", answer.text
    assert "hosted on this node" in answer.json()["message"]
    assert len(db.exec(select(AuditEntry.id)).all()) == entries_before, "the owner answered it"
    again = client.post(path, content=body, headers=headers)
    assert again.json()["error"] == "replayed", "the refused request's nonce was not kept"


# -- `portal audit verify`: a checkpoint whose signing key left the key ring -------------------


def test_a_checkpoint_whose_signing_key_was_deleted_is_reported_as_a_missing_key(
    node, tmp_path, capsys
):
    """A signing key deleted from the agency's key ring (a restore that lost rows, a hand
    clean-up of retired keys) left `portal audit verify` saying the journaled checkpoint
    "has a bad signature": the operator reads a tampered log, where what is wrong is the
    key ring, which a backup restores (and then the signature holds)."""
    assert cli.main(["audit", "checkpoint", ALDER]) == 0
    assert cli.main(["keys", "rotate", ALDER]) == 0  # the checkpoint's key is retired, kept
    (line,) = [json.loads(raw) for raw in (tmp_path / "journal.jsonl").read_text().splitlines()]
    with sqlite3.connect(node) as connection:
        deleted = connection.execute(
            "DELETE FROM agency_key WHERE key_id = ?", (line["key_id"],)
        ).rowcount
    assert deleted == 1
    capsys.readouterr()

    status = cli.main(["audit", "verify"])
    alder = [row for row in capsys.readouterr().out.splitlines() if ALDER in row]

    assert status == 1 and alder, alder
    assert not any("bad signature" in row for row in alder), (
        f"a checkpoint whose key left the key ring was called badly signed: {alder}"
    )
    assert all("missing from the agency's key ring" in row for row in alder if "BROKEN" in row), (
        alder
    )
    assert any(line["key_id"] in row for row in alder), alder


# -- `portal audit verify`: the head row that ties a log to its agency ----------------------


@pytest.mark.parametrize("swapped", ["head agency_id", "agency public_id"])
def test_two_logs_whose_heads_name_each_others_agency_are_both_reported(db, keys, swapped):
    """Each agency's appends find their log by the head row's agency_id: two heads with
    their agency_id exchanged (or two agencies with their public ids exchanged) send each
    agency's next entries into the other's log, and verify, which read the head by its
    log key alone, said "chain intact" for both."""
    first = make.agency(db, keys)
    second = make.agency(db, keys)
    audit.record(db, AuditTag.AGENCY_UPDATED, agency_id=first.id, subject="x", at=make.AT)
    audit.record(db, AuditTag.AGENCY_UPDATED, agency_id=second.id, subject="y", at=make.AT)
    db.flush()
    assert verify.verify_log(db, first.public_id).ok and verify.verify_log(db, second.public_id).ok
    if swapped == "head agency_id":
        db.execute(
            update(AuditHead).where(AuditHead.log_key == first.public_id).values(agency_id=None)
        )
        db.execute(
            update(AuditHead)
            .where(AuditHead.log_key == second.public_id)
            .values(agency_id=first.id)
        )
        db.execute(
            update(AuditHead)
            .where(AuditHead.log_key == first.public_id)
            .values(agency_id=second.id)
        )
    else:
        held = {first.id: first.public_id, second.id: second.public_id}
        db.execute(update(Agency).where(Agency.id == first.id).values(public_id="swapping"))
        db.execute(update(Agency).where(Agency.id == second.id).values(public_id=held[first.id]))
        db.execute(update(Agency).where(Agency.id == first.id).values(public_id=held[second.id]))
    db.flush()
    db.expire_all()

    reports = [verify.verify_log(db, log) for log in (first.public_id, second.public_id)]

    assert not any(report.ok for report in reports), [r.line() for r in reports]
    assert all("head" in report.problem for report in reports), [r.line() for r in reports]


# -- Participants told to owners elsewhere -------------------------------------------------------

world = in_process.world  # three nodes in this process, the case linked across them


def test_an_owner_node_down_when_participants_changed_is_told_once_it_is_back(world):
    """The coordinating node tells every confirmed owner elsewhere who takes part in a case
    (`links.tell_participants`) when a link is confirmed: an owner whose node was down then
    was never told (the names it returned "to be told again later" were dropped), so its
    point kept answering the new participant as not linked to the case. It is owed now
    (`OwedTell`), shown on the coordinator's case page, and told again when that page
    opens a while later."""
    a = world.a.engine()
    with unit_of_work(a) as db:
        cac, clinic = fw.agency_named(db, fw.CAC), fw.agency_named(db, fw.CLINIC)
        welfare = fw.agency_named(db, fw.WELFARE)
        case = cases.open_case(
            db,
            cac,
            intake_date=fw.now().date(),
            referral_source="hotline",
            actor=None,
            at=fw.now(),
            today=fw.now().date(),
            agencies=[clinic, welfare],
        )
        case_id, reference = case.public_id, case.reference
    for node in (world.b, world.c):
        in_process._earlier_cases_closed(SimpleNamespace(b=node))
    coordinator = Requester(
        node="local",
        agency=world.ids[fw.CAC],
        agency_kind="community",
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
    )
    up = {
        URL: httpx2.ASGITransport(app=world.apps[n]) for URL, n in zip(URLS[1:], "bc", strict=True)
    }
    for name, mounts in ((fw.CLINIC, up), (fw.WELFARE, {**up, URLS[1]: fw.NodeDown()})):
        federation = Federation(timeout_seconds=5, window_seconds=30, mounts=mounts)
        try:
            with unit_of_work(a) as db:
                case = db.exec(select(MdtCase).where(MdtCase.public_id == case_id)).one()
                assert links.request_link(
                    db,
                    case,
                    fw.agency_named(db, name),
                    world.clients[name],
                    requester=coordinator,
                    at=fw.now(),
                    keys=world.a.keys,
                    federation=federation,
                    commit=db.commit,  # no node is waited on with a write held
                )
        finally:
            federation.close()
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        page = client.get(f"/cases/{case_id}")
        assert page.status_code == 200
        # Tried a moment ago: not tried again at once (each try may wait for a timeout).
        assert f"{fw.CLINIC}'s node has not taken this case" in page.text
        # Six minutes later, the clinic's node is back: the page tells it.
        with unit_of_work(a) as db:
            for row in db.exec(select(OwedTell)).all():
                row.tried_at -= timedelta(minutes=6)
                db.add(row)
        page = client.get(f"/cases/{case_id}")
        assert page.status_code == 200
        assert "node has not taken this case" not in page.text
    with unit_of_work(a) as db:
        assert db.exec(select(OwedTell)).all() == []
    a.dispose()

    b = world.b.engine()
    with unit_of_work(b) as db:
        mirrored = db.exec(select(MdtCase).where(MdtCase.reference == reference)).one()
        taking_part = {
            db.get(Agency, link.agency_id).name
            for link in db.exec(select(CaseLink).where(CaseLink.case_id == mirrored.id))
        }
    b.dispose()
    assert fw.WELFARE in taking_part, (
        f"the clinic's node was down when child welfare joined the case, and still does not "
        f"know it takes part: {sorted(taking_part)}"
    )
