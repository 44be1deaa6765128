"""A case closed or reopened by its coordinator closes or reopens on the owners' nodes too:
their staff see it as it is, and a later link of their client is not declined as being
"in another open case"."""

from __future__ import annotations

import httpx2
import test_federation_in_process as in_process
from starlette.testclient import TestClient

from portal.federation.transport import Federation

import federation_world as fw

URLS = in_process.URLS
world = in_process.world  # three nodes in this process, the case linked across them


def _as_coordinator(world, action: str, reason: str) -> str:
    """Close or reopen the world's case from its coordinator's case page; the flash."""
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "coordinator")
        page = client.get(f"/cases/{world.case_id}").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            f"/cases/{world.case_id}/{action}", data={"csrf_token": token, "reason": reason}
        )
        assert answer.status_code == 303, answer.text
        return client.get(answer.headers["location"]).text


def test_closing_and_reopening_reaches_the_owners_copy_of_the_case(world):
    assert fw.case_on(world.b, world.case_ref).status == "open"
    _as_coordinator(world, "close", "Synthetic: goals met")
    assert fw.case_on(world.b, world.case_ref).status == "closed"
    # The owner's log says who closed it; the coordinator's reason stays with the coordinator.
    closed = fw.entries(world.b, tag="mdt:case:closed", subject=world.case_ref)
    assert len(closed) == 1 and closed[0].actor_agency_ref == world.ids[fw.CAC]
    assert "goals met" not in (closed[0].detail or "")

    _as_coordinator(world, "reopen", "Synthetic: new disclosure")
    assert fw.case_on(world.b, world.case_ref).status == "open"
    assert len(fw.entries(world.b, tag="mdt:case:reopened", subject=world.case_ref)) == 1


def test_an_owner_node_down_is_named_when_the_case_closes(world):
    world.apps["a"].state.federation.close()
    world.apps["a"].state.federation = Federation(
        timeout_seconds=1,
        window_seconds=30,
        mounts={URLS[2]: httpx2.ASGITransport(app=world.apps["c"])},  # B unreachable
    )
    page = _as_coordinator(world, "close", "Synthetic: goals met")
    assert "The case is closed." in page
    assert f"{fw.CLINIC} did not answer" in page
    assert fw.case_on(world.b, world.case_ref).status == "open"


def test_tell_owed_from_the_command_line_says_what_it_told(world, monkeypatch, capsys):
    from portal.cli import main as cli

    for name, value in world.a.environment().items():
        monkeypatch.setenv(name, value)
    assert cli.main(["roster", "tell-owed"]) == 0
    assert capsys.readouterr().out.strip() == "told 0 owner(s)"
