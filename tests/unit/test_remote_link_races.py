"""A coordinator asking an owner on another node to confirm its client, twice at once: the
asking checked that the owner's part of the case was not confirmed yet before anything was
held, so both asked, both were told yes, and the case's history and both logs said the
client was confirmed twice. Two nodes in this process, each its own database (on each
backend), joined by an ASGI transport; the first request pauses just after its check, as
in test_check_races.py. Synthetic data only."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

import httpx2
import pytest
from sqlmodel import Session
from test_check_races import at_once

from portal.app import create_app
from portal.audit import AuditTag
from portal.db import unit_of_work
from portal.federation import links
from portal.federation.transport import Federation
from portal.models import MdtCase
from portal.services import cases

import federation_world as fw
from databases import BACKENDS

URLS = ("http://node-a.test", "http://node-b.test", "http://node-c.test")


@pytest.fixture(params=BACKENDS)
def two_nodes(request, tmp_path):
    """Node A coordinates a case with the clinic (node B) added but not confirmed yet; A
    reaches B through B's app in this process."""
    a, b, c = fw.nodes(tmp_path, URLS)
    with ExitStack() as stack:
        fw.on_backend(request.param, (a, b, c), tmp_path, stack)
        world = fw.prepare(a, b, c)
        mounts = {URLS[1]: httpx2.ASGITransport(app=create_app(b.settings()))}
        federation = Federation(timeout_seconds=15, window_seconds=30, mounts=mounts)
        stack.callback(federation.close)
        engine = a.engine()
        stack.callback(engine.dispose)
        at = fw.now() - timedelta(minutes=4)
        with unit_of_work(engine) as db:
            cac, clinic = fw.agency_named(db, fw.CAC), fw.agency_named(db, fw.CLINIC)
            case = cases.open_case(
                db,
                cac,
                intake_date=at.date(),
                referral_source="hotline",
                actor=None,
                at=at,
                today=at.date(),
            )
            cases.link_client(db, case, clinic, None, actor=None, at=at)
            case_id = case.id
        yield world, engine, federation, case_id


def ask_clinic(db: Session, two_nodes) -> bool:
    """Node A's coordinator asks the clinic (node B) to confirm its client for the case."""
    world, _engine, federation, case_id = two_nodes
    return links.request_link(
        db,
        db.get(MdtCase, case_id),
        fw.agency_named(db, fw.CLINIC),
        world.clients[fw.CLINIC],
        requester=links.as_coordinator(fw.agency_named(db, fw.CAC)),
        at=fw.now(),
        keys=world.a.keys,
        federation=federation,
        commit=db.commit,  # no node is waited on with a write held
    )


def test_an_owner_elsewhere_asked_twice_at_once_confirms_once(two_nodes, monkeypatch):
    world, engine, _federation, case_id = two_nodes

    def ask(db: Session, number: int) -> None:
        ask_clinic(db, two_nodes)

    # The first pauses just after it found the clinic's part not confirmed yet.
    outcomes = at_once(engine, monkeypatch, links, "_participants", ask)
    assert outcomes == ["refused", "saved"]
    with Session(engine) as db:
        reference = db.get(MdtCase, case_id).reference
    confirmed = AuditTag.CASE_LINK_CONFIRMED.value
    assert len(fw.entries(world.a, tag=confirmed, subject=reference)) == 1
    assert len(fw.entries(world.b, tag=confirmed, subject=reference)) == 1


def test_a_case_closed_while_its_owner_elsewhere_is_asked_is_closed_on_that_node_too(
    two_nodes, monkeypatch
):
    """The coordinator closed the case while the clinic's node was being asked to confirm
    its client. The confirmation was recorded, and the clinic then told the case was open
    (as the asking had read it before the call): its node kept the case open, and the
    client in it, where the coordinator's was closed."""
    from portal.models import CaseStatus
    from portal.services import casework

    world, engine, federation, case_id = two_nodes
    sent = federation.send

    def closed_first(calls):
        with unit_of_work(engine) as db:
            casework.close_case(
                db,
                db.get(MdtCase, case_id),
                reason="Synthetic: the family moved away",
                actor=None,
                at=fw.now(),
                today=fw.now().date(),
            )
        monkeypatch.setattr(federation, "send", sent)  # the first call only
        return sent(calls)

    monkeypatch.setattr(federation, "send", closed_first)
    with Session(engine, expire_on_commit=False) as db:
        assert ask_clinic(db, two_nodes) is True
        db.commit()
        reference = db.get(MdtCase, case_id).reference
    with Session(engine) as db:
        assert db.get(MdtCase, case_id).status == CaseStatus.CLOSED
    assert fw.case_on(world.b, reference).status == CaseStatus.CLOSED
