"""Writers in several processes at once (`portal bench audit`): as a node served by several
workers writes, each process appending a page's audit batch per transaction as fast as it
can. Prints how many transactions each got and the longest any of them waited: whether
the processes took turns (portal/process_queue.py on SQLite, the row locks' queue on
PostgreSQL) or one kept the lock while another waited."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

# Run by each process: `python -c CHILD url kek-hex seconds agency-ids...`; prints its
# transactions' times as JSON.
CHILD = """
import json, sys, time
from portal.bench.audit import _append_page
from portal.crypto import KeyWrapper
from portal.db import make_engine
url, kek, seconds, logs = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
engine = make_engine(url, lock_wait_ms=30_000)
keys, logs, took = KeyWrapper(bytes.fromhex(kek)), [int(a) for a in logs], []
number = 0
stop = time.perf_counter() + seconds
while time.perf_counter() < stop:
    started = time.perf_counter()
    _append_page(engine, logs, number, keys)
    took.append(time.perf_counter() - started)
    number += 1
engine.dispose()
print(json.dumps(took))
"""


@dataclass(frozen=True)
class ProcessFigures:
    transactions: int
    longest_ms: float  # the longest transaction, its wait for the lock included


def run(url: str, kek: bytes, logs: list[int], *, processes: int, seconds: float):
    started = [
        subprocess.Popen(  # noqa: S603 (this Python, the code above, figures of ours)
            [sys.executable, "-c", CHILD, url, kek.hex(), str(seconds), *map(str, logs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    figures = []
    try:
        for process in started:
            out, err = process.communicate(timeout=seconds + 120)
            if process.returncode != 0:
                raise RuntimeError(f"a writing process failed: {err.strip().splitlines()[-1:]}")
            took = json.loads(out)
            figures.append(ProcessFigures(len(took), max(took, default=0.0) * 1000))
    finally:  # none left writing, whatever went wrong
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    return figures
