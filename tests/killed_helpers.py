"""A `portal` command run in a process of its own and killed with SIGKILL part-way: the
key commands' batches (re-seal, re-wrap) are checked to lose nothing when so stopped, and
to be finished by a second run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import portal

# How long the command may take to get part-way before the test gives up on it.
DEADLINE_SECONDS = 60
# What the command is given of the test's environment (the rest is left out).
PASSED_ON = ("DATABASE_URL", "PORTAL_SECRETS_FILE", "PORTAL_AUDIT_JOURNAL")


def kill_part_way(folder: Path, command: list[str], progressed: Callable[[], bool]) -> None:
    """Run `portal <command>` in `folder`, and kill it with SIGKILL once `progressed()`:
    fails if it ends first, or gets nowhere in DEADLINE_SECONDS."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # this checkout's portal, whatever the environment's `portal` script would import
        "PYTHONPATH": str(Path(portal.__file__).resolve().parents[1]),
        **{name: os.environ[name] for name in PASSED_ON},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli.main", *command],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not progressed():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, f"`portal {' '.join(command)}` made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
