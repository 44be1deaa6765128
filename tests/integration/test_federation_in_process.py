"""Three nodes in this process, each its own database and keys, joined by ASGI transports:
the /federation/v1 protocol, the case link across nodes and the summary's fan-out
(issue 16). The same scenarios against real node processes: test_federation_nodes.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta

import httpx2
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.bench.http import Browser, serve
from portal.db import unit_of_work
from portal.federation import transport
from portal.federation.transport import Federation
from portal.models import Agency, CaseLink, CaseStatus, Client, MdtCase

import federation_world as fw

URLS = ("http://node-a.test", "http://node-b.test", "http://node-c.test")


@pytest.fixture
def world(tmp_path):
    a, b, c = fw.nodes(tmp_path, URLS)
    world = fw.prepare(a, b, c)
    apps = {node.name: create_app(node.settings()) for node in (a, b, c)}
    mounts = {
        URLS[1]: httpx2.ASGITransport(app=apps["b"]),
        URLS[2]: httpx2.ASGITransport(app=apps["c"]),
    }
    fw.link(world, mounts=mounts)
    apps["a"].state.federation = Federation(timeout_seconds=5, window_seconds=30, mounts=mounts)
    world.apps = apps
    yield world
    apps["a"].state.federation.close()


def _node_a(world) -> TestClient:
    return TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False)


def test_case_link_made_a_mirror_on_each_owner_with_the_participants(world):
    engine = world.b.engine()
    with unit_of_work(engine) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        linked = {
            db.get(Agency, link.agency_id).name: link.client_id is not None
            for link in db.exec(select(CaseLink).where(CaseLink.case_id == case.id))
        }
    engine.dispose()
    # The shelter takes part too, but it is community-based: that it serves this survivor
    # is its own to disclose, so the clinic's node is not told (it shows a voucher when it
    # asks, test_federation_vouchers.py).
    assert linked == {fw.CLINIC: True, fw.WELFARE: False, fw.CAC: False}
    confirmed = fw.entries(world.b, tag="mdt:case:link_confirmed", subject=world.case_ref)
    assert len(confirmed) == 1


def test_the_summary_fans_out_and_each_side_audits_its_own(world):
    with TestClient(
        world.apps["a"], base_url="http://node-a.test", follow_redirects=False
    ) as client:
        fw.login(client, "casemanager")
        page = client.get(f"/cases/{world.case_id}/summary")
    assert page.status_code == 200
    # Released by the clinic (node B) and child welfare (node C), and the shelter (here).
    assert fw.SECRET + " clinic" in page.text
    assert fw.SECRET + " cw" in page.text
    assert fw.SECRET + " shelter" in page.text
    # Withheld sections show the gate, e.g. the clinic's mental health has no release.
    assert 'data-gate="no_consent"' in page.text
    # The owners' logs on B and C, and the receipts on A.
    # (The link's confirmation is the clinic's disclosure of its part too: not the summary's.)
    released_b = fw.entries(world.b, case_ref=world.case_ref, tag="disclosure:section:released")
    assert {e.section_key for e in released_b} == {"medical"}
    assert all(e.actor_agency_ref == world.ids[fw.CAC] for e in released_b)
    withheld_c = fw.entries(world.c, case_ref=world.case_ref, tag="disclosure:section:withheld")
    assert withheld_c
    received = fw.entries(world.a, tag="disclosure:section:received", case_ref=world.case_ref)
    assert {json.loads(e.detail)["owner"] for e in received} == {
        world.ids[fw.CLINIC],
        world.ids[fw.WELFARE],
        world.ids[fw.SHELTER],
    }


def test_a_revocation_on_the_owners_node_counts_on_the_next_view(world):
    from portal.models import ConsentRelease
    from portal.services import releases

    engine = world.b.engine()
    with unit_of_work(engine) as db:
        row = db.exec(select(ConsentRelease)).one()
        author = fw.staff_named(db, "clinic.cm")
        releases.revoke(
            db, row, actor=author, reason="the client asked", keys=world.b.keys, at=fw.now()
        )
    engine.dispose()
    with TestClient(
        world.apps["a"], base_url="http://node-a.test", follow_redirects=False
    ) as client:
        fw.login(client, "casemanager")
        page = client.get(f"/cases/{world.case_id}/summary").text
    assert fw.SECRET + " clinic" not in page
    # The revoked release was also the client's agreement to join the case: the link
    # lapsed with it, so the clinic's sections are withheld as not (any more) linked,
    # as for a link confirmed on the owner's own node (test_one_door_pages).
    assert 'data-gate="not_linked"' in page


def test_an_owner_down_shows_unavailable_and_the_rest_stands(world):
    world.apps["a"].state.federation.close()
    world.apps["a"].state.federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[1]: fw.NodeDown(), URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},
    )
    with TestClient(
        world.apps["a"], base_url="http://node-a.test", follow_redirects=False
    ) as client:
        fw.login(client, "casemanager")
        page = client.get(f"/cases/{world.case_id}/summary")
    assert page.status_code == 200
    assert f"Unavailable from {fw.CLINIC}" in page.text
    assert fw.SECRET + " cw" in page.text


def _signed_call(world, path, payload, *, key_node="a", agency=fw.CAC, url=None):
    """A request as node A's agency signs it, sent to node B's app directly."""
    engine = getattr(world, key_node).engine()
    with unit_of_work(engine) as db:
        agency_row = fw.agency_named(db, agency)
        key_id, key = transport.signing_key_of(db, agency_row, keys=getattr(world, key_node).keys)
    engine.dispose()
    body = json.dumps(payload).encode()
    target = (url or URLS[1]) + path
    headers = transport.signed_request_headers(
        target, body, key_id=key_id, signing_key=key, now=fw.now().timestamp()
    )
    return body, headers


def _payload(world):
    return {
        "requester": {
            "node": URLS[0],
            "agency": world.ids[fw.CAC],
            "agency_kind": "community",
            "user": None,
            "roles": ["case_manager"],
            "purpose": "mdt_case_review",
        },
        "case": world.case_ref,
        "owners": [world.ids[fw.CLINIC]],
        "sections": None,
    }


def test_replayed_tampered_unsigned_and_stranger_requests_are_refused(world):
    path = "/federation/v1/disclosures"
    body, headers = _signed_call(world, path, _payload(world))
    with TestClient(world.apps["b"], base_url=URLS[1]) as node_b:
        first = node_b.post(path, content=body, headers=headers)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"
        assert "signature" in first.headers
        replay = node_b.post(path, content=body, headers=headers)
        assert (replay.status_code, replay.json()["error"]) == (401, "replayed")

        body, headers = _signed_call(world, path, _payload(world))
        tampered = body.replace(b"case_manager", b"clinician")
        refused = node_b.post(path, content=tampered, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "content_digest_mismatch")

        unsigned = node_b.post(path, content=body, headers={"Content-Type": "application/json"})
        assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unsigned")

        # A node whose agency is not in the roster: its key is unknown.
        from nacl.signing import SigningKey

        stranger = transport.signed_request_headers(
            URLS[1] + path,
            body,
            key_id="0f0f0f0f-stranger:0123456789abcdef",
            signing_key=SigningKey.generate(),
            now=fw.now().timestamp(),
        )
        refused = node_b.post(path, content=body, headers=stranger)
        assert (refused.status_code, refused.json()["error"]) == (401, "unknown_key")

        # Signed for node C's address, sent to B.
        body, headers = _signed_call(world, path, _payload(world), url=URLS[2])
        refused = node_b.post(path, content=body, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")

        # The roster's member, but claiming to be another agency.
        payload = _payload(world)
        payload["requester"]["agency"] = world.ids[fw.SHELTER]
        body, headers = _signed_call(world, path, payload)
        refused = node_b.post(path, content=body, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (401, "wrong_sender")


def test_a_link_without_a_release_naming_the_coordinator_is_declined(world):
    from portal.federation import links
    from portal.requester import Requester

    mounts = {URLS[1]: httpx2.ASGITransport(app=world.apps["b"])}
    federation = Federation(timeout_seconds=5, window_seconds=30, mounts=mounts)
    try:
        engine = world.a.engine()
        with unit_of_work(engine) as db:
            cac = fw.agency_named(db, fw.CAC)
            clinic = fw.agency_named(db, fw.CLINIC)
            from portal.services import cases

            other = cases.open_case(
                db,
                cac,
                intake_date=fw.now().date(),
                referral_source="hotline",
                actor=None,
                at=fw.now(),
                today=fw.now().date(),
            )
            coordinator = Requester("local", cac.public_id, "community", None, frozenset())
            # An unknown client and a client without such a release get the same answer.
            for reference in ("no-such-client", world.clients[fw.CLINIC] + "x"):
                assert not links.request_link(
                    db,
                    other,
                    clinic,
                    reference,
                    requester=coordinator,
                    at=fw.now(),
                    keys=world.a.keys,
                    federation=federation,
                    commit=db.commit,  # no node is waited on with a write held
                )
        engine.dispose()
    finally:
        federation.close()
    assert len(fw.entries(world.b, tag="mdt:case:link_declined")) == 2
    assert fw.case_on(world.b, other.reference) is None


def test_keys_stay_with_their_agency_each_node_wraps_only_its_own(world):
    from nacl.exceptions import CryptoError

    from portal.models import AgencyKey

    held = {}
    for node in (world.a, world.b, world.c):
        engine = node.engine()
        with unit_of_work(engine) as db:
            rows = db.exec(select(AgencyKey, Agency).join(Agency)).all()
            held[node.name] = {agency.name for _key, agency in rows}
            for key, _agency in rows:
                node.keys.unwrap(key.wrapped_secret)  # its own KEK opens its own keys
                for other in [n for n in (world.a, world.b, world.c) if n is not node]:
                    with pytest.raises(CryptoError):
                        other.keys.unwrap(key.wrapped_secret)
        engine.dispose()
    assert held == {"a": {fw.CAC, fw.SHELTER}, "b": {fw.CLINIC}, "c": {fw.WELFARE}}


def _earlier_cases_closed(world) -> None:
    """The clinic's client was in the world's first case: it has closed on the clinic's node
    (a survivor in an open case is not linked to a second one)."""
    clinic_node = world.b.engine()
    with unit_of_work(clinic_node) as db:
        for earlier in db.exec(select(MdtCase)).all():
            earlier.status = CaseStatus.CLOSED
            db.add(earlier)
    clinic_node.dispose()


def test_the_coordinator_asks_an_agency_elsewhere_to_confirm_from_the_case_page(world):
    from portal.services import cases

    engine = world.a.engine()
    with unit_of_work(engine) as db:
        cac = fw.agency_named(db, fw.CAC)
        clinic = fw.agency_named(db, fw.CLINIC)
        case = cases.open_case(
            db,
            cac,
            intake_date=fw.now().date(),
            referral_source="hotline",
            actor=None,
            at=fw.now(),
            today=fw.now().date(),
            agencies=[clinic],
        )
        case_id, reference = case.public_id, case.reference
    engine.dispose()
    _earlier_cases_closed(world)
    with _node_a(world) as client:
        fw.login(client, "coordinator")
        page = client.get(f"/cases/{case_id}").text
        assert "is on another node: their client reference" in page
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        path = f"/cases/{case_id}/remote-link"
        form = {"csrf_token": token, "agency": world.ids[fw.CLINIC]}
        missing = client.post(path, data={**form, "client_reference": ""})
        assert missing.status_code == 400
        answer = client.post(path, data={**form, "client_reference": world.clients[fw.CLINIC]})
        assert answer.status_code == 303
        page = client.get(f"/cases/{case_id}").text
        assert "confirmed its client for this case" in page
        assert "is on another node: their client reference" not in page
    assert fw.case_on(world.b, reference) is not None


def _shelter_summary(world) -> str:
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "shelter.cm")
        page = client.get(f"/cases/{world.case_id}/summary")
        case_page = client.get(f"/cases/{world.case_id}")
    assert page.status_code == 200 and case_page.status_code == 200
    return page.text + case_page.text


def test_a_community_agency_elsewhere_is_named_only_when_its_node_says_so(world):
    """Issue 14 over the wire: that the clinic on node B serves a survivor on this case is
    the clinic's to disclose. Its node's point is asked (its log says so), and until the
    clinic's survivor names the shelter for taking part, the shelter on node A is told only
    that one more agency takes part."""

    text = _shelter_summary(world)
    assert fw.CLINIC not in text and fw.SECRET + " clinic" not in text
    assert "1 more agency takes part" in text
    assert fw.WELFARE in text  # a system-based agency's taking part is not protected
    asked = fw.entries(world.b, section_key="participation", tag="disclosure:section:withheld")
    # The shelter's asking, and before it the coordinator's question: whether child
    # welfare's node may be told that the clinic takes part (a disclosure to child welfare
    # that no release of the clinic's survivor allows).
    by_shelter = [e for e in asked if "told_to_node_of" not in (e.detail or "")]
    assert by_shelter and all(e.actor_agency_ref == world.ids[fw.SHELTER] for e in by_shelter)
    assert all(e.actor_agency_ref == world.ids[fw.WELFARE] for e in asked if e not in by_shelter)

    engine = world.b.engine()
    with unit_of_work(engine) as db:
        author = fw.staff_named(db, "clinic.cm")
        client = db.exec(select(Client).where(Client.public_id == world.clients[fw.CLINIC])).one()
        # Signed a minute ago: in effect from the next request.
        at = fw.now() - timedelta(minutes=1)
        fw.sign_release(db, world.b, client, author, [world.ids[fw.SHELTER]], ["participation"], at)
    engine.dispose()
    text = _shelter_summary(world)
    assert fw.CLINIC in text and "more agency takes part" not in text
    released = fw.entries(world.b, section_key="participation", tag="disclosure:section:released")
    assert released and released[0].actor_agency_ref == world.ids[fw.SHELTER]
    received = fw.entries(world.a, tag="disclosure:section:received", section_key="participation")
    assert any(json.loads(e.detail)["owner"] == world.ids[fw.CLINIC] for e in received)


class _HeldTransport(httpx2.AsyncBaseTransport):
    """A partner node that answers only when the test lets it (or, failing that, after
    `most_seconds`, which it then says)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, most_seconds: float) -> None:
        self.inner, self.most_seconds = inner, most_seconds
        self.asked, self.let, self.gave_up = threading.Event(), threading.Event(), False

    async def handle_async_request(self, request):
        self.asked.set()
        deadline = time.monotonic() + self.most_seconds
        while not self.let.is_set():
            if time.monotonic() > deadline:
                self.gave_up = True
                break
            await asyncio.sleep(0.01)
        return await self.inner.handle_async_request(request)


