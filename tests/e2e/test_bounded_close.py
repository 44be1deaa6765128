"""The browser's close at the end of a worker's run cannot hold the run up for ever."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
from bounded_close import chromium_processes, killed_if_stuck


def test_a_wait_that_would_never_end_ends_when_what_it_waits_for_is_killed():
    stuck = subprocess.Popen(["sleep", "600"])
    started = time.monotonic()
    try:
        with killed_if_stuck(0.3, lambda: [stuck.pid]):
            stuck.wait(timeout=30)
    finally:
        stuck.kill()
    assert stuck.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_a_wait_that_ends_in_time_kills_nothing():
    quick = subprocess.Popen(["sleep", "0.1"])
    with killed_if_stuck(5, lambda: [quick.pid]):
        quick.wait(timeout=30)
    assert quick.returncode == 0


@pytest.mark.e2e
def test_the_browsers_processes_are_the_ones_found(browser):
    context = browser.new_context()
    try:
        context.new_page().set_content("<p>synthetic</p>")
        found = chromium_processes()
    finally:
        context.close()
    assert found, "no Chromium process found below this one"


@pytest.mark.e2e
def test_a_browser_that_stopped_answering_is_closed_by_killing_it(
    browser_type, browser_type_launch_args
):
    before = set(chromium_processes())
    frozen = browser_type.launch(**browser_type_launch_args)
    its_own = [pid for pid in chromium_processes() if pid not in before]
    assert its_own
    for pid in its_own:
        os.kill(pid, signal.SIGSTOP)  # as a Chromium that hangs: it answers nothing
    started = time.monotonic()
    try:
        with killed_if_stuck(2, lambda: its_own):
            frozen.close()
    finally:
        for pid in its_own:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert time.monotonic() - started < 20
