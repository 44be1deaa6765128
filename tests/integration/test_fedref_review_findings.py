"""Federation beyond the case summary, as a review found it: referrals between nodes, the
roster and membership, case links and participants across nodes. Each test is named after
what should happen, and failed on the code as reviewed. Synthetic data only; nodes in this
process (each its own SQLite file) or the suite's savepoint database; real HTTP only on
127.0.0.1 with short timeouts."""

from __future__ import annotations

import httpx2
import pytest
import test_federation_in_process as in_process
from sqlmodel import select
from starlette.testclient import TestClient

from portal.db import unit_of_work
from portal.federation import links, membership, transport
from portal.federation.transport import Federation
from portal.models import CaseLink, MdtCase, Role
from portal.requester import Requester
from portal.services import cases

import factories as make
import federation_world as fw
from federation_helpers import (
    elsewhere,
    here,
    requester_of,
    shelter_case,
    signed_request,
    signed_roster,
)

URLS = in_process.URLS
world = in_process.world  # three nodes in this process, the case linked across them

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
DISCLOSURES = "/federation/v1/disclosures"
CASE_LINKS = "/federation/v1/case-links"
PARTICIPANTS = "/federation/v1/case-participants"


def _coordinator(db) -> Requester:
    cac = fw.agency_named(db, fw.CAC)
    return Requester(
        node="local",
        agency=cac.public_id,
        agency_kind=cac.kind,
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
    )


def _federation(world, *names) -> Federation:
    mounts = {URLS["abc".index(n)]: httpx2.ASGITransport(app=world.apps[n]) for n in names}
    return Federation(timeout_seconds=5, window_seconds=30, mounts=mounts)


def _new_case(db, agencies=()):
    cac = fw.agency_named(db, fw.CAC)
    at = fw.now()
    return cases.open_case(
        db,
        cac,
        intake_date=at.date(),
        referral_source="hotline",
        actor=None,
        at=at,
        today=at.date(),
        agencies=list(agencies),
    )


# -- Case links and participants across nodes -------------------------------------------------


# -- Bad input at /federation/v1 ----------------------------------------------------------------