def test_a_request_waiting_for_a_slow_node_lets_the_next_one_run(world):
    """Requests take turns (portal/turns.py): the summary waiting for node B's answer
    holds nothing of the database, so node A serves another request meanwhile.

    Node B answers only once the dashboard is served: a dashboard that waited for the
    summary's turn would come only after B gave up waiting (a timed bound failed on a
    loaded machine, the dashboard's own time counted against it)."""
    held = dict(world.apps["a"].state.federation._mounts)
    held[URLS[1]] = node_b = _HeldTransport(held[URLS[1]], most_seconds=20)
    world.apps["a"].state.federation.close()
    world.apps["a"].state.federation = Federation(
        timeout_seconds=30, window_seconds=30, mounts=held
    )
    summary_pages: list[tuple[int, str]] = []
    with serve(world.apps["a"]) as port:
        summary, dashboard = Browser(port), Browser(port)
        summary.sign_in("casemanager", fw.PASSWORD)
        dashboard.sign_in("casemanager", fw.PASSWORD)
        waiting = threading.Thread(
            target=lambda: summary_pages.append(summary.get(f"/cases/{world.case_id}/summary"))
        )
        waiting.start()
        try:
            assert node_b.asked.wait(timeout=20)  # the summary is waiting for node B
            assert dashboard.get("/")[0] == 200
            served_while_waiting = not node_b.gave_up
        finally:
            node_b.let.set()
            waiting.join(timeout=30)
            summary.close()
            dashboard.close()
    assert served_while_waiting
    ((status, page),) = summary_pages
    assert status == 200 and fw.SECRET + " clinic" in page  # B's answer came


