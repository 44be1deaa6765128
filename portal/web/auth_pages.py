"""Sign in, second factor, sign out."""

from __future__ import annotations

from urllib.parse import urlencode, urlparse

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid, TooManyAttempts
from portal.services import signin
from portal.web.context import Context
from portal.web.render import render
from portal.web.routing import PRE_SESSION_COOKIE, presession_token


def _next_path(value: str) -> str:
    """Only a path on this site: never an open redirect."""
    parsed = urlparse(value or "/")
    if (
        parsed.scheme
        or parsed.netloc
        or not parsed.path.startswith("/")
        or parsed.path.startswith("//")
        or parsed.path.startswith("/login")
    ):
        return "/"
    return parsed.path


def _login_page(
    ctx: Context, *, status: int = 200, error: str | None = None, username: str = ""
) -> Response:
    token, is_new = presession_token(ctx.request)
    ctx.request.state.presession_token = token
    next_path = _next_path(ctx.request.query_params.get("next") or ctx.field("next"))
    response = render(
        ctx,
        "login.html",
        {
            "error": error,
            "username": username,
            "next": next_path,
            "signed_out": ctx.request.query_params.get("signed_out") == "1",
            # A password-stage session ended after too many wrong codes.
            "codes_spent": ctx.request.query_params.get("codes") == "spent",
        },
        status=status,
    )
    if is_new:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.cookie_secure,
            path="/",
        )
    return response


def login_form(ctx: Context) -> Response:
    if ctx.viewer is not None and ctx.viewer.is_complete:
        return RedirectResponse("/", status_code=303)
    return _login_page(ctx)


def login(ctx: Context) -> Response:
    username = ctx.field("username")
    ctx.keep_on_error = True  # the failed attempt's audit entry must survive the 4xx
    try:
        result = signin.sign_in(
            ctx.db,
            username=username,
            password=ctx.field("password"),
            address=ctx.address,
            user_agent=ctx.user_agent,
            throttle=ctx.request.app.state.login_throttle,
            at=ctx.now,
        )
    except TooManyAttempts as error:
        return _login_page(ctx, status=429, error=str(error), username=username)
    except Invalid as error:
        return _login_page(ctx, status=400, error=error.errors.get("password"), username=username)
    if ctx.viewer is not None:  # signing in over an old session ends it: one id per login
        from portal.auth import sessions

        sessions.end(ctx.viewer.session, at=ctx.now, reason="replaced")
    ctx.new_session_token = result.token
    stage = result.session.stage
    if stage == "password":  # the page asked for is kept for after the code
        then = _next_path(ctx.field("next"))
        query = "" if then == "/" else "?" + urlencode({"next": then})
        return RedirectResponse(f"/login/second-factor{query}", status_code=303)
    if stage == "totp_enrolment":
        return RedirectResponse("/account/second-factor", status_code=303)
    return RedirectResponse(_next_path(ctx.field("next")), status_code=303)


def second_factor_form(ctx: Context) -> Response:
    if ctx.viewer.session.stage != "password":
        return RedirectResponse("/", status_code=303)
    then = _next_path(ctx.request.query_params.get("next"))
    return render(ctx, "second_factor.html", {"error": None, "next": then})


def second_factor(ctx: Context) -> Response:
    if ctx.viewer.session.stage != "password":
        return RedirectResponse("/", status_code=303)
    ctx.keep_on_error = True
    then = _next_path(ctx.field("next"))
    try:
        result = signin.verify_second_factor(
            ctx.db,
            ctx.viewer,
            ctx.field("code"),
            keys=ctx.request.app.state.keys,
            throttle=ctx.request.app.state.login_throttle,
            address=ctx.address,
            user_agent=ctx.user_agent,
            at=ctx.now,
        )
    except signin.SecondFactorSpent:
        ctx.end_session_cookie = True
        return RedirectResponse("/login?codes=spent", status_code=303)
    except TooManyAttempts as error:
        return render(ctx, "second_factor.html", {"error": str(error), "next": then}, status=429)
    except Invalid as error:
        return render(
            ctx, "second_factor.html", {"error": error.errors["code"], "next": then}, status=400
        )
    ctx.new_session_token = result.token
    return RedirectResponse(then, status_code=303)


def logout(ctx: Context) -> Response:
    signin.sign_out(ctx.db, ctx.viewer, at=ctx.now)
    ctx.end_session_cookie = True
    return RedirectResponse("/login?signed_out=1", status_code=303)
