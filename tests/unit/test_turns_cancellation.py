"""A request cancelled (an anyio cancel scope: a timeout, a task group cancelled) while its
thread runs still takes its turn back when its wait for another node ends, and the worker
goes on serving: the request's thread ends, and the next request runs.

Before: the thread's `anyio.from_thread.run(semaphore.acquire)` ran in the request's
cancelled scope, whose cancellation was no longer being delivered (its task waited in a
shielded scope for the thread); the semaphore's fast path then spun on `sleep(0)` forever
when the turn was free: the thread never ended, so neither did the request (its admission
slot and thread held for good), and the event loop ran at full CPU."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio

from portal.serving import RequestThreads
from portal.turns import handed_over


def _waits_for_a_node(seconds: float) -> str:
    with handed_over():
        time.sleep(seconds)  # a partner node's answer on its way
    return "answered"


def test_a_request_cancelled_while_it_waits_for_a_node_ends_and_the_next_one_runs():
    threads = RequestThreads(4)
    outcome: dict = {}
    loop_of: list = []

    async def requests():
        loop_of.append(asyncio.get_running_loop())
        with anyio.move_on_after(0.1) as timed_out:  # cancelled while the thread waits
            await threads.run(_waits_for_a_node, 0.3)
        outcome["timed out"] = timed_out.cancel_called  # while the thread waited
        outcome["next"] = await threads.run(lambda: "next")
        worker = threads._workers[asyncio.get_running_loop()]
        outcome["turn"] = worker.turns._semaphore.value
        outcome["admitted"] = worker.admitted.value

    runner = threading.Thread(target=lambda: asyncio.run(requests()), daemon=True)
    runner.start()
    # Bounds only the hang (before the fix the thread spun for good), so well past the
    # requests' 0.3 s: a slow thread start or hand-over on a loaded machine is no hang.
    runner.join(timeout=10)
    stuck = runner.is_alive()
    if stuck:  # unblock the spinning task so the test run goes on
        loop = loop_of[0]
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        runner.join(timeout=3)
    assert not stuck, "the cancelled request's thread never took its turn back"
    assert outcome == {"timed out": True, "next": "next", "turn": 1, "admitted": 4}