def test_a_replay_with_an_unsigned_label_put_first_is_still_refused(world):
    """The nonce remembered is the one the accepted signature covers: a captured request
    sent again with another Signature-Input member (naming a fresh nonce, signing nothing)
    put before the signature's own is the same request, and is refused as replayed."""
    path = "/federation/v1/disclosures"
    body, headers = _signed_call(world, path, _payload(world))
    with TestClient(world.apps["b"], base_url=URLS[1]) as node_b:
        assert node_b.post(path, content=body, headers=headers).status_code == 200
        replay = dict(headers)
        replay["Signature-Input"] = 'a0=();nonce="fresh-0001", ' + headers["Signature-Input"]
        again = node_b.post(path, content=body, headers=replay)
        assert (again.status_code, again.json().get("error")) == (401, "replayed")


def _ask(world, node, path, payload, *, key_node, agency):
    body, headers = _signed_call(
        world, path, payload, key_node=key_node, agency=agency, url=URLS["abc".index(node)]
    )
    base_url = URLS["abc".index(node)]
    with TestClient(world.apps[node], base_url=base_url, raise_server_exceptions=False) as client:
        return client.post(path, content=body, headers=headers)


def _requester_of(world, node, agency):
    return {
        "node": URLS["abc".index(node)],
        "agency": world.ids[agency],
        "agency_kind": "community",
        "user": None,
        "roles": ["case_manager"],
        "purpose": "mdt_case_review",
    }


