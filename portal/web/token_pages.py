"""API tokens for the agency's own systems, managed by the agency lead."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid
from portal.models import ApiScope
from portal.services import api_tokens
from portal.web import confirm_pages
from portal.web.context import Context
from portal.web.render import render

# What each scope lets a partner system do, as the lead choosing it reads it; the code
# beside it is what the system's developer finds in the OpenAPI document.
SCOPE_WORDS = {
    ApiScope.CASES_READ: "See the MDT cases your agency takes part in",
    ApiScope.SUMMARY_READ: "Read case summaries, as each owner releases them to the chosen role",
    ApiScope.SECTIONS_WRITE: "Find your own clients by reference and save their record sections",
}


def _page(
    ctx: Context,
    *,
    status: int = 200,
    errors: dict | None = None,
    issued: api_tokens.IssuedToken | None = None,
) -> Response:
    return render(
        ctx,
        "admin/api_tokens.html",
        {
            "tokens": api_tokens.tokens_of(ctx.db, ctx.viewer.agency),
            "scopes": list(ApiScope),
            "scope_words": SCOPE_WORDS,
            "roles": api_tokens.roles_for_token(ctx.db, ctx.viewer),
            "errors": errors or {},
            "issued": issued,
            "values": {
                "name": ctx.field("name"),
                "scopes": ctx.fields("scopes"),
                "acting_role": ctx.field("acting_role"),
            },
        },
        status=status,
    )


def token_list(ctx: Context) -> Response:
    return _page(ctx)


def token_create(ctx: Context) -> Response:
    try:
        issued = api_tokens.create_token(
            ctx.db,
            ctx.viewer,
            name=ctx.field("name"),
            scopes=ctx.fields("scopes"),
            acting_role=ctx.field("acting_role"),
            at=ctx.now,
        )
    except Invalid as error:
        return _page(ctx, status=400, errors=error.errors)
    return _page(ctx, issued=issued)  # the secret is shown on this response only


def token_revoke_page(ctx: Context) -> Response:
    """Asks before revoking: the system that uses it stops working at once."""
    token = api_tokens.token_of(ctx.db, ctx.viewer.agency, ctx.request.path_params["token_id"])
    if token.revoked_at is not None:
        return RedirectResponse("/admin/api-tokens", status_code=303)
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title=f"Revoke the token “{token.name}”?",
            consequences=[
                f"Every call made with it, from {token.name}, fails from now on.",
                "It cannot be undone: to let that system call again, create a new token and "
                "give it the new one.",
            ],
            action=f"/admin/api-tokens/{token.public_id}/revoke",
            button="Revoke the token",
            back="/admin/api-tokens",
            back_label="Back to the API tokens",
            keep="Keep the token",
        ),
    )


def token_revoke(ctx: Context) -> Response:
    token = api_tokens.revoke_token(
        ctx.db, ctx.viewer, ctx.request.path_params["token_id"], at=ctx.now
    )
    ctx.flash(f"Token “{token.name}” is revoked; calls with it now fail.")
    return RedirectResponse("/admin/api-tokens", status_code=303)