@pytest.mark.parametrize("path", [DISCLOSURES, CASE_LINKS])
def test_a_signed_request_naming_a_user_id_longer_than_the_log_keeps_is_a_400_not_a_500(
    lenient, db, keys, clock, path
):
    """Before: `wire.requester_from` takes a user id of up to 200 characters, and every
    owner's log entry keeps it in `actor_user_ref` (36 characters). On PostgreSQL a roster
    member's signed request naming a 40-character user id fails in the database: the owner
    answers a 500 page, and the rolled-back transaction forgets the request's nonce, so the
    same bytes can be sent again and again within the window."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    requester = requester_of(made.welfare, user="u" * 40)
    payload = (
        {
            "requester": requester,
            "case": made.case.reference,
            "owners": [made.shelter.public_id],
            "sections": ["placement_housing"],
        }
        if path == DISCLOSURES
        else {
            "requester": requester,
            "owner": made.shelter.public_id,
            "client": "R-NOBODY",
            "case": {"reference": "MDT-2026-LONGU1", "intake_date": "2026-11-01"},
            "participants": [],
        }
    )
    body, headers = signed_request(HERE + path, made.welfare, payload, now=clock().timestamp())
    answer = lenient.post(path, content=body, headers=headers)
    assert 400 <= answer.status_code < 500 or answer.status_code == 200, (
        f"a signed request whose requester.user is 40 characters long was answered "
        f"{answer.status_code}: {answer.text[:120]!r}"
    )


# -- Referrals from owners elsewhere ------------------------------------------------------------


def _referral_answer(payload: dict, *, referral: str, release_ref: str | None = None) -> dict:
    """One released referral per owner asked, as an owner's node on another version might
    word it (each value a string, as the wire takes it)."""
    rows = [
        {"label": "Referral", "type": "text", "value": referral},
        {"label": "Their client reference", "type": "text", "value": "R-ELSEWHERE"},
        {"label": "Age group", "type": "text", "value": "minor"},
        {"label": "Screened", "type": "text", "value": "2026-10-30T10:00:00+00:00"},
        {"label": "Result", "type": "text", "value": "clear concern"},
    ]
    decision = {
        "section": "mdt_referral",
        "decision": "released",
        "content": {"rows": rows, "version": 1, "saved_at": None},
        "release_ref": release_ref,
        "policy_rule": None,
        "role": "mdt_coordinator",
        "legal_basis": None,
    }
    return {
        "answers": [
            {"owner": owner, "refused": None, "decisions": [decision], "more": False}
            for owner in payload["owners"]
        ]
    }


@pytest.mark.parametrize(
    "odd",
    [
        {"referral": "R" * 150},  # a reference longer than the log's subject (120)
        {"referral": "SCR-1", "release_ref": "rel-" + "9" * 60},  # longer than 36
    ],
    ids=["long-referral", "long-release-ref"],
)
def test_an_owner_elsewhere_whose_referral_does_not_fit_the_log_shows_unavailable_not_a_500(
    app, db, keys, clock, odd
):
    """Before: the coordinator's node writes its receipt of a referral from what the owner
    elsewhere sent (`referrals.received_entries`: the referral's reference as the subject,
    its release id), unchecked in length. An owner's node that answers a referral whose
    reference or release id is longer than the log's column (a node on another version, or
    a faulty one) makes the coordinator's whole dashboard a 500 on PostgreSQL, every
    partner's row with it, where DESIGN.md says an owner whose answer cannot be used shows
    as unavailable, "never as an error page"."""
    from test_federation_review_findings import _as_coordinator, _FakeNode

    node = _FakeNode(
        clock,
        lambda payload: (
            {"case": payload.get("case"), "answers": []}
            if "case" in payload
            else _referral_answer(payload, **odd)
        ),
    )
    try:
        made = shelter_case(db, keys, clock, here_node=HERE, there_node=node.url)
        node.sender = made.welfare
        (dashboard,) = _as_coordinator(app, db, clock, made, "fr.coordinator", ["/"])
    finally:
        node.close()
    assert dashboard.status_code == 200, (
        f"the coordinator's dashboard was a {dashboard.status_code} because one owner elsewhere "
        f"answered a referral with {sorted(odd)}"
    )


def _node_a(world) -> TestClient:
    return TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False)


def test_asking_an_agency_elsewhere_again_does_not_confirm_its_link_a_second_time(world):
    """Before: here, a link confirmed is not confirmed again (`casework.confirm_link`: 409,
    "already confirmed; it is not changed here"). The coordinator's "ask to confirm" form
    for an agency elsewhere, posted again (a double click, the back button), sends the case
    link again: both nodes write a second "link confirmed" entry, and the coordinator's
    node moves the link's confirmation time to now, so the case no longer says when the
    survivor joined."""
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        clinic = fw.agency_named(db, fw.CLINIC)
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        before = db.exec(
            select(CaseLink.confirmed_at).where(
                CaseLink.case_id == case.id, CaseLink.agency_id == clinic.id
            )
        ).one()
    engine.dispose()
    a_before = len(fw.entries(world.a, tag="mdt:case:link_confirmed", subject=world.case_ref))
    b_before = len(fw.entries(world.b, tag="mdt:case:link_confirmed", subject=world.case_ref))
    with _node_a(world) as client:
        fw.login(client, "coordinator")
        answer = fw.ask_remote_link(client, world, fw.CLINIC)
    with unit_of_work(engine) as db:
        clinic = fw.agency_named(db, fw.CLINIC)
        after = db.exec(
            select(CaseLink.confirmed_at).where(
                CaseLink.case_id == case.id, CaseLink.agency_id == clinic.id
            )
        ).one()
    engine.dispose()
    a_after = len(fw.entries(world.a, tag="mdt:case:link_confirmed", subject=world.case_ref))
    b_after = len(fw.entries(world.b, tag="mdt:case:link_confirmed", subject=world.case_ref))
    assert (a_after, b_after, after) == (a_before, b_before, before), (
        f"asking again for a link confirmed was answered {answer.status_code}; 'link confirmed' "
        f"entries on A {a_before}->{a_after}, on B {b_before}->{b_after}; confirmed at "
        f"{before} -> {after}"
    )


def test_the_coordinators_log_keeps_a_case_link_it_asked_for_and_was_declined(world):
    """Before: each side writes its own entry (DESIGN.md, One door). When the coordinator
    asks an owner elsewhere to confirm its client and the owner declines, the owner's log
    has the decline, and the coordinator's node, which sent the owner's client reference,
    the case and its participants across, writes nothing at all: its lead cannot answer
    "what did we send about this case, to whom, and what came back"."""
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        other = _new_case(db, [fw.agency_named(db, fw.CLINIC)])
        reference = other.reference
    before = [e.tag for e in fw.entries(world.a, subject=reference)]
    federation = _federation(world, "b")
    try:
        with unit_of_work(engine) as db:
            confirmed = links.request_link(
                db,
                db.exec(select(MdtCase).where(MdtCase.reference == reference)).one(),
                fw.agency_named(db, fw.CLINIC),
                "R-NOT-A-CLIENT",
                requester=_coordinator(db),
                at=fw.now(),
                keys=world.a.keys,
                federation=federation,
                commit=db.commit,  # no node is waited on with a write held
            )
    finally:
        federation.close()
        engine.dispose()
    assert confirmed is False
    assert fw.entries(world.b, tag="mdt:case:link_declined", subject=reference)
    after = [e.tag for e in fw.entries(world.a, subject=reference)]
    assert len(after) > len(before), (
        f"node A asked {fw.CLINIC} on node B to link a client to {reference} and was declined; "
        f"A's log of the case is unchanged: {after}"
    )


# -- The roster and membership ------------------------------------------------------------------


def test_a_roster_naming_a_key_this_node_retired_as_current_is_not_taken_into_force(
    db, keys, clock
):
    """Before: `membership._apply` checks only that every key the roster lists for an
    agency hosted here is one this node holds, retired or not. After the shelter's lead
    rotates its key (`portal keys rotate`, say because the old one leaked), a roster signed
    from the shelter's old entry (the old key current, the new one missing) is imported
    without a word: every node, this one included, goes on accepting requests signed with
    the retired key as the shelter's, and refuses the shelter's requests signed with its
    new key."""
    from portal.federation.roster import RosterError
    from portal.services import keys as key_service

    shelter = make.agency(db, keys, name="Rotating Shelter Here (synthetic)")
    cac = elsewhere("Rotation CAC Elsewhere (synthetic)", node=THERE, kind="community")
    old_entry = here(db, shelter, node=HERE)  # sent to the coordinator before the rotation
    (old_key,) = old_entry.keys
    key_service.rotate_signing_key(db, shelter, keys=keys, actor=None, at=clock())
    clock.advance(minutes=5)
    data = signed_roster(cac, [cac.member, old_entry], at=clock())
    try:
        membership.import_roster(db, data, pin=cac.key_id, at=clock())
    except RosterError:
        return  # refused: the roster disagrees with the keys this node holds
    roster, _url = transport.roster_and_url(db)
    trusted = transport.current_key_of(roster, old_key.key_id) is not None
    assert not trusted, (
        f"the roster in force on this node names {shelter.name}'s key {old_key.key_id}, "
        "retired here, as current: requests signed with it are accepted as the shelter's"
    )


def test_a_link_confirmed_elsewhere_is_in_the_case_history_as_one_confirmed_here(world):
    """Before: when an agency here names its client, the case's history says "<agency>
    confirmed its client record for the case" (`casework.confirm_link`). When an agency
    elsewhere confirms on the coordinator's request (`links.request_link`), the link is
    confirmed and logged but the history the coordinator reads says nothing of it: the
    case's history shows the clinic and child welfare added, never joined."""
    from portal.models.workflow import CaseEvent, CaseEventKind

    engine = world.a.engine()
    with unit_of_work(engine) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        noted = db.exec(
            select(CaseEvent.reason).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.LINK_CONFIRMED
            )
        ).all()
    engine.dispose()
    assert {fw.CLINIC, fw.WELFARE} <= set(noted), (
        f"the case's history notes these links confirmed: {noted}; the clinic and child "
        "welfare confirmed theirs from their own nodes"
    )


