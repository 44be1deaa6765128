"""Survivor-mentor pages: the mentor's caseload and log (phone-first), assignment for
coordinators and program leads, and the program lead's reports."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from starlette.responses import RedirectResponse, Response

import consent
from portal.auth.permissions import Permission, allows
from portal.errors import Invalid, NotFound
from portal.federation import summary as federated_summary
from portal.models import (
    AccompanimentKind,
    CaseStatus,
    MdtCase,
    Outcome,
    PlaceType,
    Role,
    StaffUser,
)
from portal.services import (
    casework,
    mentor_appointments,
    mentor_assignments,
    mentor_caseload,
    mentor_program,
    mentor_reports,
    mentor_tasks,
    mentoring,
    submissions,
)
from portal.services.csv_cells import safe_cell
from portal.web import confirm_pages, mentor_chart, mentor_forms
from portal.web.context import Context
from portal.web.render import in_zone, render

ENTRY_FORM_FIELDS = (
    "occurred_on",
    "kind",
    "duration_minutes",
    "place_type",
    "outcome",
    "follow_up_needed",
    "follow_up",
    "notes",
)


def _entry_form(ctx: Context) -> dict[str, str]:
    return {k: ctx.field(k) for k in ENTRY_FORM_FIELDS}


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.settings.tz).date()


def _choices() -> dict:
    return {"kinds": list(AccompanimentKind), "places": list(PlaceType), "outcomes": list(Outcome)}


def _param(ctx: Context, name: str) -> str:
    return ctx.request.path_params[name]


# --- the dashboard panel ----------------------------------------------------------------


UNASSIGNED_COUNT_CAP = 1000  # like the dashboard's case count: "1000+" says enough


def dashboard_panel(db, viewer, *, now, settings) -> dict:
    """What the dashboard's survivor-mentor panel shows this viewer (empty: no panel)."""
    panel: dict = {}
    if allows(viewer.roles, Permission.ACCOMPANIMENT_LOG):
        today = now.astimezone(settings.tz).date()
        rows = mentor_caseload.caseload(db, viewer.user, now=now, today=today)
        panel["caseload"] = rows
        panel["next"] = min((r for r in rows if r.next_at), key=lambda r: r.next_at, default=None)
    if allows(viewer.roles, Permission.MENTOR_ASSIGN) and (
        Role.MDT_COORDINATOR in viewer.roles or mentor_program.is_program_lead(viewer)
    ):
        panel["unassigned"] = mentor_assignments.assignment_overview(
            db, viewer, tz=settings.tz, unassigned_only=True, limit=8
        )
        panel["unassigned_count"] = mentor_assignments.count_unassigned(
            db, viewer, cap=UNASSIGNED_COUNT_CAP
        )
        panel["unassigned_count_cap"] = UNASSIGNED_COUNT_CAP
    if mentor_program.is_program_lead(viewer):
        panel["program_lead"] = True
    return panel


# --- the mentor's own pages -------------------------------------------------------------


def caseload(ctx: Context) -> Response:
    return render(
        ctx,
        "mentoring/caseload.html",
        {
            "rows": mentor_caseload.caseload(
                ctx.db, ctx.viewer.user, now=ctx.now, today=_today(ctx)
            ),
            "open_tasks": mentor_tasks.open_task_counts(ctx.db, ctx.viewer.user),
            "upcoming": mentor_appointments.upcoming_for_mentor(
                ctx.db, ctx.viewer.user, start=ctx.now, end=ctx.now + timedelta(days=30)
            ),
            "tz": ctx.settings.tz,
        },
    )


