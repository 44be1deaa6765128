"""Every page and fragment of the portal, each with the permission it needs."""

from __future__ import annotations

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from portal.auth.permissions import Permission as P
from portal.web import account_pages, admin_pages, auth_pages, dashboard_pages, health_pages
from portal.web.routing import route

# isort: split
from portal.web import workflow_pages  # MDT workflow (issue 6)

STATIC_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "static"


def routes() -> list:
    return [
        route("/healthz", health_pages.healthz, permission=P.PUBLIC),
        route("/readyz", health_pages.readyz, permission=P.PUBLIC),
        route("/login", auth_pages.login_form, permission=P.PUBLIC),
        route("/login", auth_pages.login, permission=P.PUBLIC, methods=("POST",)),
        route("/login/second-factor", auth_pages.second_factor_form, permission=P.SECOND_FACTOR),
        route(
            "/login/second-factor",
            auth_pages.second_factor,
            permission=P.SECOND_FACTOR,
            methods=("POST",),
        ),
        route("/logout", auth_pages.logout, permission=P.SECOND_FACTOR, methods=("POST",)),
        route("/", dashboard_pages.dashboard, permission=P.DASHBOARD_READ),
        route("/account", account_pages.account, permission=P.ACCOUNT_MANAGE),
        route(
            "/account/password",
            account_pages.change_password,
            permission=P.ACCOUNT_MANAGE,
            methods=("POST",),
        ),
        route("/account/second-factor", account_pages.enrol_form, permission=P.SECOND_FACTOR),
        route(
            "/account/second-factor",
            account_pages.enrol,
            permission=P.SECOND_FACTOR,
            methods=("POST",),
        ),
        route(
            "/account/second-factor/recovery-codes",
            account_pages.regenerate_codes,
            permission=P.ACCOUNT_MANAGE,
            methods=("POST",),
        ),
        route(
            "/account/second-factor/disable",
            account_pages.disable_second_factor,
            permission=P.ACCOUNT_MANAGE,
            methods=("POST",),
        ),
        route("/admin/agencies", admin_pages.agency_list, permission=P.AGENCY_READ),
        route("/admin/agencies/new", admin_pages.agency_new, permission=P.AGENCY_CREATE),
        route(
            "/admin/agencies",
            admin_pages.agency_create,
            permission=P.AGENCY_CREATE,
            methods=("POST",),
        ),
        route("/admin/agencies/{agency_id}", admin_pages.agency_detail, permission=P.AGENCY_READ),
        route(
            "/admin/agencies/{agency_id}/settings",
            admin_pages.agency_settings,
            permission=P.AGENCY_UPDATE,
            methods=("POST",),
        ),
        route(
            "/admin/agencies/{agency_id}/staff/new",
            admin_pages.staff_new,
            permission=P.STAFF_MANAGE,
        ),
        route(
            "/admin/agencies/{agency_id}/staff",
            admin_pages.staff_create,
            permission=P.STAFF_MANAGE,
            methods=("POST",),
        ),
        route("/admin/staff/{user_id}", admin_pages.staff_detail, permission=P.STAFF_READ),
        route(
            "/admin/staff/{user_id}/roles",
            admin_pages.staff_roles,
            permission=P.STAFF_MANAGE,
            methods=("POST",),
        ),
        route(
            "/admin/staff/{user_id}/deactivate",
            admin_pages.staff_deactivate,
            permission=P.STAFF_MANAGE,
            methods=("POST",),
        ),
        route(
            "/admin/staff/{user_id}/reactivate",
            admin_pages.staff_reactivate,
            permission=P.STAFF_MANAGE,
            methods=("POST",),
        ),
        route(
            "/admin/staff/{user_id}/end-sessions",
            admin_pages.staff_end_sessions,
            permission=P.SESSION_END,
            methods=("POST",),
        ),
        # MDT workflow (issue 6): cases at intake, meetings, tasks, calendars, packets
        route("/cases/new", workflow_pages.case_new, permission=P.CASE_CREATE),
        route("/cases", workflow_pages.case_create, permission=P.CASE_CREATE, methods=("POST",)),
        route("/cases/{case_id}", workflow_pages.case_detail, permission=P.CASE_READ),
        route("/cases/{case_id}/packet", workflow_pages.case_packet, permission=P.CASE_READ),
        *[
            route(
                f"/cases/{{case_id}}/{action}",
                handler,
                permission=permission,
                methods=("POST",),
            )
            for action, handler, permission in (
                ("close", workflow_pages.case_close, P.CASE_CREATE),
                ("reopen", workflow_pages.case_reopen, P.CASE_CREATE),
                ("agencies", workflow_pages.case_add_agency, P.CASE_CREATE),
                ("cadence", workflow_pages.case_cadence, P.CASE_CREATE),
                ("link", workflow_pages.case_confirm_link, P.CASE_LINK_CONFIRM),
                ("tasks", workflow_pages.case_task_create, P.TASK_CREATE),
            )
        ],
        route("/meetings", workflow_pages.meeting_list, permission=P.MEETING_READ),
        route("/meetings/new", workflow_pages.meeting_new, permission=P.MEETING_MANAGE),
        route(
            "/meetings",
            workflow_pages.meeting_create,
            permission=P.MEETING_MANAGE,
            methods=("POST",),
        ),
        route("/meetings/{meeting_id}", workflow_pages.meeting_detail, permission=P.MEETING_READ),
        route(
            "/meetings/{meeting_id}/calendar.ics",
            workflow_pages.meeting_ics,
            permission=P.MEETING_READ,
        ),
        *[
            route(
                f"/meetings/{{meeting_id}}/{action}",
                handler,
                permission=P.MEETING_MANAGE,
                methods=("POST",),
            )
            for action, handler in (
                ("reschedule", workflow_pages.meeting_reschedule),
                ("cancel", workflow_pages.meeting_cancel),
                ("hold", workflow_pages.meeting_hold),
                ("agenda", workflow_pages.meeting_agenda_add),
                ("attendance", workflow_pages.meeting_attendance),
                ("recommendation-types", workflow_pages.meeting_recommendation_add),
                ("recommendation-types/active", workflow_pages.meeting_recommendation_toggle),
                ("items/{item_id}/minutes", workflow_pages.item_minutes),
                ("items/{item_id}/decisions", workflow_pages.item_decision),
                ("items/{item_id}/reviewed", workflow_pages.item_reviewed),
            )
        ],
        route("/tasks", workflow_pages.task_list, permission=P.TASK_READ),
        route("/tasks/{task_id}", workflow_pages.task_detail, permission=P.TASK_READ),
        route(
            "/tasks/{task_id}/status",
            workflow_pages.task_status,
            permission=P.TASK_UPDATE,
            methods=("POST",),
        ),
        route(
            "/tasks/{task_id}/edit",
            workflow_pages.task_update,
            permission=P.TASK_UPDATE,
            methods=("POST",),
        ),
        route(
            "/tasks/{task_id}/comments",
            workflow_pages.task_comment,
            permission=P.TASK_UPDATE,
            methods=("POST",),
        ),
        route(
            "/account/calendar-feed",
            workflow_pages.feed_issue,
            permission=P.ACCOUNT_MANAGE,
            methods=("POST",),
        ),
        route(
            "/account/calendar-feed/revoke",
            workflow_pages.feed_revoke,
            permission=P.ACCOUNT_MANAGE,
            methods=("POST",),
        ),
        # The feed is fetched by calendar apps without a session: the token authenticates.
        route("/calendar/{token}", workflow_pages.calendar_feed, permission=P.PUBLIC),
        # end of MDT workflow (issue 6)
        Mount("/static", app=public_static(), name="static"),
    ]


def public_static() -> StaticFiles:
    static = StaticFiles(directory=str(STATIC_DIR))
    static.permission = P.PUBLIC  # stylesheets and htmx: no survivor data lives here
    return static
