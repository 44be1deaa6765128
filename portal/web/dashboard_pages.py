"""The dashboard: what the signed-in person's agency has on the MDT's plate."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from portal.services import cases
from portal.web import mentor_pages
from portal.web.context import Context
from portal.web.render import render


def dashboard(ctx: Context) -> Response:
    agency = ctx.viewer.agency
    today = ctx.now.astimezone(ctx.settings.tz).date()
    rows = cases.cases_for_agency(ctx.db, agency, window_days=ctx.settings.convening_window_days)
    return render(
        ctx,
        "dashboard.html",
        {
            "cases": rows,
            "case_count": cases.count_cases_for_agency(ctx.db, agency),
            "today": today,
            "soon": today + timedelta(days=3),
            "mentoring": mentor_pages.dashboard_panel(ctx),
        },
    )
