"""A staff member's own account: password and second factor."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from portal.auth import totp
from portal.errors import Invalid, TooManyAttempts
from portal.services import calendar, signin, staff
from portal.web.context import Context
from portal.web.render import render


def _account_page(ctx: Context, *, status: int = 200, errors: dict | None = None) -> Response:
    return render(
        ctx,
        "account.html",
        {
            "errors": errors or {},
            "recovery_left": signin.unused_recovery_codes(ctx.db, ctx.viewer.user),
            "calendar_feed": calendar.active_feed(ctx.db, ctx.viewer.user),  # issue 6
            "may_hold_feed": calendar.may_hold_feed(ctx.db, ctx.viewer.user),
        },
        status=status,
    )


def account(ctx: Context) -> Response:
    return _account_page(ctx)


def change_password(ctx: Context) -> Response:
    try:
        staff.change_password(
            ctx.db,
            ctx.viewer,
            current=ctx.field("current_password"),
            new=ctx.field("new_password"),
            confirm=ctx.field("confirm_password"),
            throttle=ctx.request.app.state.login_throttle,
            address=ctx.address,
            at=ctx.now,
        )
    except TooManyAttempts as error:
        ctx.keep_on_error = True  # the throttled attempt stays in the log
        return _account_page(ctx, status=429, errors={"current_password": str(error)})
    except Invalid as error:
        ctx.keep_on_error = True  # a wrong current password is counted, as at sign-in
        return _account_page(ctx, status=400, errors=error.errors)
    ctx.flash("Your password has been changed. Other sessions on your account were signed out.")
    return RedirectResponse("/account", status_code=303)


def _enrol_page(ctx: Context, *, status: int = 200, error: str | None = None) -> Response:
    keys = ctx.request.app.state.keys
    secret = signin.start_totp_enrolment(ctx.viewer, keys=keys)
    uri = totp.provisioning_uri(secret, ctx.viewer.user.username)
    return render(
        ctx,
        "totp_enrol.html",
        {
            "secret": secret,
            "qr_svg": totp.qr_svg(uri),
            "error": error,
            "required": ctx.viewer.session.stage == "totp_enrolment",
        },
        status=status,
    )


def enrol_form(ctx: Context) -> Response:
    if ctx.viewer.user.totp_enabled_at is not None:
        return RedirectResponse("/account", status_code=303)
    # Keep the pending secret: the page stores it on the session.
    ctx.keep_on_error = True
    return _enrol_page(ctx)


def enrol(ctx: Context) -> Response:
    try:
        codes, stepped_up = signin.confirm_totp_enrolment(
            ctx.db,
            ctx.viewer,
            ctx.field("code"),
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            address=ctx.address,
            user_agent=ctx.user_agent,
        )
    except Invalid as error:
        return _enrol_page(ctx, status=400, error=error.errors.get("code"))
    if stepped_up is not None:
        ctx.new_session_token = stepped_up.token
    return render(ctx, "recovery_codes.html", {"codes": codes})


def regenerate_codes(ctx: Context) -> Response:
    try:
        codes = signin.regenerate_recovery_codes(
            ctx.db,
            ctx.viewer,
            password=ctx.field("codes_password"),
            throttle=ctx.request.app.state.login_throttle,
            address=ctx.address,
            at=ctx.now,
        )
    except TooManyAttempts as error:
        ctx.keep_on_error = True
        return _account_page(ctx, status=429, errors={"codes_password": str(error)})
    except Invalid as error:
        ctx.keep_on_error = True  # a wrong password is counted and logged, as at sign-in
        return _account_page(ctx, status=400, errors={"codes_password": error.errors["code"]})
    return render(ctx, "recovery_codes.html", {"codes": codes})


def disable_second_factor(ctx: Context) -> Response:
    try:
        signin.disable_totp(
            ctx.db,
            ctx.viewer,
            password=ctx.field("password"),
            throttle=ctx.request.app.state.login_throttle,
            address=ctx.address,
            at=ctx.now,
        )
    except TooManyAttempts as error:
        ctx.keep_on_error = True  # the throttled attempt stays in the log
        return _account_page(ctx, status=429, errors={"totp_password": str(error)})
    except Invalid as error:
        ctx.keep_on_error = True  # a wrong password is counted, as at sign-in
        return _account_page(ctx, status=400, errors={"totp_password": error.errors["password"]})
    ctx.flash("Two-step sign-in is turned off for your account.")
    return RedirectResponse("/account", status_code=303)
