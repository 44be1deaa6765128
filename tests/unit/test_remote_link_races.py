"""A coordinator asking an owner on another node to confirm its client, twice at once: the
asking checked that the owner's part of the case was not confirmed yet before anything was
held, so both asked, both were told yes, and the case's history and both logs said the
client was confirmed twice. Two nodes in this process, each its own database (on each
backend), joined by an ASGI transport; the first request pauses just after its check, as
in test_check_races.py. Also a case closed while its owner elsewhere is asked: the owner's
answer is not recorded on the closed case, and its node is told so. Synthetic data only."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

import httpx2
import pytest
from sqlmodel import Session, select
from test_check_races import at_once

from portal.app import create_app
from portal.audit import AuditTag
from portal.db import unit_of_work
from portal.errors import Conflict
from portal.federation import links
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency, CaseLink, CaseStatus, MdtCase, OwedTell
from portal.models.workflow import CaseEvent, CaseEventKind
from portal.services import cases, casework

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


def closed_while_asked(two_nodes, monkeypatch, *, then=None) -> None:
    """The coordinator closes the case while the clinic's node is being asked to confirm its
    client: just before the asking's call is sent. `then`: what sends the calls after it
    (by default, the federation as it was)."""
    _world, engine, federation, case_id = two_nodes
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
        monkeypatch.setattr(federation, "send", then or sent)  # the first call only
        return sent(calls)

    monkeypatch.setattr(federation, "send", closed_first)


def clinics_part(node: fw.Node, reference: str) -> CaseLink:
    """The clinic's link to the case as the node holds it."""
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = db.exec(
            select(CaseLink)
            .join(MdtCase, MdtCase.id == CaseLink.case_id)
            .join(Agency, Agency.id == CaseLink.agency_id)
            .where(MdtCase.reference == reference, Agency.name == fw.CLINIC)
        ).one()
    engine.dispose()
    return found


def test_a_case_closed_while_its_owner_elsewhere_is_asked_keeps_no_confirmation_on_either_node(
    two_nodes, monkeypatch
):
    """The coordinator closed the case while the clinic's node was being asked to confirm
    its client. The answer's transaction recorded the confirmation on the closed case (its
    history and the coordinator's log: a closed case gains no agency otherwise), said
    nothing to the coordinator of the close, and the clinic's node was then told the case
    was closed, its client confirmed on it. Now nothing is confirmed on the closed case,
    the coordinator is told why, its log says what the clinic answered, the claim is let
    go, and the clinic's node, told its confirmation is not kept, withdraws it: both nodes
    hold the case closed, the clinic's client not on it."""
    world, engine, _federation, case_id = two_nodes
    closed_while_asked(two_nodes, monkeypatch)
    with Session(engine, expire_on_commit=False) as db:
        with pytest.raises(Conflict) as refused:
            ask_clinic(db, two_nodes)
        reference = db.get(MdtCase, case_id).reference
    assert refused.value.errors["agency"] == (
        f"The case was closed while {fw.CLINIC} was being asked to confirm its client, so "
        "its confirmation is not recorded. Reopen the case and ask again if it should take "
        "part."
    )
    with Session(engine) as db:
        case = db.get(MdtCase, case_id)
        assert case.status == CaseStatus.CLOSED
        link = clinics_part(world.a, reference)
        assert (link.confirmed_at, link.asking_since) == (None, None)
        kinds = db.exec(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).all()
        assert CaseEventKind.LINK_CONFIRMED not in kinds
        assert db.exec(select(OwedTell)).all() == []
    assert fw.entries(world.a, tag=AuditTag.CASE_LINK_CONFIRMED.value, subject=reference) == []
    (not_kept,) = fw.entries(world.a, tag=AuditTag.CASE_LINK_NOT_KEPT.value, subject=reference)
    assert world.ids[fw.CLINIC] in not_kept.detail
    # The clinic's node: the case closed, its client no longer confirmed on it; its log still
    # says what it told the coordinator (a disclosure), and then that it withdrew.
    assert fw.case_on(world.b, reference).status == CaseStatus.CLOSED
    there = clinics_part(world.b, reference)
    assert (there.confirmed_at, there.client_id) == (None, None)
    assert len(fw.entries(world.b, tag=AuditTag.CASE_LINK_CONFIRMED.value, subject=reference)) == 1
    assert len(fw.entries(world.b, tag=AuditTag.CASE_LINK_WITHDRAWN.value, subject=reference)) == 1


def test_an_owner_not_reached_when_its_confirmation_is_not_kept_is_told_again(
    two_nodes, monkeypatch
):
    """As above, the clinic's node down by the time it is told its confirmation is not
    kept: it is owed the news, and asking it again waits until it is told (asked now, the
    two calls could cross, and the clinic withdraw the confirmation the coordinator then
    records). Told, it withdraws; the case reopened and the clinic asked again, it confirms
    on both nodes."""
    world, engine, federation, case_id = two_nodes
    sent = federation.send
    closed_while_asked(
        two_nodes, monkeypatch, then=lambda calls: [Unavailable("the node is down")] * len(calls)
    )
    with Session(engine, expire_on_commit=False) as db:
        with pytest.raises(Conflict) as refused:
            ask_clinic(db, two_nodes)
        reference = db.get(MdtCase, case_id).reference
    assert "did not answer" in refused.value.errors["agency"]
    assert clinics_part(world.b, reference).confirmed_at is not None  # not told yet
    monkeypatch.setattr(federation, "send", sent)
    with unit_of_work(engine) as db:
        casework.reopen_case(
            db,
            db.get(MdtCase, case_id),
            reason="Synthetic: the family came back",
            actor=None,
            at=fw.now(),
        )
    with Session(engine, expire_on_commit=False) as db, pytest.raises(Conflict) as waits:
        ask_clinic(db, two_nodes)
    assert "still to be told" in waits.value.errors["agency"]
    with Session(engine) as db:
        told = links.tell_owed(
            db, keys=world.a.keys, federation=federation, at=fw.now(), commit=db.commit
        )
        db.commit()
    assert told == (1, [])
    there = clinics_part(world.b, reference)
    assert (there.confirmed_at, there.client_id) == (None, None)
    with Session(engine, expire_on_commit=False) as db:
        assert ask_clinic(db, two_nodes) is True
        db.commit()
    assert clinics_part(world.a, reference).confirmed_at is not None
    assert clinics_part(world.b, reference).confirmed_at is not None
    assert fw.case_on(world.b, reference).status == CaseStatus.OPEN
