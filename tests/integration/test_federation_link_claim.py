"""A coordinator asking an owner elsewhere to confirm its client holds nothing while that
owner's node answers (issue 15: writers queue, readers do not wait). The asking held the
coordinator's log (and on SQLite the node's writers' lock) from before the check until the
owner's node answered, up to the federation's timeout, so that two asking at once made one
confirmation: one slow owner node held up every write on the coordinator's node. The link
is now claimed (`CaseLink.asking_since`) and the claim committed before the node is asked;
a second asker meanwhile is told the owner is being asked; the answer is recorded, and the
claim cleared, in a last short transaction. A claim left by a request that never ended goes
stale and is taken over; an owner whose node is down leaves no claim behind.

Node A (the coordinator) answers in this process; the owners' nodes B and C serve on
127.0.0.1, B through a gate that holds an answer until the test lets it go (the fixture of
test_federation_no_lock_across_calls.py). On SQLite and on PostgreSQL. Synthetic data only."""

from __future__ import annotations

import json
from datetime import timedelta

import test_federation_no_lock_across_calls as no_lock
from sqlmodel import select

from portal.audit import AuditTag
from portal.db import unit_of_work
from portal.federation import links
from portal.models import CaseLink, MdtCase
from portal.requester import Requester

import federation_world as fw

world = no_lock.world  # the fixture: nodes A, B (behind a gate) and C, the case linked
WAIT = no_lock.WAIT

BEING_ASKED = f"{fw.CLINIC} is being asked to confirm its client for this case just now"
CONFIRMED = f"{fw.CLINIC} confirmed its client for this case."


def _clinic_link(world, **change) -> CaseLink:
    """The clinic's link on node A, as it is now, after `change` (unconfirmed: the
    clinic's part withdrawn, say; asking_since: a claim)."""
    return no_lock.link_on_a(world, fw.CLINIC, **change)


def _ask_clinic(world) -> tuple[int, str]:
    """The coordinator asks the clinic (node B) from the case's page: the status of the
    answer, and the page shown (the case's page it redirects to, on a 303). The client is
    not entered (no lifespan): its end would close the app's federation client, under an
    asking of another thread."""
    client = no_lock._browser(world)
    answer = fw.ask_remote_link(client, world, fw.CLINIC)
    if answer.status_code == 303:
        return 303, client.get(answer.headers["location"]).text
    return answer.status_code, answer.text


def _confirmations(world) -> tuple[int, int]:
    """The clinic's part of the case confirmed: how often in the coordinator's log (node
    A), and in the clinic's (node B)."""
    tag = AuditTag.CASE_LINK_CONFIRMED.value
    on_a = [
        entry
        for entry in fw.entries(world.a, tag=tag, subject=world.case_ref)
        if json.loads(entry.detail).get("agency") == world.ids[fw.CLINIC]
    ]
    return len(on_a), len(fw.entries(world.b, tag=tag, subject=world.case_ref))


def test_an_owner_node_answering_a_link_request_holds_up_no_other_write(world):
    _clinic_link(world, unconfirmed=True)
    world.gate.path = links.CASE_LINKS
    asking, asked = no_lock._in_thread(lambda: _ask_clinic(world))
    assert world.gate.arrived.wait(WAIT), "the clinic's node was not asked"
    meanwhile = no_lock._appended_meanwhile(world, fw.CAC)
    asking.join(timeout=60)
    assert meanwhile["before_release"] and "error" not in meanwhile, (
        "a write to the coordinator's log waited for the clinic's node to answer a link "
        f"request (or failed: {meanwhile.get('error')!r})"
    )
    assert "error" not in asked, asked.get("error")
    assert asked["value"][0] == 303
    assert CONFIRMED in asked["value"][1]
    link = _clinic_link(world)
    assert link.confirmed_at is not None
    assert link.asking_since is None