def test_participants_sent_twice_over_are_a_400_or_kept_not_a_500(lenient, db, keys, clock):
    """Before: `owner.case_participants` takes the coordinator's participant list with no
    bound on its length and keeps every repetition of an agency id in the owner's log entry
    (`detail`, 4,000 characters). A list naming the same agency 120 times (a coordinator's
    node on another version, a bug) is a 500 on PostgreSQL instead of a clear 400."""
    shelter, cac, (survivor, _other) = _coordinated_elsewhere_helpers(db, keys, clock)
    reference = "MDT-2026-FRDUP1"
    from test_federation_review_findings import _ask_link

    assert _ask_link(lenient, clock, cac, shelter, reference, survivor).json()["confirmed"]
    clock.advance(seconds=1)
    body, headers = signed_request(
        HERE + PARTICIPANTS,
        cac,
        {
            "requester": requester_of(cac, roles=("mdt_coordinator",)),
            "owner": shelter.public_id,
            "case": reference,
            "participants": [cac.member.agency] * 120,
        },
        now=clock().timestamp(),
    )
    answer = lenient.post(PARTICIPANTS, content=body, headers=headers)
    assert answer.status_code in (200, 400), (
        f"120 repetitions of one participant were answered {answer.status_code}: "
        f"{answer.text[:100]!r}"
    )


def _coordinated_elsewhere_helpers(db, keys, clock):
    from test_federation_review_findings import _coordinated_elsewhere

    return _coordinated_elsewhere(db, keys, clock)
