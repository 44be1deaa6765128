"""A real HTTP server and a keep-alive browser on 127.0.0.1, for benchmarks.

The app is served by uvicorn, as in production, on a port the kernel picks; requests go
over a real socket with one kept-alive connection, as a browser tab's would. The
standard library's client keeps the measuring side small and dependency-free.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import uvicorn

from portal.serving import UVICORN_OPTIONS


@contextmanager
def serve(app) -> Iterator[int]:
    """Serve `app` on 127.0.0.1, as `portal serve` does, until the block ends; yields the
    port. The listening socket is made here (so the kernel picks a free port) and carries
    no TCP protocol number: the case in which uvicorn alone would leave Nagle on."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    options = {**UVICORN_OPTIONS, "log_level": "warning", "access_log": False}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


class Browser:
    """One kept-alive connection with a cookie jar: just enough of a browser to sign in
    and read pages."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._connection.connect()
        # As browsers do: without it, a small request waits on the peer's delayed ACK.
        self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._cookies: dict[str, str] = {}

    def close(self) -> None:
        self._connection.close()

    def request(self, method: str, path: str, body: dict | None = None, headers=None):
        sent = {"Host": "127.0.0.1"}
        if self._cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        encoded = None
        if body is not None:
            encoded = urlencode(body).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        self._connection.request(method, path, body=encoded, headers=sent)
        response = self._connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("set-cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self._cookies[name] = morsel.value
                else:
                    self._cookies.pop(name, None)
        return response.status, text

    def get(self, path: str, headers=None) -> tuple[int, str]:
        return self.request("GET", path, headers=headers)

    def sign_in(self, username: str, password: str) -> None:
        _status, page = self.get("/login")
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        status, _ = self.request(
            "POST",
            "/login",
            {"csrf_token": token, "username": username, "password": password, "next": "/"},
        )
        if status != 303:
            raise RuntimeError(f"the benchmark could not sign in ({status})")