def _case_page(
    ctx: Context,
    case,
    *,
    status: int = 200,
    errors: dict | None = None,
    task_entry: str | None = None,
):
    if status >= 400:
        # Shown again beside a failed form: what the form left is dropped first, and the
        # reads of the tasks' text below (audited by their owners) are kept through the 4xx.
        ctx.db.rollback()
        ctx.keep_on_error = True
    entries = mentoring.program_entries(ctx.db, ctx.viewer.agency, case=case, limit=30)
    mentoring.record_entries_read(
        ctx.db,
        entries,
        requester=ctx.requester,
        agency_id=ctx.viewer.agency.id,
        shown_in="mentor's case page",
        at=ctx.now,
    )
    return render(
        ctx,
        "mentoring/case.html",
        {
            "case": case,
            "entries": entries,
            # Follow-ups already made into MDT tasks, and the one whose task form failed.
            "entry_tasks": mentor_tasks.tasks_of_entries(
                ctx.db,
                ctx.requester,
                [e.public_id for e in entries],
                at=ctx.now,
                tz=ctx.settings.tz,
                keys=ctx.request.app.state.keys,
            ),
            "task_entry": task_entry,
            "task_values": {k: ctx.field(k) for k in ("title", "due_date")},
            "upcoming": [
                u
                for u in mentor_appointments.upcoming_for_mentor(
                    ctx.db, ctx.viewer.user, start=ctx.now, end=ctx.now + timedelta(days=730)
                )
                if u.case_public_id == case.public_id
            ],
            "errors": errors or {},
            "values": {k: ctx.field(k) for k in ("date", "time", "kind", "place_type")},
            "today": _today(ctx),
            "tz": ctx.settings.tz,
            "now": ctx.now,
            "edit_window": mentoring.EDIT_WINDOW,
            **_choices(),
        },
        status=status,
    )


def mentor_case(ctx: Context) -> Response:
    case = mentor_caseload.access_caseload_case(ctx.db, ctx.viewer.user, _param(ctx, "case_id"))
    return _case_page(ctx, case)


def _log_form(ctx: Context, case, *, status: int = 200, errors: dict | None = None):
    values = {k: ctx.field(k) for k in ENTRY_FORM_FIELDS}
    if ctx.request.method == "GET":
        values["occurred_on"] = _today(ctx).isoformat()
    return render(
        ctx,
        "mentoring/log.html",
        {
            "case": case,
            "values": values,
            "errors": errors or {},
            "action": f"/mentor/cases/{case.public_id}/log",
            "mode": "log",
            **_choices(),
        },
        status=status,
    )


def log_form(ctx: Context) -> Response:
    case = mentor_caseload.access_caseload_case(ctx.db, ctx.viewer.user, _param(ctx, "case_id"))
    if case.status != CaseStatus.OPEN:  # nothing can be logged on it: its page says why
        return RedirectResponse(f"/mentor/cases/{case.public_id}", status_code=303)
    return _log_form(ctx, case)


def log_create(ctx: Context) -> Response:
    case = mentor_caseload.access_caseload_case(ctx.db, ctx.viewer.user, _param(ctx, "case_id"))
    try:
        given = mentor_forms.read_accompaniment(_entry_form(ctx), today=_today(ctx))
        if not submissions.first_time(ctx.db, ctx.field(submissions.FIELD), at=ctx.now):
            ctx.flash(f"Already logged for {case.reference}: the form was sent twice, saved once.")
            return RedirectResponse("/mentor", status_code=303)
        mentoring.log_accompaniment(ctx.db, case, given=given, actor=ctx.viewer.user, at=ctx.now)
    except Invalid as error:
        return _log_form(ctx, case, status=error.status_code, errors=error.errors)
    ctx.flash(f"Accompaniment logged for {case.reference}.")
    return RedirectResponse("/mentor", status_code=303)


def appointment_create(ctx: Context) -> Response:
    case = mentor_caseload.access_caseload_case(ctx.db, ctx.viewer.user, _param(ctx, "case_id"))
    try:
        given = mentor_forms.read_appointment(
            {k: ctx.field(k) for k in ("date", "time", "kind", "place_type")},
            tz=ctx.settings.tz,
            now=ctx.now,
        )
        if submissions.first_time(ctx.db, ctx.field(submissions.FIELD), at=ctx.now):
            mentor_appointments.add_appointment(
                ctx.db, case, given=given, actor=ctx.viewer.user, at=ctx.now
            )
    except Invalid as error:
        return _case_page(ctx, case, status=error.status_code, errors=error.errors)
    ctx.flash("Date added to your caseload.")
    return RedirectResponse(f"/mentor/cases/{case.public_id}", status_code=303)


