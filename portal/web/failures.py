"""Every request gets an id and one clean answer, whatever fails under it.

Starlette's own last resort answers an unhandled error and then raises it again, for the
server to log; uvicorn then logs it a second time and drops the connection without
`Connection: close`, so a browser's next request on that kept-alive connection gets no
answer. Here the error is answered and logged once, with the request's id, and goes no
further: the response is complete and the connection stays usable.

- the database unavailable (down, connection dropped, lock waited on past its limit):
  503 with Retry-After; the request's transaction was rolled back, nothing was saved;
- a request body that stalled: 408, and the connection is closed (the rest may still come);
- a client that went away: nothing to answer, one line in the log;
- anything else: 500, with the traceback in the log and the request id on the page.
"""

from __future__ import annotations

import logging
import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.db_faults import RETRY_AFTER_SECONDS, is_unavailable
from portal.web import errors
from portal.web.edge import BodyTimeout

log = logging.getLogger("portal")

REQUEST_ID_HEADER = "X-Request-ID"
# An id from the reverse proxy is kept, so its log and ours can be joined; anything else
# (too long, characters a log line should not carry) is replaced by our own.
_FOREIGN_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _FOREIGN_ID.fullmatch(candidate):
                return candidate
    return secrets.token_hex(8)


class Failures:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # every failure ends here, answered once
            response = self._answer(scope, error, request_id, started)
            if response is not None:
                await response(scope, receive, send_with_id)

    def _answer(self, scope: Scope, error: Exception, request_id: str, started: bool):
        request = Request(scope)
        where = f"{request.method} {errors.logged_path(request)} [request {request_id}]"
        if isinstance(error, ClientDisconnect):
            log.info("client went away during %s", where)
            return None
        if isinstance(error, BodyTimeout):
            log.info("request body did not arrive in time on %s", where)
            return None if started else errors.body_timeout_page(request)
        if is_unavailable(error):
            log.warning("database unavailable on %s: %s", where, _first_line(error))
            return None if started else errors.unavailable_page(request, RETRY_AFTER_SECONDS)
        # The trace goes to the operator's log, never to the page.
        log.error("unhandled error on %s", where, exc_info=error)
        if started:
            # Part of the response is out: the server closes the connection, which tells
            # the client the response is incomplete.
            return None
        return errors.server_error_page(request)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
