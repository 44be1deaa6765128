"""API routes: bearer-token authentication, scopes, JSON in and out, one unit of work each.

Every operation is declared once, with its scope and its schemas; the OpenAPI document is
built from the same declarations, so the document and the routes cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal import edge_checks as edge
from portal import untrusted_json
from portal.audit import acting_through
from portal.auth.permissions import Permission, allows
from portal.db import commit
from portal.errors import DomainError, Invalid
from portal.models import ApiScope
from portal.requester import Requester
from portal.services import api_tokens, validation

MAX_BODY_BYTES = 64 * 1024


@dataclass
class ApiContext:
    request: Request
    db: Any
    settings: Any
    now: Any
    caller: api_tokens.ApiCaller
    body: BaseModel | None
    # Set by a handler whose refusal must keep its audit entry, as on the web.
    keep_on_error: bool = False

    @property
    def viewer(self):
        return self.caller.viewer

    @property
    def requester(self) -> Requester:
        """Who is asking: the token's agency and the role it acts in, the lead who issued
        it as the person accountable, and the token itself (named in every audit entry)."""
        viewer = self.caller.viewer
        return Requester.of(
            viewer.user, viewer.agency, viewer.roles, via=self.caller.token.public_id
        )


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" | "query"
    schema: dict
    description: str = ""
    required: bool = True


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Callable[[ApiContext], Any]
    scope: ApiScope
    summary: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    status: int = 200
    errors: tuple[int, ...] = field(default=(400, 401, 403, 404))
    # The web's permission for the same act: a token acts in one role and passes the
    # same table as a person in that role would (portal/auth/permissions.py).
    permission: Permission | None = None


def error(status: int, message: str, field_name: str | None = None) -> JSONResponse:
    payload = {"error": message}
    if field_name:
        payload["field"] = field_name
    return JSONResponse(payload, status_code=status)


def api_route(operation: Operation) -> Route:
    if not isinstance(operation.permission, Permission):
        raise TypeError(f"API operation {operation.path} must state the web's Permission")

    async def endpoint(request: Request) -> Response:
        # No token, no reading of the body: the full check follows with the database.
        if not request.headers.get("authorization", "").startswith(
            "Bearer " + api_tokens.TOKEN_PREFIX
        ):
            return _unauthorized()
        # Read now (bounded), judged only once the token is: a caller without a valid token
        # learns nothing of what the body would need.
        raw = await _read_body(request) if operation.body is not None else None
        return await request.app.state.request_threads.run(_run, operation, request, raw)

    endpoint.permission = Permission.API_TOKEN
    endpoint.operation = operation
    endpoint.__name__ = operation.handler.__name__
    return Route(operation.path, endpoint, methods=[operation.method])


async def _read_body(request: Request) -> bytes | None:
    """The body's bytes; None when it is longer than any body the API takes (reading
    stops there)."""
    length = request.headers.get("content-length")
    if length and (not length.isdecimal() or int(length) > MAX_BODY_BYTES):
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return None
    return raw


def _parsed_body(request: Request, raw: bytes | None, model: type[BaseModel]):
    """The body as the operation's model, or the answer that says what is wrong with it."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return error(415, "Send the body as application/json.")
    if raw is None:
        return error(413, f"The body must be at most {MAX_BODY_BYTES} bytes.")
    try:
        data = untrusted_json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        return error(400, f"The body is not valid JSON: {problem}.")
    except untrusted_json.TooDeep:
        return error(400, "The body is nested too deeply to read.")
    except ValueError:  # a number past the interpreter's digit limit
        return error(400, "The body holds a number too long to read.")
    if not isinstance(data, dict):
        return error(400, "The body must be a JSON object.")
    unstorable = edge.unstorable_field(data)
    if unstorable is not None:
        return error(400, f"The value {edge.UNSTORABLE_MESSAGE}.", unstorable)
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        first = problem.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        return error(400, first["msg"], where)


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "A valid API token is required."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _run(operation: Operation, request: Request, raw: bytes | None) -> Response:
    state = request.app.state
    settings = state.settings
    now = settings.clock()
    window = validation.DateWindow.around(
        now.astimezone(settings.tz).date(), settings.date_window_years
    )
    with state.open_session() as db, validation.dates_within(window):
        caller = api_tokens.authenticate(db, request.headers.get("authorization"), at=now)
        if caller is None:
            db.rollback()
            return _unauthorized()
        if operation.scope not in caller.token.scope_set:
            db.rollback()
            return error(403, f"This token lacks the {operation.scope.value} scope.")
        if not allows(caller.viewer.roles, operation.permission):
            db.rollback()
            return error(403, f"This token's role ({caller.token.acting_role}) may not do this.")
        body = None
        if operation.body is not None:
            body = _parsed_body(request, raw, operation.body)
            if isinstance(body, Response):
                db.rollback()
                return body
        # Whatever this request writes to an audit log names the token (portal/audit/log.py).
        acting_through(db, caller.token.public_id)
        ctx = ApiContext(request, db, state.settings, now, caller, body)
        try:
            edge.check_path_ids(request.path_params)
            result = operation.handler(ctx)
        except Invalid as problem:
            db.rollback()
            field_name, message = next(iter(problem.errors.items()), (None, str(problem)))
            return error(problem.status_code, message, field_name)
        except DomainError as problem:
            if ctx.keep_on_error:
                db.commit()
            else:
                db.rollback()
            return error(problem.status_code, str(problem))
        commit(db)
    if isinstance(result, Response):
        return result
    content = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return JSONResponse(content, status_code=operation.status)