def entry_task(ctx: Context) -> Response:
    """The mentor makes an MDT task of an entry's follow-up, assigned to themselves."""
    entry_id = _param(ctx, "entry_id")
    entry = mentoring.access_own_entry(ctx.db, ctx.viewer.user, entry_id)
    case = ctx.db.get(MdtCase, entry.case_id)
    try:
        task = mentor_tasks.task_from_follow_up(
            ctx.db,
            ctx.viewer.user,
            entry_id,
            title=ctx.field("title"),
            due_date=ctx.field("due_date"),
            at=ctx.now,
            today=_today(ctx),
        )
    except Invalid as error:  # 400 beside the field, 409 when made already
        return _case_page(
            ctx, case, status=error.status_code, errors=error.errors, task_entry=entry_id
        )
    ctx.flash(f"Task “{task.title}” is on {case.reference}, assigned to you.")
    return RedirectResponse(f"/mentor/cases/{case.public_id}#entry-{entry_id}", status_code=303)


def appointment_cancel_page(ctx: Context) -> Response:
    """Asks before cancelling a court date or appointment: one tap on a phone otherwise."""
    appointment = mentor_appointments.own_appointment(
        ctx.db, ctx.viewer.user, _param(ctx, "appointment_id")
    )
    case = ctx.db.get(MdtCase, appointment.case_id)
    back = f"/mentor/cases/{case.public_id}"
    when = in_zone(appointment.starts_at, ctx.settings.tz, "weekday")
    kind = AccompanimentKind(appointment.kind).label
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title="Cancel this date?",
            consequences=[
                f"The {kind.lower()} of {when} on {case.reference} leaves your upcoming "
                "dates and the program's calendar.",
                "It cannot be undone: if it is on again, your program adds it again.",
            ],
            action=f"/mentor/appointments/{appointment.public_id}/cancel",
            button="Cancel the date",
            back=back,
            back_label=f"Back to {case.reference}",
            keep="Keep the date",
        ),
    )


def appointment_cancel(ctx: Context) -> Response:
    appointment = mentor_appointments.cancel_appointment(
        ctx.db, ctx.viewer.user, _param(ctx, "appointment_id"), at=ctx.now
    )
    case = ctx.db.get(MdtCase, appointment.case_id)
    ctx.flash("Date cancelled.")
    return RedirectResponse(f"/mentor/cases/{case.public_id}", status_code=303)


def _edit_form(ctx: Context, entry, *, status: int = 200, errors: dict | None = None):
    if ctx.request.method == "GET":
        values = {k: getattr(entry, k) for k in ENTRY_FORM_FIELDS}
        values["occurred_on"] = entry.occurred_on.isoformat()
        values["follow_up_needed"] = "on" if entry.follow_up_needed else ""
        values["follow_up"] = entry.follow_up or ""
        values["notes"] = entry.notes or ""
        values["reason"] = ""
    else:
        values = {k: ctx.field(k) for k in (*ENTRY_FORM_FIELDS, "reason")}
    inside = mentoring.editable(entry, ctx.now)
    return render(
        ctx,
        "mentoring/log.html",
        {
            "case": ctx.db.get(MdtCase, entry.case_id),
            "entry": entry,
            "values": values,
            "errors": errors or {},
            "action": f"/mentor/accompaniments/{entry.public_id}/edit",
            "mode": "edit" if inside else "amend",
            "editable_until": entry.created_at + mentoring.EDIT_WINDOW,
            "tz": ctx.settings.tz,
            **_choices(),
        },
        status=status,
    )


