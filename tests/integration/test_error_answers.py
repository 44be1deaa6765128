"""Over real HTTP (uvicorn on 127.0.0.1, as `portal serve` runs it): an error is answered
once, logged once with its request id, and leaves a kept-alive connection usable; a body
that stops short of its Content-Length is answered 408 instead of holding the request."""

from __future__ import annotations

import dataclasses
import http.client
import logging
import socket
import time

import pytest
from starlette.routing import Route

from portal.app import create_app
from portal.auth.permissions import Permission
from portal.bench.http import serve


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> list[str]:
        return [
            record.getMessage() + (self.format(record) if record.exc_info else "")
            for record in self.records
        ]


@pytest.fixture
def logged():
    records = Records()
    loggers = [logging.getLogger(name) for name in ("portal", "uvicorn.error", "uvicorn")]
    for logger in loggers:
        logger.addHandler(records)
    yield records
    for logger in loggers:
        logger.removeHandler(records)


async def boom(request):
    raise RuntimeError("a fault in the portal (synthetic)")


boom.permission = Permission.PUBLIC


@pytest.fixture
def port(settings, engine):
    app = create_app(dataclasses.replace(settings, body_timeout_seconds=0.5), engine=engine)
    app.router.routes.append(Route("/boom", boom))  # a handler with a bug, for this test
    with serve(app) as port:
        yield port


def test_after_a_500_the_same_connection_answers_the_next_request(port, logged):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/boom")
        response = connection.getresponse()
        body = response.read().decode()
        used = connection.sock
        assert response.status == 500
        request_id = response.getheader("X-Request-ID")
        assert request_id and request_id in body  # shown, so a person can report it
        assert (response.getheader("Connection") or "").lower() != "close"

        for path, status in (("/cases/%00", 404), ("/tasks?case=%00", 400), ("/healthz", 200)):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status == status, path
            assert connection.sock is used  # the same kept-alive connection
    finally:
        connection.close()
    about_it = [line for line in logged.text() if request_id in line]
    assert len(about_it) == 1 and "RuntimeError" in about_it[0]
    assert not any("Exception in ASGI application" in line for line in logged.text())


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


SHORT_BODY = (
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    b"username=someone"
)


def test_a_body_shorter_than_its_length_is_answered_408_and_closed(port, logged):
    with _raw(port) as sock:
        started = time.monotonic()
        sock.sendall(SHORT_BODY)
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answer += chunk
        assert time.monotonic() - started < 4
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 408")
    assert b"connection: close" in head
    assert not [r for r in logged.records if r.levelno >= logging.ERROR]


def test_a_client_that_leaves_mid_body_leaves_no_traceback(port, logged):
    with _raw(port) as sock:
        sock.sendall(SHORT_BODY)
        time.sleep(0.1)
    time.sleep(0.3)
    assert not [r for r in logged.records if r.levelno >= logging.ERROR]
    with _raw(port) as sock:  # and the server serves the next client
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