def test_only_the_mdts_coordinator_says_who_takes_part_in_a_case_elsewhere(world):
    """The shelter is not the MDT's coordinating agency (the roster's is the CAC), only
    named in a child-welfare minor's release for MDT case review. It may open a case with
    that minor (the survivor named it), but its word on who else takes part is not taken:
    the clinic, which nobody confirmed and whom no release names, does not become a part
    of the case at child welfare's node, so the placement child welfare shares under its
    legal basis "within the MDT's cases" is not told to it."""
    from datetime import date

    import consent
    from portal.services import clients, legal_bases, sections

    at = fw.now() - timedelta(minutes=1)
    engine = world.c.engine()
    with unit_of_work(engine) as db:
        welfare = fw.agency_named(db, fw.WELFARE)
        author = fw.staff_named(db, "cw.cm")
        minor = clients.register_client(
            db,
            welfare,
            clients.Identity("Sam", "Example", date(2014, 3, 9)),
            reference="R-CW-MINOR",
            actor=None,
            keys=world.c.keys,
            at=at,
        )
        placement = {"placement_type": "kinship", "stability": fw.SECRET + " minor placement"}
        sections.save_section(
            db, minor, "placement_housing", placement, actor=author, keys=world.c.keys, at=at
        )
        parent = consent.Signer("Pat Example", consent.Capacity.PARENT)
        fw.sign_release(
            db,
            world.c,
            minor,
            author,
            [world.ids[fw.SHELTER]],
            ["education"],
            at,
            second_signer=parent,
        )
        legal_bases.record_basis(
            db,
            welfare,
            citation="Synthetic Stat. 39.202 (MDT sharing)",
            sections=["placement_housing"],
            purpose="mdt_case_review",
            minors_only=True,
            actor=None,
            keys=world.c.keys,
            at=at,
        )
        minor_id = minor.public_id
    engine.dispose()

    reference = "MDT-2026-SHELT2"
    linked = _ask(
        world,
        "c",
        "/federation/v1/case-links",
        {
            "requester": _requester_of(world, "a", fw.SHELTER),
            "owner": world.ids[fw.WELFARE],
            "client": minor_id,
            "case": {"reference": reference, "intake_date": fw.now().date().isoformat()},
            "participants": [world.ids[fw.SHELTER], world.ids[fw.CLINIC]],
        },
        key_node="a",
        agency=fw.SHELTER,
    )
    assert linked.status_code == 200 and linked.json()["confirmed"] is True
    told = _ask(
        world,
        "c",
        "/federation/v1/case-participants",
        {
            "requester": _requester_of(world, "a", fw.SHELTER),
            "owner": world.ids[fw.WELFARE],
            "case": reference,
            "participants": [world.ids[fw.SHELTER], world.ids[fw.CLINIC]],
        },
        key_node="a",
        agency=fw.SHELTER,
    )
    assert told.status_code == 200
    asked = _ask(
        world,
        "c",
        "/federation/v1/disclosures",
        {
            "requester": _requester_of(world, "b", fw.CLINIC),
            "case": reference,
            "owners": [world.ids[fw.WELFARE]],
            "sections": ["placement_housing"],
        },
        key_node="b",
        agency=fw.CLINIC,
    )
    assert asked.status_code == 200
    (decision,) = asked.json()["answers"][0]["decisions"]
    assert fw.SECRET + " minor placement" not in asked.text
    assert (decision["decision"], decision["gate"]) == ("withheld", "not_linked")


