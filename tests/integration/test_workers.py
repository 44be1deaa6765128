"""`portal serve --workers 2`: a sign-in limit holds across the worker processes, counted in
the node's database (the default) or in REDIS_URL's Redis, and (the control) does not when
each worker counts in its own memory."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from portal.auth.throttle import ThrottleRules
from portal.cli import main as cli
from portal.redis_store import problem

from databases import IN_CI

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Failed sign-ins of one account from one address that are answered before the next one
# must wait (the pair's free failures, then the one that starts the wait).
LIMIT = ThrottleRules().free_per_pair + 1
# uvicorn's supervisor kills a worker that has not answered its health check within 5 s
# (timeout_worker_healthcheck) and starts another: a paused worker is let go well before.
PAUSE_SECONDS = 2.0
ATTEMPTS = 8
RESUMED_SECONDS = 0.5  # between two pauses: the worker answers what it owes meanwhile


def require_redis() -> None:
    reason = problem(REDIS_URL)
    if reason is None:
        return
    message = f"Redis at {REDIS_URL} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(message + " — under CI=true a missing Redis is a failure")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A migrated SQLite node with an agency, set up as an operator would."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "PORTAL_SECRETS_FILE": str(tmp_path / "secrets.json"),
        "PORTAL_ALLOWED_HOSTS": "127.0.0.1",
        # Each run signs in "from" an address of its own (X-Forwarded-For, believed from
        # loopback here), so counts left in a shared Redis by earlier runs never meet it.
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_INIT_PASSWORD": "a long synthetic passphrase",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    argv = ["init", "--agency", "Alder (synthetic)", "--kind", "community"]
    argv += ["--discipline", "advocacy", "--username", "node.admin", "--name", "Nell (synthetic)"]
    assert cli.main(argv) == 0
    return tmp_path, env


class Server:
    """`portal serve --workers 2` on 127.0.0.1, bounded in time."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        portal = Path(sys.executable).parent / "portal"
        self.log = (directory / f"serve-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [str(portal), "serve", "--workers", "2", "--port", str(self.port)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            cwd=directory,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.workers = self._wait_for_workers()

    def _wait_for_workers(self) -> set[int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()
            workers = {pid for pid in _children(self.process.pid) if _listens(pid)}
            if len(workers) == 2 and self._healthy():
                return workers
            time.sleep(0.3)
        pytest.fail("two workers did not start: " + Path(self.log.name).read_text())

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def connection_to_each_worker(self) -> list[http.client.HTTPConnection]:
        """One kept-alive connection served by each worker. The kernel chooses which
        worker accepts a connection, and may well choose the same one every time: so the
        first worker is paused while the second connection is made, and /proc shows which
        process holds each connection."""
        first = self._connect()
        first_pid = self.owner(first)
        assert first_pid is not None
        (second,) = self.connections_while_paused(first_pid, 1)
        second_pid = self.owner(second)
        assert second_pid is not None and second_pid != first_pid
        return [first, second]

    def owner(self, connection: http.client.HTTPConnection) -> int | None:
        """The worker holding the server end of `connection`, among the workers running
        now: one the supervisor replaced (a health check unanswered on a loaded machine)
        is not the one found at the start."""
        self.workers = {pid for pid in _children(self.process.pid) if _listens(pid)}
        return _owner(self.workers, self.port, connection.sock.getsockname()[1])

    def connections_while_paused(self, pid: int, count: int) -> list[http.client.HTTPConnection]:
        """`count` connections made while worker `pid` is paused, for under PAUSE_SECONDS:
        on a busy machine the other worker may answer too slowly, and the pause is tried
        again rather than outlasting the supervisor's patience: after the worker has been
        let go long enough to answer the supervisor's health check, which it may owe."""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(RESUMED_SECONDS)
            made: list[http.client.HTTPConnection] = []
            os.kill(pid, signal.SIGSTOP)
            deadline = time.monotonic() + PAUSE_SECONDS
            try:
                while len(made) < count and time.monotonic() < deadline:
                    made.append(self._connect(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                pass
            finally:
                os.kill(pid, signal.SIGCONT)
            if len(made) == count:
                return made
            for connection in made:
                connection.close()
        pytest.fail(
            f"{count} connections were not answered within {PAUSE_SECONDS} s, {ATTEMPTS} times"
        )

    def _connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        connection.request("GET", "/healthz")  # answered, so certainly accepted
        connection.getresponse().read()
        connection.sock.settimeout(10)
        return connection

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.log.close()


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listens(pid: int) -> bool:
    return bool(_socket_inodes(pid))


def _owner(workers: set[int], server_port: int, client_port: int) -> int | None:
    """The worker holding the server end of the connection from `client_port`."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            inode = fields[9]
    for pid in workers:
        if inode and inode in _socket_inodes(pid):
            return pid
    return None


def _fail_sign_in(connection: http.client.HTTPConnection, username: str, address: str) -> int:
    before = connection.sock.getsockname()[1]
    status = _sign_in_answer(connection, username, address)
    assert connection.sock.getsockname()[1] == before, "the connection was not kept alive"
    return status.status


def _sign_in_answer(
    connection: http.client.HTTPConnection, username: str, address: str
) -> http.client.HTTPResponse:
    """A failed sign-in (a password check: a tenth of a second of work), its answer read."""
    token = secrets.token_urlsafe(24)  # the sign-in form's double-submit token
    body = urllib.parse.urlencode(
        {"username": username, "password": "not the password", "csrf_token": token}
    )
    connection.request(
        "POST",
        "/login",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"portal_presession={token}",
            # uvicorn takes the client's address from the proxy (127.0.0.1): a fresh one
            # per run keeps the per-address limit of other runs on the same Redis apart.
            "X-Forwarded-For": address,
        },
    )
    answer = connection.getresponse()
    answer.read()
    return answer


def _attempts(node, extra_env: dict[str, str]) -> list[int]:
    """LIMIT failed sign-ins spread over both workers, then one more: the statuses."""
    directory, env = node
    server = Server(directory, {**env, **extra_env})
    try:
        first, second = server.connection_to_each_worker()
        username = f"someone.{secrets.token_hex(4)}"
        address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        statuses = [
            _fail_sign_in(first if n % 2 == 0 else second, username, address)
            for n in range(LIMIT + 1)
        ]
        for connection in (first, second):
            connection.close()
        return statuses
    finally:
        server.stop()


@pytest.mark.slow
def test_a_sign_in_limit_holds_across_two_workers_with_redis(node):
    require_redis()
    statuses = _attempts(node, {"REDIS_URL": REDIS_URL})
    assert statuses == [400] * LIMIT + [429]


@pytest.mark.slow
def test_a_sign_in_limit_holds_across_two_workers_in_the_database(node):
    """No Redis: the workers count in the node's database, which they share."""
    statuses = _attempts(node, {})
    assert statuses == [400] * LIMIT + [429]


@pytest.mark.slow
def test_in_memory_each_worker_counts_alone(node):
    """The control: the same attempts against workers counting in memory get through."""
    statuses = _attempts(node, {"PORTAL_RATELIMIT_STORAGE": "memory://"})
    assert statuses == [400] * (LIMIT + 1)


def _a_stranger(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    return _sign_in_answer(
        connection,
        f"nobody.{secrets.token_hex(4)}",
        f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}",
    )


@pytest.mark.slow
def test_a_worker_with_more_than_its_share_hands_a_connection_back(node):
    """Three people's connections all taken by one worker (the other paused while they
    connect, as happens when the first to wake takes every connection waiting): asked at
    once, that worker holds three requests where its share is two, and answers one with
    `Connection: close`, so that the browser's next connection can go to the other."""
    directory, env = node
    server = Server(directory, env)
    try:
        first = server._connect()
        busy = server.owner(first)
        (idle,) = server.workers - {busy}
        connections = [first, *server.connections_while_paused(idle, 2)]
        owners = {server.owner(connection) for connection in connections}
        assert owners == {busy}
        with ThreadPoolExecutor(len(connections)) as pool:
            answers = list(pool.map(_a_stranger, connections))
        assert [a.status for a in answers] == [400] * 3
        closing = [a.getheader("connection") for a in answers].count("close")
        assert closing >= 1
        # One request at a time is within any worker's share: kept alive.
        alone = server._connect()
        assert _a_stranger(alone).getheader("connection") is None
        for connection in (*connections, alone):
            connection.close()
    finally:
        server.stop()
