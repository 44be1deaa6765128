"""Worker processes share the requests (portal/worker_shares.py): each holds a slot of the
shares file for as long as it lives, and hands a connection back when it has more requests
in hand than its even share."""

import multiprocessing
import os

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.worker_shares import SharedRequests, WorkerShares, shared

_FORK = multiprocessing.get_context("fork")


def _hold_a_slot(path: str, claimed, release) -> None:
    shares = WorkerShares(path)
    claimed.send(shares.claim())
    for _ in range(3):
        shares.started()  # requests in hand when it dies
    release.recv()


@pytest.fixture
def two_slots(tmp_path):
    path = WorkerShares.create(2, directory=str(tmp_path))
    yield path
    os.unlink(path)


def test_each_worker_takes_a_slot_of_its_own_and_a_dead_workers_slot_is_taken_again(two_slots):
    claimed, theirs = _FORK.Pipe()
    release, keep = _FORK.Pipe()
    other = _FORK.Process(target=_hold_a_slot, args=(two_slots, theirs, keep))
    other.start()
    assert claimed.recv() == 0
    mine = WorkerShares(two_slots)
    assert mine.claim() == 1
    release.send("go")
    other.join(timeout=10)
    # A worker started in the dead one's place takes its slot, with its count zeroed.
    again = _FORK.Process(target=_hold_a_slot, args=(two_slots, theirs, keep))
    again.start()
    assert claimed.recv() == 0
    release.send("go")
    again.join(timeout=10)
    mine.close()


def test_a_worker_started_beside_every_living_one_still_takes_a_slot(two_slots):
    """uvicorn restarts its workers on SIGHUP (`kill -HUP`, ops/README.md "Upgrades") by
    starting each new one before it stops the old one. Before, that new worker found both
    slots taken and died, and uvicorn aborted the restart, the old code still serving."""
    claimed, theirs = _FORK.Pipe()
    release, keep = _FORK.Pipe()
    holders = [_FORK.Process(target=_hold_a_slot, args=(two_slots, theirs, keep)) for _ in range(2)]
    for holder in holders:
        holder.start()
    assert sorted(claimed.recv() for _ in holders) == [0, 1]
    new = WorkerShares(two_slots)
    assert new.claim() == 2
    assert new.workers == 2  # the even share is still of two workers' requests
    for _holder in holders:
        release.send("go")
    for holder in holders:
        holder.join(timeout=10)
    # The old workers' counts (three requests each, left when they died) go with the next
    # worker that starts; they no longer push the new ones over their share.
    other = WorkerShares(two_slots)
    assert other.claim() == 0
    assert new._counts.unpack_from(new._map) == (0, 0, 0, 0)
    other.close()
    new.close()


def test_every_slot_taken_is_said(two_slots):
    claimed, theirs = _FORK.Pipe()
    release, keep = _FORK.Pipe()
    holders = [_FORK.Process(target=_hold_a_slot, args=(two_slots, theirs, keep)) for _ in range(4)]
    for holder in holders:
        holder.start()
    assert sorted(claimed.recv() for _ in holders) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="every one of the 4 worker slots is taken"):
        WorkerShares(two_slots).claim()
    for _holder in holders:
        release.send("go")
    for holder in holders:
        holder.join(timeout=10)


def _loaded(path: str, slot: int, count: int) -> None:
    """Another worker's count, as it would write it."""
    with open(path, "r+b") as file:
        file.seek(8 * slot)
        file.write(count.to_bytes(8, "little", signed=True))


def test_a_worker_is_over_its_share_only_with_more_than_half_rounded_up(two_slots):
    shares = WorkerShares(two_slots)
    assert shares.claim() == 0
    for mine, theirs, over in [
        (1, 0, False),
        (2, 0, True),
        (3, 1, True),
        (4, 4, False),
        (5, 3, True),
        (2, 1, False),
        (1, 7, False),
    ]:
        _loaded(two_slots, 1, theirs)
        shares.in_hand = mine
        shares._write()
        assert shares.over_share() is over, (mine, theirs)
    _loaded(two_slots, 1, -5)  # read half-written: not counted
    shares.in_hand = 2
    assert shares.over_share() is True
    shares.close()


def test_a_file_that_is_not_a_shares_file_is_refused(tmp_path):
    odd = tmp_path / "odd"
    odd.write_bytes(b"123")
    with pytest.raises(ValueError, match="not a worker shares file"):
        WorkerShares(str(odd))


def _app():
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("synthetic"))])


def test_a_worker_over_its_share_answers_with_connection_close(two_slots):
    app = shared(_app(), two_slots)
    assert isinstance(app, SharedRequests)
    client = TestClient(app)
    assert "connection" not in client.get("/").headers  # alone: within its share
    app.shares.started()  # two more requests in hand meanwhile, the other worker idle
    app.shares.started()
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["connection"] == "close"
    app.shares.finished()
    app.shares.finished()
    assert app.shares.in_hand == 0  # each request counted out, answered or not
    assert "connection" not in client.get("/").headers
    app.shares.close()


def test_one_worker_shares_with_no_one(monkeypatch):
    monkeypatch.delenv("PORTAL_WORKER_SHARES", raising=False)
    app = _app()
    assert shared(app) is app