def test_the_mdts_decisions_wait_for_the_survivors_held_elsewhere(world):
    """An MDT decision is about every survivor on the case (issue 14): a partner reads it
    only under each survivor's release naming it. The clinic's and child welfare's survivors
    joined the case from their own nodes, where their releases are kept: the coordinator's
    node asks those nodes (`elsewhere_consent`), no release there names the shelter, so it
    does not release the decision to the shelter (locally the same case withholds it:
    test_one_door_pages; released under their releases: test_federation_mdt_records_elsewhere)."""
    from zoneinfo import ZoneInfo

    from portal.services import meetings

    note = "SYNTHETIC-FEDERATED-DECISION"
    at = fw.now() - timedelta(minutes=1)
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        cac = fw.agency_named(db, fw.CAC)
        coordinator = fw.staff_named(db, "coordinator")
        meeting = meetings.schedule_meeting(
            db,
            cac,
            day=at.date().isoformat(),
            clock="00:00",
            place="Room 1",
            case_ids=[world.case_id],
            actor=coordinator,
            at=at - timedelta(days=1),
            tz=ZoneInfo("UTC"),
        )
        meetings.hold_meeting(db, meeting, actor=coordinator, at=at, today=at.date())
        item = meetings.agenda(db, meeting, cac)[0].item
        label = meetings.recommendation_types(db, cac)[0].label
        meetings.record_decision(
            db, meeting, item, recommendation=label, text=note, actor=coordinator, at=at
        )
    engine.dispose()
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "shelter.cm")
        case_page = client.get(f"/cases/{world.case_id}")
    assert case_page.status_code == 200
    assert note not in case_page.text
    refused = fw.entries(world.a, tag="disclosure:section:withheld", section_key="mdt_decisions")
    assert refused and all(e.actor_agency_ref == world.ids[fw.SHELTER] for e in refused)
    assert not fw.entries(world.a, decision="released", section_key="mdt_decisions")


