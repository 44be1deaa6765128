"""A real HTTP server and a keep-alive browser on 127.0.0.1, for benchmarks.

The app is served by uvicorn, as in production, on a port the kernel picks; requests go
over a real socket with one kept-alive connection, as a browser tab's would.
"""

from __future__ import annotations

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
    and read pages.

    It speaks HTTP/1.1 over a plain socket. The standard library's client parses each
    response's headers with the email parser, about 0.1 ms a response in Python: the
    measuring side's cost, which a browser does not pay, so it is left out of the figures.
    """

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        # As browsers do: without it, a small request waits on the peer's delayed ACK.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""
        self._cookies: dict[str, str] = {}

    def close(self) -> None:
        self._socket.close()

    def request(self, method: str, path: str, body: dict | None = None, headers=None):
        sent = {"Host": "127.0.0.1"}
        if self._cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        encoded = b""
        if body is not None:
            encoded = urlencode(body).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Content-Length"] = str(len(encoded))
        sent.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        self._socket.sendall(head.encode("latin-1") + b"\r\n" + encoded)
        status, received, text = self._response()
        for header in received.get("set-cookie", []):
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self._cookies[name] = morsel.value
                else:
                    self._cookies.pop(name, None)
        return status, text

    def _response(self) -> tuple[int, dict[str, list[str]], str]:
        head = self._read_until(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        received: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            received.setdefault(name.strip().lower(), []).append(value.strip())
        if received.get("transfer-encoding", [""])[-1].lower() == "chunked":
            body = b""
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                body += self._read_exactly(size)
                self._read_until(b"\r\n")
            self._read_until(b"\r\n")  # no trailers are sent
        else:
            body = self._read_exactly(int(received.get("content-length", ["0"])[-1]))
        return int(status_line.split(" ")[1]), received, body.decode()

    def _read_until(self, marker: bytes) -> bytes:
        while (found := self._pending.find(marker)) < 0:
            self._receive()
        taken, self._pending = self._pending[:found], self._pending[found + len(marker) :]
        return taken

    def _read_exactly(self, size: int) -> bytes:
        while len(self._pending) < size:
            self._receive()
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken

    def _receive(self) -> None:
        chunk = self._socket.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._pending += chunk

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
