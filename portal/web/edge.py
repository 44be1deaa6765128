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
from collections.abc import Iterable, Mapping

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.errors import Invalid, NotFound
from portal.web import errors

_ADDRESS_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What no database column can hold: NUL, and half of a UTF-16 surrogate pair.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNSTORABLE_MESSAGE = "contains characters that are not allowed"


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


def check_path_ids(path_params: Mapping[str, object]) -> None:
    """An `…_id` in the address is a public id, or there is no such page."""
    for name, value in path_params.items():
        if name.endswith("_id") and not (isinstance(value, str) and _PUBLIC_ID.fullmatch(value)):
            # Worded as the loaders word a missing one: the answers cannot be told apart.
            raise NotFound(name.removesuffix("_id").replace("_", " "))


def check_form(items: Iterable[tuple[str, object]]) -> None:
    problems = {
        name if not _UNSTORABLE.search(name) else "form": _message(name)
        for name, value in items
        if _UNSTORABLE.search(name) or (isinstance(value, str) and _UNSTORABLE.search(value))
    }
    if problems:
        raise Invalid.of(problems)


def unstorable_field(data: object, where: str = "") -> str | None:
    """The path of the first string in a JSON document that no database can store."""
    if isinstance(data, str):
        return where or "body" if _UNSTORABLE.search(data) else None
    if isinstance(data, dict):
        items: Iterable = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        here = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and _UNSTORABLE.search(key):
            return where or "body"
        found = unstorable_field(value, here)
        if found is not None:
            return found
    return None


def _message(name: str) -> str:
    label = name.replace("_", " ").capitalize() if not _UNSTORABLE.search(name) else "The form"
    return f"{label} {UNSTORABLE_MESSAGE}."