def entry_edit_form(ctx: Context) -> Response:
    entry = mentoring.access_own_entry(ctx.db, ctx.viewer.user, _param(ctx, "entry_id"))
    return _edit_form(ctx, entry)


def entry_edit(ctx: Context) -> Response:
    entry = mentoring.access_own_entry(ctx.db, ctx.viewer.user, _param(ctx, "entry_id"))
    inside = mentoring.editable(entry, ctx.now)
    try:
        given, reason = mentor_forms.read_correction(
            {**_entry_form(ctx), "reason": ctx.field("reason")},
            today=_today(ctx),
            reason_required=not inside,
            kept=entry.occurred_on,
        )
        mentoring.correct_accompaniment(
            ctx.db, entry, given=given, reason=reason, actor=ctx.viewer.user, at=ctx.now
        )
    except Invalid as error:
        return _edit_form(ctx, entry, status=error.status_code, errors=error.errors)
    ctx.flash("Entry updated." if inside else "Correction added; the original is kept.")
    return RedirectResponse(_after_entry(ctx, entry), status_code=303)


def _after_entry(ctx: Context, entry) -> str:
    """Back to the case if the mentor still holds it, else to the caseload."""
    case = ctx.db.get(MdtCase, entry.case_id)
    try:
        mentor_caseload.access_caseload_case(ctx.db, ctx.viewer.user, case.public_id)
    except NotFound:
        return "/mentor"
    return f"/mentor/cases/{case.public_id}"


def entry_delete_page(ctx: Context) -> Response:
    """Asks before deleting: what goes, and that it cannot be undone."""
    entry = mentoring.access_own_entry(ctx.db, ctx.viewer.user, _param(ctx, "entry_id"))
    edit = f"/mentor/accompaniments/{entry.public_id}/edit"
    if not mentoring.editable(entry, ctx.now):  # past the window: only a correction now
        return RedirectResponse(edit, status_code=303)
    case = ctx.db.get(MdtCase, entry.case_id)
    kind = AccompanimentKind(entry.kind).label
    return confirm_pages.page(
        ctx,
        confirm_pages.Confirm(
            title="Delete this entry?",
            consequences=[
                f"The {kind.lower()} of {entry.occurred_on.strftime('%d %B %Y').lstrip('0')} "
                f"on {case.reference} leaves your log and the program's reports.",
                "It cannot be undone. That it was deleted stays in the program's audit log.",
            ],
            action=f"/mentor/accompaniments/{entry.public_id}/delete",
            button="Delete the entry",
            back=edit,
            back_label="Back to the entry",
            keep="Keep the entry",
        ),
    )


def entry_delete(ctx: Context) -> Response:
    entry = mentoring.access_own_entry(ctx.db, ctx.viewer.user, _param(ctx, "entry_id"))
    mentoring.delete_accompaniment(ctx.db, entry, actor=ctx.viewer.user, at=ctx.now)
    ctx.flash("Entry deleted.")
    return RedirectResponse("/mentor", status_code=303)


# --- assignment: coordinators and program leads -----------------------------------------


def assignments(ctx: Context) -> Response:
    unassigned = ctx.request.query_params.get("unassigned") == "1"
    return render(
        ctx,
        "mentoring/assignments.html",
        {
            "rows": mentor_assignments.assignment_overview(
                ctx.db, ctx.viewer, tz=ctx.settings.tz, unassigned_only=unassigned
            ),
            "unassigned": unassigned,
            "grace_days": mentor_assignments.FIRST_ASSESSMENT_GRACE_DAYS,
        },
    )


