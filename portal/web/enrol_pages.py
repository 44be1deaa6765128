"""The one-time enrolment link: a new account's holder sets their own password."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid
from portal.services import enrolment
from portal.web.context import Context
from portal.web.render import render
from portal.web.routing import PRE_SESSION_COOKIE, presession_token


def _page(ctx: Context, member, *, status: int = 200, errors: dict | None = None) -> Response:
    token, is_new = presession_token(ctx.request)
    ctx.request.state.presession_token = token
    response = render(
        ctx,
        "enrol.html",
        {"member": member, "secret": ctx.request.path_params["secret"], "errors": errors or {}},
        status=status,
    )
    if is_new and ctx.viewer is None:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.cookie_secure,
            path="/",
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the link is in the address
    return response


def enrol_form(ctx: Context) -> Response:
    _, member = enrolment.find(ctx.db, ctx.request.path_params["secret"], at=ctx.now)
    return _page(ctx, member)


def enrol(ctx: Context) -> Response:
    secret = ctx.request.path_params["secret"]
    try:
        token, _ = enrolment.complete(
            ctx.db,
            secret,
            password=ctx.field("password"),
            confirm=ctx.field("confirm_password"),
            address=ctx.address,
            user_agent=ctx.user_agent,
            at=ctx.now,
        )
    except Invalid as error:
        _, member = enrolment.find(ctx.db, secret, at=ctx.now)
        return _page(ctx, member, status=400, errors=error.errors)
    ctx.new_session_token = token
    return RedirectResponse("/account/second-factor", status_code=303)