def test_two_asking_at_once_one_asks_and_the_other_is_told_it_is_being_asked(world):
    _clinic_link(world, unconfirmed=True)
    before = _confirmations(world)
    world.gate.path = links.CASE_LINKS
    first, first_asked = no_lock._in_thread(lambda: _ask_clinic(world))
    assert world.gate.arrived.wait(WAIT), "the clinic's node was not asked"
    # A second coordinator (or a double click) while the clinic's node is answering: told
    # at once, without waiting for that answer.
    second, second_asked = no_lock._in_thread(lambda: _ask_clinic(world))
    second.join(timeout=WAIT)
    told_before_release = not second.is_alive()
    world.gate.release.set()
    second.join(timeout=60)
    first.join(timeout=60)
    assert told_before_release, "the second asking waited for the clinic's node to answer"
    assert "error" not in second_asked, second_asked.get("error")
    status, page = second_asked["value"]
    assert status == 409
    assert BEING_ASKED in page and "try again shortly" in page
    assert "error" not in first_asked, first_asked.get("error")
    assert first_asked["value"][0] == 303
    assert CONFIRMED in first_asked["value"][1]
    # Asked once, confirmed once: in the coordinator's log and in the clinic's.
    assert _confirmations(world) == (before[0] + 1, before[1] + 1)
    link = _clinic_link(world)
    assert link.confirmed_at is not None and link.asking_since is None


def test_a_claim_left_by_an_asking_that_never_ended_goes_stale_and_is_taken_over(world):
    # A fresh claim (another request asking now) is respected, and nothing is written.
    fresh = fw.now() - timedelta(seconds=1)
    _clinic_link(world, unconfirmed=True, asking_since=fresh)
    before = _confirmations(world)
    status, page = _ask_clinic(world)
    assert status == 409 and BEING_ASKED in page
    assert _clinic_link(world).asking_since == fresh
    # Older than the federation's timeout and the margin: its request ended mid-ask.
    stale = fw.now() - timedelta(seconds=30) - links.ASKING_MARGIN - timedelta(minutes=1)
    _clinic_link(world, asking_since=stale)
    status, page = _ask_clinic(world)
    assert status == 303 and CONFIRMED in page
    link = _clinic_link(world)
    assert link.confirmed_at is not None and link.asking_since is None
    assert _confirmations(world) == (before[0] + 1, before[1] + 1)


def test_an_owner_node_down_leaves_no_claim_and_is_asked_again_once_back(world):
    _clinic_link(world, unconfirmed=True)
    before = _confirmations(world)
    fw.stop_serving(world.b_server, world.b.url)
    status, page = _ask_clinic(world)
    assert status == 409 and "did not answer" in page
    link = _clinic_link(world)
    assert link.confirmed_at is None and link.asking_since is None
    assert _confirmations(world) == before
    # The clinic's node is back: asked again at once, it confirms.
    world.gate.path = None
    with fw.serving(world.gate, world.ports[1]):
        status, page = _ask_clinic(world)
    assert status == 303 and CONFIRMED in page
    link = _clinic_link(world)
    assert link.confirmed_at is not None and link.asking_since is None
    assert _confirmations(world) == (before[0] + 1, before[1] + 1)


def test_a_sending_that_fails_lets_the_claim_go_at_once(world, monkeypatch):
    """Whatever the sending raises (a fault of ours, not an owner down: that is an answer)
    lets the claim go then, not a minute and the federation's timeout later."""
    _clinic_link(world, unconfirmed=True)

    def fails(calls):
        raise RuntimeError("synthetic: the sending failed")

    monkeypatch.setattr(world.app.state.federation, "send", fails)
    status, _page = _ask_clinic(world)
    assert status == 500
    link = _clinic_link(world)
    assert link.confirmed_at is None and link.asking_since is None


def test_a_withdrawal_that_comes_before_the_answer_is_recorded_stands(world, monkeypatch):
    """The owner confirmed, and its staff took its client off the case at once: its
    notice reached the coordinator's node before the answer was recorded there (asked with
    nothing held, the two can cross). The confirmation recorded after it made the link
    count here while the clinic's node holds it withdrawn."""
    _clinic_link(world, unconfirmed=True)
    before = _confirmations(world)
    federation = world.app.state.federation
    send = federation.send

    def answered_then_withdrawn(calls):
        answers = send(calls)  # node B confirms
        with unit_of_work(world.engine) as db:  # its withdrawal's notice, handled on A
            case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
            clinic = fw.agency_named(db, fw.CLINIC)
            clinic_side = Requester(
                node=world.b.url,
                agency=clinic.public_id,
                agency_kind=clinic.kind,
                user=None,
                roles=frozenset(),
            )
            links.withdrawn_elsewhere(
                db, case, clinic, requester=clinic_side, node=world.b.url, at=fw.now()
            )
        return answers

    monkeypatch.setattr(federation, "send", answered_then_withdrawn)
    status, page = _ask_clinic(world)
    assert status == 409 and "took it off this case before the answer was recorded" in page
    link = _clinic_link(world)
    assert link.confirmed_at is None and link.asking_since is None
    assert _confirmations(world)[0] == before[0]