def _assign_page(ctx: Context, case, *, status: int = 200, errors: dict | None = None):
    # The coordinator is told of every program; another program's lead, only of those
    # whose taking part it may be told (a community-based program's is its own to tell).
    coordinating = case.coordinating_agency_id == ctx.viewer.agency.id
    shown = None if coordinating else _told_agencies(ctx, case, status)
    mentor_status = mentor_assignments.mentor_status(ctx.db, case, tz=ctx.settings.tz)
    history = mentor_assignments.assignment_history(ctx.db, case)
    if shown is not None:
        mentor_status = mentor_assignments.told_status(mentor_status, shown)
        history = mentor_assignments.told_history(history, shown)
    return render(
        ctx,
        "mentoring/assign.html",
        {
            "case": case,
            "status": mentor_status,
            "history": history,
            "mentors": mentor_program.mentor_choices(ctx.db, ctx.viewer),
            "errors": errors or {},
            "values": {"mentor": ctx.field("mentor"), "reason": ctx.field("reason")},
            "grace_days": mentor_assignments.FIRST_ASSESSMENT_GRACE_DAYS,
            "tz": ctx.settings.tz,
            "today": _today(ctx),
        },
        status=status,
    )


def _told_agencies(ctx: Context, case: MdtCase, status: int) -> set[int]:
    """The agencies this viewer may be told take part in the case, decided as the case
    page decides (each community-based one's disclosure point, on whichever node), and its
    own. A page shown again after a failed form first drops what the failed write left, and
    keeps the disclosures' entries through the 4xx that follows."""
    if status >= 400:
        ctx.db.rollback()
        ctx.keep_on_error = True
    told, _untold = federated_summary.told_participants(
        ctx.db,
        ctx.requester.asking(consent.Purpose.MDT_CASE_REVIEW.value),
        case,
        casework.participants(ctx.db, case),
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        between=ctx.db.commit,  # the owners' answers are their own transaction
    )
    return {p.agency.id for p in told} | {ctx.viewer.agency.id}


