"""Every page and fragment of the portal, each with the permission it needs."""

from __future__ import annotations

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from portal.auth.permissions import Permission as P
from portal.web import (
    account_pages,
    admin_pages,
    auth_pages,
    dashboard_pages,
    disclosure_pages,
    health_pages,
    policy_pages,
    section_pages,
)
from portal.web.routing import route

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
        # Sections, disclosure policy, case summary and release preview (issue 5)
        route(
            "/clients/{client_id}/sections", section_pages.section_list, permission=P.SECTION_READ
        ),
        route(
            "/clients/{client_id}/sections/{key}",
            section_pages.section_form,
            permission=P.SECTION_READ,
        ),
        route(
            "/clients/{client_id}/sections/{key}",
            section_pages.section_save,
            permission=P.SECTION_WRITE,
            methods=("POST",),
        ),
        route("/agency/policy", policy_pages.policy_page, permission=P.POLICY_READ),
        route(
            "/agency/policy", policy_pages.policy_add, permission=P.POLICY_MANAGE, methods=("POST",)
        ),
        route(
            "/agency/policy/{line_id}/remove",
            policy_pages.policy_retire,
            permission=P.POLICY_MANAGE,
            methods=("POST",),
        ),
        route("/cases/{case_id}/summary", disclosure_pages.summary, permission=P.CASE_SUMMARY_READ),
        route(
            "/cases/{case_id}/summary/owners/{agency_id}",
            disclosure_pages.owner_block,
            permission=P.CASE_SUMMARY_READ,
        ),
        route(
            "/releases/{release_id}/preview",
            disclosure_pages.release_preview,
            permission=P.RELEASE_PREVIEW,
        ),
        Mount("/static", app=public_static(), name="static"),
    ]


def public_static() -> StaticFiles:
    static = StaticFiles(directory=str(STATIC_DIR))
    static.permission = P.PUBLIC  # stylesheets and htmx: no survivor data lives here
    return static
