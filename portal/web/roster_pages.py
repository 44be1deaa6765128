"""The MDT's members as the signed roster lists them (issue 16)."""

from __future__ import annotations

from starlette.responses import Response

from portal.federation import membership
from portal.web.context import Context
from portal.web.render import render


def roster_page(ctx: Context) -> Response:
    """Every member agency: kind, node, keys and MOU; the same on every node."""
    roster, rows = membership.members(ctx.db)
    return render(
        ctx,
        "roster.html",
        {
            "roster": roster,
            "rows": rows,
            "today": ctx.now.astimezone(ctx.settings.tz).date(),
        },
    )