def test_a_partners_badly_shaped_case_is_answered_never_a_500(world):
    """A referral source that is not text counts as "other", as an unknown one does; a case
    reference that is not text is the partner's bad request (400, said in JSON)."""
    _earlier_cases_closed(world)
    cac = _requester_of(world, "a", fw.CAC)
    details = {"reference": "MDT-2026-BADIN1", "intake_date": fw.now().date().isoformat()}
    linked = _ask(
        world,
        "b",
        "/federation/v1/case-links",
        {
            "requester": cac,
            "owner": world.ids[fw.CLINIC],
            "client": world.clients[fw.CLINIC],
            "case": {**details, "referral_source": []},
            "participants": [],
        },
        key_node="a",
        agency=fw.CAC,
    )
    assert linked.status_code == 200, linked.text
    assert fw.case_on(world.b, "MDT-2026-BADIN1").referral_source == "other"
    for case in ([world.case_ref], {"reference": world.case_ref}, 7):
        told = _ask(
            world,
            "b",
            "/federation/v1/case-participants",
            {"requester": cac, "owner": world.ids[fw.CLINIC], "case": case, "participants": []},
            key_node="a",
            agency=fw.CAC,
        )
        assert (told.status_code, told.json().get("error")) == (400, "bad_request"), told.text


