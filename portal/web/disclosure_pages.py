"""The case summary for MDT members, each owner's block, and the preview as a recipient."""

from __future__ import annotations

from sqlmodel import select
from starlette.responses import Response

import consent
from portal.disclosure import parse_purpose, preview
from portal.errors import NotFound
from portal.federation import summary as federated_summary
from portal.models import Agency, Role
from portal.services import case_summary, cases, convening, releases
from portal.web.context import Context
from portal.web.render import render


def _purpose(ctx: Context) -> str:
    return parse_purpose(ctx.request.query_params.get("purpose") or None)


def _requester(ctx: Context):
    return ctx.requester.asking(_purpose(ctx))


def summary(ctx: Context) -> Response:
    """The whole summary in one response while the page's budget lasts; the owners it has
    not reached by then are placeholders that load on their own."""
    case = cases.access_case(ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"])
    purpose = _purpose(ctx)
    overview = case_summary.overview(
        ctx.db,
        case,
        window_days=ctx.settings.convening_window_days,
        today=convening.local_today(ctx.now, ctx.settings.tz),
    )
    blocks = federated_summary.page_blocks(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        overview.participants,
        at=ctx.now,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,  # owners on other nodes (issue 16)
        budget_seconds=max(ctx.settings.summary_budget_ms, 0) / 1000,
        between=ctx.db.commit,  # the owners' answers are their own transaction
    )
    return render(
        ctx,
        "cases/summary.html",
        {
            "overview": overview,
            "blocks": blocks,
            "purpose": purpose,
            "purposes": list(consent.Purpose),
        },
    )


def owner_block(ctx: Context) -> Response:
    """One owner's sections: an htmx fragment, or without JavaScript a page of its own."""
    case = cases.access_case(ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"])
    owner = case_summary.owner_of_case(ctx.db, case, ctx.request.path_params["agency_id"])
    purpose = _purpose(ctx)
    block = federated_summary.owner_block(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        owner,
        at=ctx.now,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        between=ctx.db.commit,  # the owner's answer is its own transaction
    )
    return render(
        ctx,
        "cases/owner.html",
        {
            "case": case,
            "owner": owner,
            "decisions": block.decisions,
            "unavailable": block.unavailable,
            "purpose": purpose,
        },
        block="owner_block",
    )


def release_preview(ctx: Context) -> Response:
    release = releases.access_release(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["release_id"]
    )
    params = ctx.request.query_params
    recipients = _recipients(ctx, release)
    recipient = next((a for a in recipients if a.public_id == params.get("agency")), None)
    role = params.get("role") or ""
    decisions = None
    if params.get("agency") and recipient is None:
        raise NotFound("agency")
    if recipient is not None and role in {r.value for r in Role}:
        decisions = preview(
            ctx.db,
            ctx.requester,
            release,
            recipient,
            role,
            ctx.now,
            keys=ctx.request.app.state.keys,
        )
    return render(
        ctx,
        "releases/preview.html",
        {
            "release": release,
            "recipients": recipients,
            "recipient": recipient,
            "role": role,
            "roles": [r for r in Role if r is not Role.ADMINISTRATOR],
            "decisions": decisions,
        },
    )


def _recipients(ctx: Context, release) -> list[Agency]:
    """The agencies the signed release names; a draft names nobody yet."""
    try:
        named = releases.signed_document(release).recipients
    except Exception:  # a draft or discarded release: nothing to preview
        named = ()
    if not named:
        return []
    return list(ctx.db.exec(select(Agency).where(Agency.public_id.in_(named))).all())
