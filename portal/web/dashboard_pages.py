"""The dashboard: what the signed-in person's agency has on the MDT's plate."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

import consent
from portal.auth.permissions import Permission, allows
from portal.federation import membership, referrals
from portal.federation import summary as federated_summary
from portal.models import Role
from portal.requester import Requester
from portal.services import (
    alerts,
    audit_figures,
    cases,
    convening,
    node_overview,
    screening_panel,
    tasks,
)
from portal.web import mentor_pages
from portal.web.context import Context
from portal.web.render import render

CASE_COUNT_CAP = 1000  # issue 6: the dashboard stays as quick at 100,000 cases


def dashboard(ctx: Context) -> Response:
    if Role.ADMINISTRATOR in ctx.viewer.roles and not allows(
        ctx.viewer.roles, Permission.CASE_READ
    ):
        return administrator_dashboard(ctx)
    stale_days = _stale_days(ctx)
    values = dashboard_values(
        ctx.db,
        ctx.viewer,
        settings=ctx.settings,
        now=ctx.now,
        keys=ctx.request.app.state.keys,
        between=ctx.db.commit,  # the owners' answers (tasks' text) are their own transaction
        stale_days=stale_days,
        federation=ctx.request.app.state.federation,
    )
    return render(ctx, "dashboard.html", values)


def _stale_days(ctx: Context) -> int:
    try:
        return min(max(int(ctx.request.query_params.get("stale_days", 30)), 1), 3650)
    except ValueError:
        return 30


def _page_number(ctx: Context) -> int:
    try:
        return min(max(int(ctx.request.query_params.get("page", 1)), 1), 10_000)
    except ValueError:
        return 1


LIST_PAGE_SIZE = 100  # the dashboard's clock lists in full, a page at a time


def awaiting_all(ctx: Context) -> Response:
    """Every case awaiting its first MDT: the dashboard shows the first 25."""
    page = _page_number(ctx)
    today = convening.local_today(ctx.now, ctx.settings.tz)
    rows = convening.awaiting_first_mdt(
        ctx.db,
        ctx.viewer.agency,
        today=today,
        limit=LIST_PAGE_SIZE + 1,  # one more than shown: is there a next page
        offset=(page - 1) * LIST_PAGE_SIZE,
    )
    return render(
        ctx,
        "workflow/awaiting_all.html",
        {
            "rows": rows[:LIST_PAGE_SIZE],
            "total": convening.count_awaiting(ctx.db, ctx.viewer.agency),
            "page": page,
            "first": (page - 1) * LIST_PAGE_SIZE + 1,
            "more": len(rows) > LIST_PAGE_SIZE,
        },
    )


def without_review_all(ctx: Context) -> Response:
    """Every case without a review in the chosen days: the dashboard shows the first 20."""
    page, stale_days = _page_number(ctx), _stale_days(ctx)
    total, rows = convening.without_review(
        ctx.db,
        ctx.viewer.agency,
        today=convening.local_today(ctx.now, ctx.settings.tz),
        days=stale_days,
        limit=LIST_PAGE_SIZE + 1,
        offset=(page - 1) * LIST_PAGE_SIZE,
    )
    return render(
        ctx,
        "workflow/without_review_all.html",
        {
            "rows": rows[:LIST_PAGE_SIZE],
            "total": total,
            "total_cap": convening.STALE_COUNT_CAP,
            "stale_days": stale_days,
            "page": page,
            "first": (page - 1) * LIST_PAGE_SIZE + 1,
            "more": len(rows) > LIST_PAGE_SIZE,
        },
    )


def dashboard_values(
    db, viewer, *, settings, now, keys, between=None, stale_days: int = 30, federation=None
) -> dict:
    """Everything the dashboard shows this viewer; also called by `portal bench workflow`.

    The tasks' text and the partners' referrals of minors come from each owner's disclosure
    point; `between` as in `portal.services.case_records.decide`. `federation`: how partners
    on other nodes, and the nodes of survivors served elsewhere, are asked (None: they are
    shown as not asked, and the MDT records those survivors' consent decides withheld)."""
    agency = viewer.agency
    today = now.astimezone(settings.tz).date()
    panel = None
    if allows(viewer.roles, Permission.MEETING_MANAGE):  # the coordinator's clock (issue 6)
        panel = convening.coordinator_panel(db, agency, today=today, stale_days=stale_days)
    screening_rows = None
    if allows(viewer.roles, Permission.MEETING_MANAGE):  # issue 20: the coordinator's rows
        # Minors partners' points refer to the MDT's coordinating agency (asked each time).
        partners = referrals.coordinator_referrals(
            db,
            Requester.of(viewer.user, agency, viewer.roles),
            configured=settings.coordinating_agency,
            at=now,
            tz=settings.tz,
            age_of_majority=settings.age_of_majority,
            keys=keys,
            federation=federation,
            between=between,
        )
        screening_rows = screening_panel.screening_panel(
            db,
            agency,
            requester=Requester.of(viewer.user, agency, viewer.roles),
            now=now,
            tz=settings.tz,
            today=today,
            due_hours=settings.screening_due_hours,
            partners=partners,
        )
    my_tasks, more_tasks = None, False
    holder = cases.caseload_holder(viewer)
    if allows(viewer.roles, Permission.TASK_READ):
        # One more than are shown: the count says "10+" rather than a wrong 10.
        listed = tasks.task_list(
            db, viewer.user, agency, tasks.TaskFilter(), limit=11, holder=holder
        )
        more_tasks = len(listed) > 10
        my_tasks = federated_summary.tasks_with_text(
            db,
            Requester.of(
                viewer.user, agency, viewer.roles, purpose=consent.Purpose.MDT_CASE_REVIEW.value
            ),
            listed[:10],
            at=now,
            tz=settings.tz,
            keys=keys,
            federation=federation,
            between=between,
        )
    mou_reviews = None
    if allows(viewer.roles, Permission.MEETING_MANAGE) and (
        membership.coordinating_agency_id(db) == agency.public_id
    ):  # issue 16: the coordinating agency keeps the MOUs under review
        mou_reviews = membership.mou_reviews_due(db, today=today)
    refused = lead = None
    if allows(viewer.roles, Permission.AUDIT_READ):  # the lead's eye on its own log
        refused = alerts.for_lead(db, agency, now=now)
        lead = audit_figures.lead_figures(db, agency, today=today, tz=settings.tz)
    return {
        "alerts": refused,
        "lead": lead,
        "cases": cases.cases_for_agency(
            db, agency, window_days=settings.convening_window_days, holder=holder
        ),
        "case_count": cases.count_cases_for_agency(db, agency, cap=CASE_COUNT_CAP, holder=holder),
        "case_count_cap": CASE_COUNT_CAP,
        "cases_held": holder is not None,
        "today": today,
        "soon": today + timedelta(days=3),
        "mentoring": mentor_pages.dashboard_panel(db, viewer, now=now, settings=settings),
        "panel": panel,
        "my_tasks": my_tasks,
        "more_tasks": more_tasks,
        "screening_panel": screening_rows,
        "mou_reviews": mou_reviews,
    }


def administrator_dashboard(ctx: Context) -> Response:
    """The node's administrator runs the node and reads no case: agencies, staff, sessions,
    keys and the node's health, each linked to the page where it is managed."""
    return render(
        ctx,
        "admin/dashboard.html",
        {
            "lines": node_overview.agency_lines(
                ctx.db,
                now=ctx.now,
                idle=ctx.request.app.state.session_idle,
                absolute=ctx.request.app.state.session_absolute,
            ),
            "health": node_overview.node_health(
                ctx.db, ratelimit_storage=ctx.settings.ratelimit_storage
            ),
        },
    )
