"""A worker admits at most `request_threads` requests at once, the rest waiting in the
order they came; of those, one runs at a time (portal/turns.py), and one that waits for
another node without holding the database lets the next one run meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

from portal.serving import RequestThreads
from portal.turns import handed_over

_guard = threading.Lock()


def _handler(log: list, busy: list, name: str, node: threading.Barrier | None) -> str:
    with _guard:
        busy.append(name)
        log.append(("start", name, len(busy)))
    if node is not None:
        with handed_over():
            # A partner node's answer on its way, which comes once as many requests as may
            # run at once wait for theirs: without the turn handed over, the first waits
            # alone until the barrier gives up, and the test fails (not a guess at timing:
            # 50 ms of sleep each let a loaded machine run them one after another).
            node.wait(timeout=10)
    else:
        time.sleep(0.02)  # a request's own work (as if computing)
    with _guard:
        busy.remove(name)
        log.append(("end", name))
    return name


def _run_at_once(size: int, count: int, *, waits_for_a_node: bool = False) -> tuple[list, list]:
    threads = RequestThreads(size)
    log, busy = [], []
    node = threading.Barrier(min(size, count)) if waits_for_a_node else None

    async def requests():
        tasks = []
        for number in range(count):
            tasks.append(
                asyncio.ensure_future(threads.run(_handler, log, busy, f"r{number}", node))
            )
            await asyncio.sleep(0)  # each arrives after the one before it
        return await asyncio.gather(*tasks)

    # In a thread of its own: under the whole suite the browser tests' event loop already
    # runs in this one, and asyncio.run refuses to start another there.
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(requests())))
    runner.start()
    runner.join()
    return outcome[0], log


def _most_at_once(log: list) -> int:
    return max(at_once for step, *rest in log if step == "start" for _name, at_once in [rest])


def test_requests_run_one_at_a_time_each_in_its_turn_in_arrival_order():
    answered, log = _run_at_once(40, 5)
    assert answered == [f"r{n}" for n in range(5)]
    assert [entry[:2] for entry in log] == [
        step for n in range(5) for step in (("start", f"r{n}"), ("end", f"r{n}"))
    ]


def test_a_request_waiting_for_another_node_lets_the_next_ones_run():
    answered, log = _run_at_once(40, 4, waits_for_a_node=True)
    assert answered == [f"r{n}" for n in range(4)]
    assert _most_at_once(log) == 4  # all four waited for their nodes together


def test_no_more_than_the_setting_are_admitted_at_once():
    answered, log = _run_at_once(2, 6, waits_for_a_node=True)
    assert answered == [f"r{n}" for n in range(6)]
    assert len([entry for entry in log if entry[0] == "start"]) == 6
    assert _most_at_once(log) == 2
