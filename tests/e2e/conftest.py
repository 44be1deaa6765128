"""A real portal (uvicorn, seeded SQLite) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bounded_close import chromium_processes, killed_if_stuck

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser_type_launch_args():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


# How long Chromium gets to close at the end of a worker's run before it is killed.
CLOSE_SECONDS = 30


@pytest.fixture(scope="session")
def browser(launch_browser):
    """pytest-playwright's browser, closed within `CLOSE_SECONDS`. A Chromium that stops
    answering holds `close()` for ever (test_bounded_close); a CI run once waited out its
    90 minutes after every test had reported, a worker's session never ending."""
    browser = launch_browser()
    yield browser
    with killed_if_stuck(CLOSE_SECONDS, chromium_processes):
        browser.close()


@pytest.fixture(scope="session")
def demo_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="session")
def demo_database(portal_url, demo_workdir):
    """The demo server's SQLite file, for a test that must pick data the seed made."""
    return demo_workdir / "portal-demo.db"


@pytest.fixture(scope="session")
def portal_url(demo_workdir):
    """`portal demo` in an empty folder, exactly as the README starts it."""
    workdir = demo_workdir
    port = _free_port()
    portal = shutil.which("portal", path=str(Path(sys.executable).parent)) or "portal"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen(
        [portal, "demo", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
        if server.poll() is not None:
            break
    else:
        server.kill()
        pytest.fail("the demo server did not start: " + (workdir / "server.log").read_text())
    if server.poll() is not None:
        pytest.fail("the demo server exited: " + (workdir / "server.log").read_text())
    yield url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()
