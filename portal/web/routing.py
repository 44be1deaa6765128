"""Routes that state their permission; a route without one cannot be registered.

Every endpoint is wrapped by `guard`, which runs the whole request as one unit of work:
resume the session, check the permission and the CSRF token, call the handler, commit.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive

from portal.audit import ChangedMeanwhile
from portal.auth import sessions as web_sessions
from portal.auth.permissions import Permission, allows
from portal.auth.sessions import Stage
from portal.db import commit
from portal.errors import DomainError, Forbidden, Invalid
from portal.services import validation
from portal.web import edge
from portal.web.context import Context

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRE_SESSION_COOKIE = "portal_presession"  # CSRF for the sign-in form (login CSRF)
MAX_FORM_FIELDS = 200
MAX_FORM_BYTES = 256 * 1024

Handler = Callable[[Context], Response]


def route(
    path: str,
    handler: Handler,
    *,
    permission: Permission,
    methods=("GET",),
    name: str | None = None,
) -> Route:
    if not isinstance(permission, Permission):
        raise TypeError(f"route {path} must state a Permission")
    return Route(
        path, guard(handler, permission), methods=list(methods), name=name or handler.__name__
    )


def guard(handler: Handler, permission: Permission):
    async def endpoint(request: Request) -> Response:
        form = None
        if request.method in UNSAFE_METHODS:
            form = await _read_form(request)
        return await request.app.state.request_threads.run(_run, handler, permission, request, form)

    endpoint.permission = permission  # read by the route-walking test and create_app
    endpoint.__name__ = handler.__name__
    return endpoint


async def _read_form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length and length.isdecimal() and int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        raise HTTPException(415, "Send the form as a web form.")
    # Held to the limit as it arrives, too: a body sent in chunks carries no length, and
    # was read whole into memory however large (each field under the part limit).
    bounded = Request(request.scope, _limited(request.receive, MAX_FORM_BYTES))
    try:
        return await bounded.form(
            max_files=5, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_BYTES
        )
    except MultiPartException as error:
        raise HTTPException(400, str(error)) from None


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing (413) a body past `limit` bytes as soon as it gets there."""
    taken = 0

    async def receive_limited() -> Message:
        nonlocal taken
        message = await receive()
        if message["type"] == "http.request":
            taken += len(message.get("body", b""))
            if taken > limit:
                raise HTTPException(413, "The form is too large.")
        return message

    return receive_limited


def _run(
    handler: Handler, permission: Permission, request: Request, form: FormData | None
) -> Response:
    # A page whose disclosure was decided on what changed before it could be logged (a
    # release revoked, a policy line) is made again, once: the gates then see the change.
    try:
        return _run_once(handler, permission, request, form)
    except ChangedMeanwhile:
        return _run_once(handler, permission, request, form)


def _run_once(
    handler: Handler, permission: Permission, request: Request, form: FormData | None
) -> Response:
    app_state = request.app.state
    settings = app_state.settings
    now = settings.clock()
    window = validation.DateWindow.around(
        now.astimezone(settings.tz).date(), settings.date_window_years
    )
    with app_state.open_session() as db, validation.dates_within(window):
        ctx = None
        try:
            viewer = web_sessions.resume(
                db,
                request.cookies.get(web_sessions.COOKIE_NAME),
                at=now,
                idle=app_state.session_idle,
                absolute=app_state.session_absolute,
            )
            ctx = Context(
                request=request, db=db, settings=settings, now=now, viewer=viewer, form=form
            )
            denied = _authorize(ctx, permission)
            if denied is not None:
                db.commit()  # an idle session that was just ended stays ended
                return denied
            edge.check_path_ids(request.path_params)
            if form is not None:
                edge.check_form(form.multi_items())
            if request.method in UNSAFE_METHODS:
                _check_csrf(ctx)
            if viewer is not None:
                ctx.flashes = (
                    web_sessions.pop_flash(viewer.session)
                    if request.method == "GET" and not request.headers.get("hx-request")
                    else []
                )
            response = handler(ctx)
            if response.status_code >= 400 and not ctx.keep_on_error:
                db.rollback()
            else:
                commit(db)
        except DomainError as refused:
            # A refusal the handler raised after noting it (keep_on_error: a denial is
            # audited too) keeps that entry, as a refusal answered with a page does; a bad
            # form (Invalid) keeps nothing.
            if ctx is not None and ctx.keep_on_error and not isinstance(refused, Invalid):
                commit(db)
            else:
                db.rollback()
            raise
        except BaseException:
            db.rollback()
            raise
    _apply_cookies(ctx, response, settings)
    return response


def _authorize(ctx: Context, permission: Permission) -> Response | None:
    if permission is Permission.PUBLIC:
        return None
    viewer = ctx.viewer
    if viewer is None:
        if ctx.request.headers.get("hx-request"):
            # htmx cannot follow a redirect into a full page; tell it to load the login page.
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={_safe_next(ctx.request)}", status_code=303)
    if permission is Permission.SECOND_FACTOR:
        if viewer.session.stage in (Stage.PASSWORD, Stage.TOTP_ENROLMENT, Stage.FULL):
            return None
        raise Forbidden()
    if viewer.session.stage == Stage.PASSWORD:
        return RedirectResponse("/login/second-factor", status_code=303)
    if viewer.session.stage == Stage.TOTP_ENROLMENT:
        return RedirectResponse("/account/second-factor", status_code=303)
    if permission is Permission.SIGNED_IN or allows(viewer.roles, permission):
        return None
    raise Forbidden()


def _safe_next(request: Request) -> str:
    from urllib.parse import quote

    path = request.url.path
    return quote(path if path.startswith("/") and not path.startswith("//") else "/")


def _check_csrf(ctx: Context) -> None:
    sent = ctx.request.headers.get("x-csrf-token") or ctx.field("csrf_token")
    if ctx.viewer is not None:
        expected = ctx.viewer.session.csrf_token
    else:
        expected = ctx.request.cookies.get(PRE_SESSION_COOKIE, "")
    # Bytes: compare_digest refuses str with characters outside ASCII.
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise Forbidden(
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again."
        )


def presession_token(request: Request) -> tuple[str, bool]:
    """The double-submit token for pages shown before sign-in; (token, is_new)."""
    token = request.cookies.get(PRE_SESSION_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token, False
    return secrets.token_urlsafe(32), True


def _apply_cookies(ctx: Context, response: Response, settings) -> None:
    secure = settings.cookie_secure
    if ctx.new_session_token is not None:
        response.set_cookie(
            web_sessions.COOKIE_NAME,
            ctx.new_session_token,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
        )
        response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    elif ctx.end_session_cookie:
        response.delete_cookie(
            web_sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure
        )
