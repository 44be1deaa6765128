"""What a request must look like before any handler or database sees it.

PostgreSQL refuses a NUL byte in text outright (SQLite stores it), and neither driver can
send half of a surrogate pair; a control character in an address is never a real lookup.
So the same bad input gets the same answer on both databases, here, once for every route:

- the address (path and query string): a control character is a 404 in the path and a
  400 in the query;
- an `…_id` path parameter is a public id (a UUID) or the page does not exist (404);
- form fields and JSON bodies: a NUL byte or a lone surrogate is a 400 naming the field
  (other control characters are the fields' own checks, whose messages sit beside them);
- the body must arrive within the body timeout; a client that stalls is answered 408.
"""

from __future__ import annotations

import re

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.edge_checks import (  # noqa: F401 - the checks, here for the web's callers
    UNSTORABLE_MESSAGE,
    check_form,
    check_path_ids,
    unstorable_field,
)
from portal.web import errors

_ADDRESS_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What no database column can hold: NUL, and half of a UTF-16 surrogate pair.


class BodyTimeout(Exception):
    """The request body did not arrive within the body timeout."""


class EdgeChecks:
    def __init__(self, app: ASGIApp, *, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refuse_address(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _bounded(receive, self.body_timeout), send)


def _refuse_address(scope: Scope):
    request = Request(scope)
    if _ADDRESS_CONTROL.search(scope["path"]):
        return errors.page(request, 404, "There is no page at this address.")
    if any(_ADDRESS_CONTROL.search(k + v) for k, v in request.query_params.multi_items()):
        return errors.page(
            request, 400, "The address contains characters that are not allowed; check the link."
        )
    return None


def _bounded(receive: Receive, timeout: float) -> Receive:
    """`receive`, with the whole body due within `timeout` seconds of the first read.

    Once the body is complete, `receive` only waits for the client to go away (Starlette
    listens for that while streaming a response), which has no deadline.
    """
    deadline: float | None = None
    complete = False

    async def receive_bounded() -> Message:
        nonlocal deadline, complete
        if complete:
            return await receive()
        if deadline is None:
            deadline = anyio.current_time() + timeout
        with anyio.move_on_after(max(deadline - anyio.current_time(), 0)) as waited:
            message = await receive()
        if waited.cancelled_caught:
            raise BodyTimeout
        if message["type"] != "http.request" or not message.get("more_body", False):
            complete = True
        return message

    return receive_bounded
