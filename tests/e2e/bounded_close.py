"""A browser's close bounded in time: what it waits for is killed when the time is up."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _descendants(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    found, pending = [], [root]
    while pending:
        parent = pending.pop()
        children = [pid for pid, of in parents.items() if of == parent]
        found += children
        pending += children
    return found


def chromium_processes() -> list[int]:
    """This process's descendants that run Chromium (the Playwright driver's children)."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            if "chromium" in os.readlink(f"/proc/{pid}/exe"):
                found.append(pid)
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


@contextmanager
def killed_if_stuck(seconds: float, processes: Callable[[], list[int]]) -> Iterator[None]:
    """Kills `processes()` (read when the time is up) if the block has not ended after
    `seconds`: a call waiting for them then returns, what it waited for gone."""

    def kill() -> None:
        print(f"not closed within {seconds} s: killing what it waits for", file=sys.stderr)
        for pid in processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue

    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