def assign_page(ctx: Context) -> Response:
    case = mentor_assignments.access_case_for_assignment(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    return _assign_page(ctx, case)


def assign(ctx: Context) -> Response:
    case = mentor_assignments.access_case_for_assignment(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    try:
        change = mentor_assignments.assign_mentor(
            ctx.db,
            case,
            mentor_public_id=ctx.field("mentor"),
            reason=ctx.field("reason"),
            viewer=ctx.viewer,
            at=ctx.now,
        )
    except Invalid as error:
        ctx.db.rollback()
        return _assign_page(ctx, case, status=error.status_code, errors=error.errors)
    ctx.flash(f"Mentor assigned to {case.reference}. {change.tasks_told()}".strip())
    return RedirectResponse(f"/mentoring/cases/{case.public_id}", status_code=303)


def end_assignment(ctx: Context) -> Response:
    case = mentor_assignments.access_case_for_assignment(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    try:
        change = mentor_assignments.end_assignment(
            ctx.db, case, reason=ctx.field("end_reason"), viewer=ctx.viewer, at=ctx.now
        )
    except Invalid as error:
        errors = {("end_reason" if k == "reason" else k): v for k, v in error.errors.items()}
        return _assign_page(ctx, case, status=error.status_code, errors=errors)
    ctx.flash(f"{case.reference} has no mentor now. {change.tasks_told()}".strip())
    return RedirectResponse(f"/mentoring/cases/{case.public_id}", status_code=303)


# --- the program lead -------------------------------------------------------------------


def program(ctx: Context) -> Response:
    agency = mentor_program.require_program_lead(ctx.viewer)
    entries = mentoring.program_entries(ctx.db, agency, limit=20)
    mentoring.record_entries_read(
        ctx.db,
        entries,
        requester=ctx.requester,
        agency_id=agency.id,
        shown_in="program page",
        at=ctx.now,
    )
    return render(
        ctx,
        "mentoring/program.html",
        {
            "agency": agency,
            "caseloads": mentor_reports.caseloads(ctx.db, agency),
            "entries": entries,
        },
    )


def program_mentor(ctx: Context) -> Response:
    mentor = mentor_program.access_program_mentor(ctx.db, ctx.viewer, _param(ctx, "user_id"))
    entries = mentoring.program_entries(ctx.db, ctx.viewer.agency, mentor=mentor, limit=50)
    mentoring.record_entries_read(
        ctx.db,
        entries,
        requester=ctx.requester,
        agency_id=ctx.viewer.agency.id,
        shown_in="a mentor's page",
        at=ctx.now,
    )
    rows = mentor_caseload.caseload(ctx.db, mentor, now=ctx.now, today=_today(ctx))
    mentor_appointments.record_dates_read(
        ctx.db,
        [(r.reference, r.next_public_id) for r in rows if r.next_public_id],
        holder=mentor,
        requester=ctx.requester,
        agency_id=ctx.viewer.agency.id,
        shown_in="a mentor's page",
        at=ctx.now,
    )
    return render(
        ctx,
        "mentoring/mentor.html",
        {
            "mentor": mentor,
            "rows": rows,
            "entries": entries,
            "tz": ctx.settings.tz,
        },
    )


def program_entry(ctx: Context) -> Response:
    entry = mentoring.read_program_entry(ctx.db, ctx.viewer, _param(ctx, "entry_id"), at=ctx.now)
    return render(
        ctx,
        "mentoring/entry.html",
        {
            "entry": entry,
            "case": ctx.db.get(MdtCase, entry.case_id),
            "author": ctx.db.get(StaffUser, entry.mentor_id),
            "versions": mentoring.entry_versions(ctx.db, entry),
            "tz": ctx.settings.tz,
            "kind_label": lambda v: AccompanimentKind(v).label,
            "place_label": lambda v: PlaceType(v).label,
            "outcome_label": lambda v: Outcome(v).label,
            "duration_label": mentoring.duration_label,
        },
    )


def reports(ctx: Context) -> Response:
    agency = mentor_program.require_program_lead(ctx.viewer)
    query = ctx.request.query_params
    try:
        period = mentor_forms.report_period(query, today=_today(ctx))
    except Invalid as error:
        fallback = mentor_reports.Period.default(_today(ctx))
        return _report_page(ctx, agency, fallback, status=400, errors=error.errors)
    return _report_page(ctx, agency, period)


def _report_page(ctx: Context, agency, period, *, status: int = 200, errors: dict | None = None):
    report = mentor_reports.build_report(
        ctx.db, agency, period, today=_today(ctx), tz=ctx.settings.tz
    )
    query = ctx.request.query_params
    return render(
        ctx,
        "mentoring/reports.html",
        {
            "agency": agency,
            "report": report,
            "chart": mentor_chart.monthly_chart(report.monthly, period.start, period.end),
            "phone_chart": mentor_chart.monthly_chart(
                report.monthly, period.start, period.end, mentor_chart.PHONE
            ),
            "errors": errors or {},
            "values": {
                "start": query.get("start") or period.start.isoformat(),
                "end": query.get("end") or period.end.isoformat(),
                "days": query.get("days") or str(period.no_contact_days),
            },
        },
        status=status,
    )


NO_STORE = {"Cache-Control": "no-store"}


def reports_csv(ctx: Context) -> Response:
    agency = mentor_program.require_program_lead(ctx.viewer)
    period = mentor_forms.report_period(ctx.request.query_params, today=_today(ctx))
    report = mentor_reports.build_report(
        ctx.db, agency, period, today=_today(ctx), tz=ctx.settings.tz
    )
    mentor_reports.record_export(ctx.db, agency, period, actor=ctx.viewer.user, at=ctx.now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["period_start", "period_end", "mentor", "kind", "accompaniments", "hours", "kind_code"]
    )
    for line in report.by_mentor_kind:
        writer.writerow(
            [
                period.start.isoformat(),
                period.end.isoformat(),
                safe_cell(line.mentor_name),
                line.label,
                line.accompaniments,
                f"{line.minutes / 60:.2f}",
                line.kind,
            ]
        )
    filename = f"mentor-report-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        # Names of the program's mentors and what they did: kept by no cache on the way.
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
    )
