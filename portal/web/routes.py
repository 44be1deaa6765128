"""Every page and fragment of the portal, each with the permission it needs."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import portal.web.audit_pages as audit_pages
import portal.web.client_pages as client_pages  # consent releases (issue 4)
import portal.web.confirm_pages as confirm_pages
import portal.web.consent_pages as consent_pages  # consent releases (issue 4)
import portal.web.mentor_pages as mentor_pages
import portal.web.release_pages as release_pages  # consent releases (issue 4)
from portal.api.routes import api_routes
from portal.auth.permissions import Permission as P
from portal.federation.endpoints import federation_routes
from portal.web import (
    account_pages,
    admin_pages,
    auth_pages,
    dashboard_pages,
    disclosure_pages,
    enrol_pages,
    health_pages,
    policy_pages,
    roster_pages,
    section_pages,
    token_pages,
)
from portal.web.routing import route

# isort: split
from portal.web import workflow_pages  # MDT workflow (issue 6)

# isort: split
from portal.web import screening_pages  # screening and safety plans (issue 20)

STATIC_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "static"


def routes() -> list:
    return [
        route("/healthz", health_pages.healthz, permission=P.PUBLIC),
        Route("/readyz", health_pages.readyz),  # async and bounded: no guard, no session
        route("/login", auth_pages.login_form, permission=P.PUBLIC),
        route("/login", auth_pages.login, permission=P.PUBLIC, methods=("POST",)),
        route("/login/second-factor", auth_pages.second_factor_form, permission=P.SECOND_FACTOR),
        route(
            "/login/second-factor",
            auth_pages.second_factor,
            permission=P.SECOND_FACTOR,
            methods=("POST",),
        ),
        route("/enrol/{secret}", enrol_pages.enrol_form, permission=P.PUBLIC),
        route("/enrol/{secret}", enrol_pages.enrol, permission=P.PUBLIC, methods=("POST",)),
        route("/logout", auth_pages.logout, permission=P.SECOND_FACTOR, methods=("POST",)),
        route("/", dashboard_pages.dashboard, permission=P.DASHBOARD_READ),
        route("/convening/awaiting", dashboard_pages.awaiting_all, permission=P.MEETING_MANAGE),
        route(
            "/convening/without-review",
            dashboard_pages.without_review_all,
            permission=P.MEETING_MANAGE,
        ),
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
            admin_pages.staff_deactivate_page,
            permission=P.STAFF_MANAGE,
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
        # API tokens, managed by the agency lead
        route("/admin/api-tokens", token_pages.token_list, permission=P.API_TOKEN_MANAGE),
        route(
            "/admin/api-tokens",
            token_pages.token_create,
            permission=P.API_TOKEN_MANAGE,
            methods=("POST",),
        ),
        route(
            "/admin/api-tokens/{token_id}/revoke",
            token_pages.token_revoke_page,
            permission=P.API_TOKEN_MANAGE,
        ),
        route(
            "/admin/api-tokens/{token_id}/revoke",
            token_pages.token_revoke,
            permission=P.API_TOKEN_MANAGE,
            methods=("POST",),
        ),
        Mount("/api/v1", routes=api_routes(), name="api"),
        # --- survivor-mentors (issue 7): caseload and log, assignment, program reports ---
        route("/mentor", mentor_pages.caseload, permission=P.ACCOMPANIMENT_LOG),
        route("/mentor/cases/{case_id}", mentor_pages.mentor_case, permission=P.ACCOMPANIMENT_LOG),
        route("/mentor/cases/{case_id}/log", mentor_pages.log_form, permission=P.ACCOMPANIMENT_LOG),
        route(
            "/mentor/cases/{case_id}/log",
            mentor_pages.log_create,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route(
            "/mentor/cases/{case_id}/appointments",
            mentor_pages.appointment_create,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route(
            "/mentor/appointments/{appointment_id}/cancel",
            mentor_pages.appointment_cancel_page,
            permission=P.ACCOMPANIMENT_LOG,
        ),
        route(
            "/mentor/appointments/{appointment_id}/cancel",
            mentor_pages.appointment_cancel,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route(
            "/mentor/accompaniments/{entry_id}/edit",
            mentor_pages.entry_edit_form,
            permission=P.ACCOMPANIMENT_LOG,
        ),
        route(
            "/mentor/accompaniments/{entry_id}/edit",
            mentor_pages.entry_edit,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route(
            "/mentor/accompaniments/{entry_id}/delete",
            mentor_pages.entry_delete_page,
            permission=P.ACCOMPANIMENT_LOG,
        ),
        route(
            "/mentor/accompaniments/{entry_id}/delete",
            mentor_pages.entry_delete,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route("/mentoring/assignments", mentor_pages.assignments, permission=P.MENTOR_ASSIGN),
        route("/mentoring/cases/{case_id}", mentor_pages.assign_page, permission=P.MENTOR_ASSIGN),
        route(
            "/mentoring/cases/{case_id}/assign",
            mentor_pages.assign,
            permission=P.MENTOR_ASSIGN,
            methods=("POST",),
        ),
        route(
            "/mentoring/cases/{case_id}/end",
            mentor_pages.end_assignment,
            permission=P.MENTOR_ASSIGN,
            methods=("POST",),
        ),
        route("/mentoring/program", mentor_pages.program, permission=P.MENTOR_REPORT_READ),
        route(
            "/mentoring/mentors/{user_id}",
            mentor_pages.program_mentor,
            permission=P.MENTOR_REPORT_READ,
        ),
        route(
            "/mentoring/accompaniments/{entry_id}",
            mentor_pages.program_entry,
            permission=P.MENTOR_REPORT_READ,
        ),
        route("/mentoring/reports", mentor_pages.reports, permission=P.MENTOR_REPORT_READ),
        route("/mentoring/reports.csv", mentor_pages.reports_csv, permission=P.MENTOR_REPORT_READ),
        # --- end survivor-mentors ---
        # consent releases (issue 4): clients of the viewer's own agency, their releases,
        # verifying a signed release and the agencies' public keys
        route("/clients", client_pages.client_list, permission=P.CLIENT_READ),
        route(
            "/clients/search",
            client_pages.client_search,
            permission=P.CLIENT_READ,
            methods=("POST",),
        ),
        route("/clients/new", client_pages.client_new, permission=P.CLIENT_WRITE),
        route("/clients", client_pages.client_create, permission=P.CLIENT_WRITE, methods=("POST",)),
        route("/clients/{client_id}", client_pages.client_detail, permission=P.CLIENT_READ),
        route(
            "/clients/{client_id}/restricted-persons",
            client_pages.restricted_person_create,
            permission=P.CLIENT_WRITE,
            methods=("POST",),
        ),
        # consent for minors and in the client's language (issue 19)
        route(
            "/clients/{client_id}/language",
            client_pages.language_update,
            permission=P.CLIENT_WRITE,
            methods=("POST",),
        ),
        route(
            "/restrictions/{restriction_id}/end",
            client_pages.restriction_end_page,
            permission=P.RESTRICTION_END,
        ),
        route(
            "/restrictions/{restriction_id}/end",
            client_pages.restriction_end,
            permission=P.RESTRICTION_END,
            methods=("POST",),
        ),
        route(
            "/clients/{client_id}/compelled-disclosures",
            client_pages.compelled_disclosure_create,
            permission=P.COMPELLED_DISCLOSURE_RECORD,
            methods=("POST",),
        ),
        route(
            "/clients/{client_id}/releases/new",
            release_pages.release_new,
            permission=P.RELEASE_MANAGE,
        ),
        route(
            "/clients/{client_id}/releases",
            release_pages.release_create,
            permission=P.RELEASE_MANAGE,
            methods=("POST",),
        ),
        route("/releases/{release_id}", release_pages.release_detail, permission=P.RELEASE_READ),
        route(
            "/releases/{release_id}/print", release_pages.release_print, permission=P.RELEASE_READ
        ),
        route(
            "/releases/{release_id}/sign",
            release_pages.release_sign,
            permission=P.RELEASE_MANAGE,
            methods=("POST",),
        ),
        # Destructive actions ask first, on a page of their own (issue 17)
        route(
            "/releases/{release_id}/revoke",
            release_pages.release_revoke_page,
            permission=P.RELEASE_MANAGE,
        ),
        route(
            "/releases/{release_id}/discard",
            release_pages.release_discard_page,
            permission=P.RELEASE_MANAGE,
        ),
        route(
            "/meetings/{meeting_id}/cancel",
            confirm_pages.meeting_cancel_page,
            permission=P.MEETING_MANAGE,
        ),
        route("/cases/{case_id}/close", confirm_pages.case_close_page, permission=P.CASE_CREATE),
        route(
            "/cases/{case_id}/withdraw-link",
            confirm_pages.withdraw_link_page,
            permission=P.CASE_LINK_CONFIRM,
        ),
        route(
            "/meetings/{meeting_id}/hold",
            confirm_pages.meeting_hold_page,
            permission=P.MEETING_MANAGE,
        ),
        route(
            "/meetings/{meeting_id}/items/{item_id}/reviewed",
            confirm_pages.item_reviewed_page,
            permission=P.MEETING_MANAGE,
        ),
        route(
            "/releases/{release_id}/revoke",
            release_pages.release_revoke,
            permission=P.RELEASE_MANAGE,
            methods=("POST",),
        ),
        route(
            "/releases/{release_id}/discard",
            release_pages.release_discard,
            permission=P.RELEASE_MANAGE,
            methods=("POST",),
        ),
        route(
            "/releases/{release_id}/signed.json",
            release_pages.release_signed_json,
            permission=P.RELEASE_READ,
        ),
        route(
            "/releases/{release_id}/fhir.json",
            release_pages.release_fhir,
            permission=P.RELEASE_READ,
        ),
        route("/consent/verify", consent_pages.verify_form, permission=P.RELEASE_VERIFY),
        route(
            "/consent/verify",
            consent_pages.verify,
            permission=P.RELEASE_VERIFY,
            methods=("POST",),
        ),
        route("/consent/keys", consent_pages.public_keys, permission=P.KEY_READ),
        # Audit log (issue 5, audit log): the agency lead's own log only
        route("/audit", audit_pages.audit_log_page, permission=P.AUDIT_READ),
        route("/audit/export.csv", audit_pages.audit_export, permission=P.AUDIT_READ),
        route("/audit/accounting", audit_pages.accounting_page, permission=P.AUDIT_READ),
        route("/audit/checkpoint.json", audit_pages.checkpoint_download, permission=P.AUDIT_READ),
        route(
            "/audit/checkpoint",
            audit_pages.audit_checkpoint,
            permission=P.AUDIT_CHECKPOINT,
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
        # Screening, the risk screen, mandated reports, the survivor's plan (issue 20)
        *screening_routes(),
        route("/agency/policy", policy_pages.policy_page, permission=P.POLICY_READ),
        route(
            "/agency/policy", policy_pages.policy_add, permission=P.POLICY_MANAGE, methods=("POST",)
        ),
        route(
            "/agency/policy/{line_id}/remove",
            policy_pages.policy_remove_page,
            permission=P.POLICY_MANAGE,
        ),
        route(
            "/agency/policy/{line_id}/remove",
            policy_pages.policy_retire,
            permission=P.POLICY_MANAGE,
            methods=("POST",),
        ),
        route(
            "/agency/policy/legal-bases",
            policy_pages.legal_basis_add,
            permission=P.POLICY_MANAGE,
            methods=("POST",),
        ),
        route(
            "/agency/policy/legal-bases/{basis_id}/retire",
            policy_pages.legal_basis_retire_page,
            permission=P.POLICY_MANAGE,
        ),
        route(
            "/agency/policy/legal-bases/{basis_id}/retire",
            policy_pages.legal_basis_retire,
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
                ("withdraw-link", workflow_pages.case_withdraw_link, P.CASE_LINK_CONFIRM),
                ("remote-link", workflow_pages.case_remote_link, P.CASE_CREATE),  # issue 16
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
        # Integration of issues 5-7: a mentor's follow-up becomes an MDT task
        route(
            "/mentor/accompaniments/{entry_id}/task",
            mentor_pages.entry_task,
            permission=P.ACCOMPANIMENT_LOG,
            methods=("POST",),
        ),
        route("/roster", roster_pages.roster_page, permission=P.ROSTER_READ),
        *federation_routes(),  # node to node, each request signed (issue 16)
        Mount("/static", app=public_static(), name="static"),
    ]


def public_static() -> StaticFiles:
    static = StaticFiles(directory=str(STATIC_DIR))
    static.permission = P.PUBLIC  # stylesheets and htmx: no survivor data lives here
    return static


def screening_routes() -> list:
    """Issue 20: every page of an own client's screenings, risk screens and safety plan."""
    base = "/clients/{client_id}"
    one = base + "/screenings/{screening_id}"
    screen = base + "/risk-screens/{screen_id}"
    post = ("POST",)
    return [
        route(base + "/screenings", screening_pages.screening_list, permission=P.SECTION_READ),
        route(
            base + "/screenings",
            screening_pages.screening_create,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(one, screening_pages.screening_detail, permission=P.SECTION_READ),
        route(one, screening_pages.screening_edit, permission=P.SECTION_WRITE, methods=post),
        route(
            one + "/finalise", screening_pages.screening_finalise_page, permission=P.SECTION_WRITE
        ),
        route(
            one + "/finalise",
            screening_pages.screening_finalise,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(
            one + "/amend",
            screening_pages.screening_amend,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(
            one + "/choice",
            screening_pages.screening_choice,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(
            one + "/mdt-path",
            screening_pages.screening_mdt_path,
            permission=P.CASE_CREATE,
            methods=post,
        ),
        route(
            one + "/reports",
            screening_pages.screening_report,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(screen, screening_pages.risk_screen_page, permission=P.SECTION_READ),
        route(screen, screening_pages.risk_screen_record, permission=P.SECTION_WRITE, methods=post),
        route(
            screen + "/people",
            screening_pages.risk_screen_person,
            permission=P.SECTION_WRITE,
            methods=post,
        ),
        route(
            base + "/safety-plan/print",
            screening_pages.safety_plan_print,
            permission=P.SECTION_READ,
        ),
        # A minor a partner's disclosure point referred to the coordinating agency
        route(
            "/referrals/{agency_id}/{referral_id}",
            screening_pages.referral_page,
            permission=P.CASE_CREATE,
        ),
        route(
            "/referrals/{agency_id}/{referral_id}",
            screening_pages.referral_open_case,
            permission=P.CASE_CREATE,
            methods=post,
        ),
    ]
