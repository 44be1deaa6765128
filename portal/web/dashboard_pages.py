"""The dashboard: what the signed-in person's agency has on the MDT's plate."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from portal.auth.permissions import Permission, allows
from portal.services import cases, convening, tasks
from portal.web.context import Context
from portal.web.render import render

CASE_COUNT_CAP = 1000  # issue 6: the dashboard stays as quick at 100,000 cases


def dashboard(ctx: Context) -> Response:
    agency = ctx.viewer.agency
    today = ctx.now.astimezone(ctx.settings.tz).date()
    rows = cases.cases_for_agency(ctx.db, agency, window_days=ctx.settings.convening_window_days)
    return render(
        ctx,
        "dashboard.html",
        {
            "cases": rows,
            "case_count": cases.count_cases_for_agency(ctx.db, agency, cap=CASE_COUNT_CAP),
            "case_count_cap": CASE_COUNT_CAP,
            "today": today,
            "soon": today + timedelta(days=3),
            **_workflow_panels(ctx, today),  # issue 6
        },
    )


def _workflow_panels(ctx: Context, today) -> dict:
    """The MDT workflow's panels (issue 6): the coordinator's clock, and my tasks."""
    viewer = ctx.viewer
    panel = None
    if allows(viewer.roles, Permission.MEETING_MANAGE):
        try:
            stale_days = min(max(int(ctx.request.query_params.get("stale_days", 30)), 1), 3650)
        except ValueError:
            stale_days = 30
        panel = convening.coordinator_panel(
            ctx.db, viewer.agency, today=today, stale_days=stale_days
        )
    my_tasks = None
    if allows(viewer.roles, Permission.TASK_READ):
        my_tasks = tasks.task_list(ctx.db, viewer.user, viewer.agency, tasks.TaskFilter(), limit=10)
    return {"panel": panel, "my_tasks": my_tasks}
