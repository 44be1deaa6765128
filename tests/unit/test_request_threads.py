"""A worker works on at most `request_threads` requests at once; the rest wait their turn,
in the order they came."""

from __future__ import annotations

import asyncio
import threading
import time

from portal.serving import RequestThreads

_guard = threading.Lock()


def _handler(log: list, busy: list, name: str) -> str:
    with _guard:
        busy.append(name)
        log.append(("start", name, len(busy)))
    time.sleep(0.02)  # a request's work, in its own thread
    with _guard:
        busy.remove(name)
        log.append(("end", name))
    return name


def _run_at_once(size: int, count: int) -> tuple[list, list]:
    threads = RequestThreads(size)
    log, busy = [], []

    async def requests():
        tasks = []
        for number in range(count):
            tasks.append(asyncio.ensure_future(threads.run(_handler, log, busy, f"r{number}")))
            await asyncio.sleep(0)  # each arrives after the one before it
        return await asyncio.gather(*tasks)

    # In a thread of its own: under the whole suite the browser tests' event loop already
    # runs in this one, and asyncio.run refuses to start another there.
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(requests())))
    runner.start()
    runner.join()
    return outcome[0], log


def test_no_more_than_the_setting_run_at_once():
    answered, log = _run_at_once(2, 6)
    assert answered == [f"r{n}" for n in range(6)]
    starts = [entry for entry in log if entry[0] == "start"]
    assert len(starts) == 6 and max(at_once for _start, _name, at_once in starts) == 2


def test_one_at_a_time_never_overlaps_and_each_waits_its_turn_in_arrival_order():
    _answered, log = _run_at_once(1, 5)
    assert [entry[:2] for entry in log] == [
        step for n in range(5) for step in (("start", f"r{n}"), ("end", f"r{n}"))
    ]
