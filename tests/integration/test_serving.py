"""The node's HTTP server: every connection has Nagle's algorithm off."""

import http.client
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from portal.bench.http import Browser, serve
from portal.serving import UVICORN_OPTIONS, NoDelayH11Protocol

APP = Starlette(routes=[Route("/", lambda request: PlainTextResponse("synthetic " * 500))])


def _nodelay_of_open_connections(options) -> list[int]:
    # A listening socket without a TCP protocol number, as uvicorn makes for its workers.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    connection = http.client.HTTPConnection("127.0.0.1", listener.getsockname()[1], timeout=5)
    try:
        connection.request("GET", "/")
        assert connection.getresponse().read()
        return [
            protocol.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY
            )
            for protocol in server.server_state.connections
        ]
    finally:
        connection.close()
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_uvicorn_alone_leaves_nagle_on_for_a_socket_it_is_handed():
    # Why the portal brings its own protocol: on the standard library's event loop (where
    # uvloop is not installed), kept-alive responses would stall.
    assert _nodelay_of_open_connections({"http": H11Protocol, "loop": "asyncio"}) == [0]


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_the_portals_server_turns_nagle_off_on_every_connection(loop):
    assert _nodelay_of_open_connections({**UVICORN_OPTIONS, "loop": loop}) == [1]


def test_the_pure_python_parser_turns_it_off_too():
    options = {"http": NoDelayH11Protocol, "loop": "asyncio"}
    assert _nodelay_of_open_connections(options) == [1]


def test_the_benchmark_server_answers_over_a_kept_alive_connection():
    with serve(APP) as port:
        browser = Browser(port)
        try:
            for _ in range(3):
                status, text = browser.get("/")
                assert status == 200 and text.startswith("synthetic")
        finally:
            browser.close()


def test_the_servers_log_never_holds_what_a_search_typed(capfd):
    """A client search is a GET form: a survivor's name and birth date are in its query
    string, and uvicorn's access log wrote every request line with it (`portal serve`)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(APP, log_level="info", **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        connection = http.client.HTTPConnection("127.0.0.1", listener.getsockname()[1], timeout=5)
        connection.request("GET", "/?given_name=Sparrow&family_name=Synthetic")
        assert connection.getresponse().read()
        connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    written = capfd.readouterr()
    assert "Started server process" in written.err + written.out  # the log was captured
    assert "Sparrow" not in written.err + written.out
