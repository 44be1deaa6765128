"""`portal serve` / `portal demo` check their port by binding it once "as uvicorn will".
With one worker (the default, and always for `portal demo`) uvicorn binds through asyncio's
`loop.create_server(host=…)`: every address the host names, an IPv6 one IPv6-only. Before,
the check bound one dual-stack socket for `::`, so an IPv4 listener on the same port
(another server on 127.0.0.1) made it refuse `--host ::`, which uvicorn itself serves on;
and it refused `--host ''` (every interface). Found by review."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from portal.cli.errors import CommandError
from portal.cli.serve import check_listening


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


async def _bind_as_uvicorn(host: str, port: int) -> None:
    """What uvicorn.Server.startup does with one worker."""
    server = await asyncio.get_running_loop().create_server(asyncio.Protocol, host=host, port=port)
    server.close()
    await server.wait_closed()


def _uvicorn_binds(host: str, port: int) -> None:
    """In a thread with a loop of its own: under the whole suite, the browser tests' loop
    already runs in the test's thread."""
    failed: list[BaseException] = []

    def bind() -> None:
        try:
            asyncio.run(_bind_as_uvicorn(host, port))
        except BaseException as error:
            failed.append(error)

    thread = threading.Thread(target=bind)
    thread.start()
    thread.join(timeout=10)
    if failed:
        raise failed[0]


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 here")
def test_an_ipv4_listener_does_not_refuse_host_ipv6_wildcard_that_uvicorn_serves_on():
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _uvicorn_binds("::", port)  # uvicorn would serve
        try:
            check_listening("::", port)
        except CommandError as refused:
            pytest.fail(f"refused what uvicorn serves on: {refused}")


def test_an_empty_host_is_every_interface_as_for_uvicorn():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    _uvicorn_binds("", port)  # uvicorn would serve
    check_listening("", port)


def test_a_port_taken_on_the_host_is_still_refused():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):  # bound, never listened on: loopback only
            with pytest.raises(CommandError, match="already in use"):
                check_listening(host, port)