def test_a_badly_shaped_case_link_says_nothing_of_the_client(world):
    """A link asked with a case or participants that do not read is refused the same way
    whether or not the owner serves the client under a release naming the caller: a
    partner cannot learn that, unaudited, from which answer comes back."""
    cac = _requester_of(world, "a", fw.CAC)
    good = {"reference": "MDT-2026-PROBE1", "intake_date": fw.now().date().isoformat()}
    for case, participants in (({**good, "intake_date": "soon"}, []), (good, "everyone")):
        answers = []
        for client in (world.clients[fw.CLINIC], "no-such-client"):
            answer = _ask(
                world,
                "b",
                "/federation/v1/case-links",
                {
                    "requester": cac,
                    "owner": world.ids[fw.CLINIC],
                    "client": client,
                    "case": case,
                    "participants": participants,
                },
                key_node="a",
                agency=fw.CAC,
            )
            answers.append((answer.status_code, answer.json()))
        assert answers[0] == answers[1]
        assert answers[0][0] == 400
    assert fw.case_on(world.b, "MDT-2026-PROBE1") is None


def test_a_role_taken_while_the_owners_nodes_answer_is_seen_before_their_answers_show(
    world, monkeypatch
):
    """Node A's page decides its own owners, commits, and waits for the owners' nodes
    elsewhere. The case manager's lead takes the role meanwhile: what the nodes released to
    a case manager is not shown or received; the page is made again for the role held now
    (before: the answers shown, and received as a case manager's after the change)."""
    from portal.models import Role
    from portal.services import mentor_program, staff

    federation = world.apps["a"].state.federation
    submit = federation.submit
    taken = []

    def take_the_role() -> None:
        with unit_of_work(world.a.engine()) as db:
            lead = fw.staff_named(db, "cac.lead")
            agency = db.get(Agency, lead.agency_id)
            as_lead = mentor_program.Assigner(lead, agency, frozenset({Role.AGENCY_LEAD.value}))
            looking = fw.staff_named(db, "casemanager")
            staff.set_roles(db, looking, [Role.ADVOCATE.value], viewer=as_lead, at=fw.now())
            taken.append(looking.public_id)

    def lead_takes_the_role_meanwhile(calls):
        pending = submit(calls)

        class Answered:
            @staticmethod
            def results():
                answers = pending.results()
                if not taken:
                    take_the_role()  # the page's own owners decided and logged by now
                return answers

        return Answered()

    monkeypatch.setattr(federation, "submit", lead_takes_the_role_meanwhile)
    with _node_a(world) as client:
        fw.login(client, "casemanager")
        page = client.get(f"/cases/{world.case_id}/summary")
    assert taken, "the owners' nodes were not asked"
    assert page.status_code == 200
    received = fw.entries(world.a, tag="disclosure:section:received", case_ref=world.case_ref)
    assert received and {e.actor_role for e in received} == {Role.ADVOCATE.value}, [
        (e.section_key, e.actor_role) for e in received
    ]
