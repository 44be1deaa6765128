"""MDT workflow pages: cases at intake, meetings, tasks, calendars, the review packet."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

import consent
from portal.errors import Conflict, Invalid
from portal.federation import assigned_tasks, links, membership
from portal.federation import summary as federated_summary
from portal.models import Agency, ReferralSource, StaffUser
from portal.models.workflow import MeetingStatus, TaskPriority, TaskStatus
from portal.services import (
    calendar,
    case_closing,
    case_records,
    case_summary,
    cases,
    casework,
    convening,
    meetings,
    mentor_tasks,
    submissions,
    tasks,
    validation,
)
from portal.services.cases import caseload_holder
from portal.web import confirm_pages, forms, own_log
from portal.web.context import Context
from portal.web.render import in_zone, render, whole_page_instead

NO_STORE = {"Cache-Control": "no-store"}


def _today(ctx: Context):
    return convening.local_today(ctx.now, ctx.settings.tz)


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _param(ctx: Context, name: str) -> str:
    return ctx.request.path_params[name]


# ---------------------------------------------------------------- cases


def case_new(ctx: Context, *, status: int = 200, errors: dict | None = None) -> Response:
    return render(
        ctx,
        "workflow/case_new.html",
        {
            "errors": errors or {},
            "sources": list(ReferralSource),
            "agencies": [
                a for a in casework.active_agencies(ctx.db) if a.id != ctx.viewer.agency.id
            ],
            "values": {
                "intake_date": ctx.field("intake_date") or _today(ctx).isoformat(),
                "referral_source": ctx.field("referral_source"),
                "agencies": ctx.fields("agencies"),
            },
            "window": ctx.settings.convening_window_days,
        },
        status=status,
    )


def case_create(ctx: Context) -> Response:
    wanted = set(ctx.fields("agencies"))
    partner_agencies = [a for a in casework.active_agencies(ctx.db) if a.public_id in wanted]
    token = ctx.field(submissions.FIELD)
    try:
        if len(partner_agencies) != len(wanted):
            raise Invalid("agencies", "Choose agencies from the list.")
        if not submissions.first_time(ctx.db, token, at=ctx.now):
            ctx.flash("That form was sent twice: the case was opened once.")
            return _see_other(submissions.outcome_of(ctx.db, token) or "/")
        case = cases.open_case(
            ctx.db,
            ctx.viewer.agency,
            intake_date=ctx.field("intake_date"),
            referral_source=ctx.field("referral_source"),
            actor=ctx.viewer.user,
            at=ctx.now,
            today=_today(ctx),
            window_days=ctx.settings.convening_window_days,
            agencies=partner_agencies,
        )
    except Invalid as error:
        return case_new(ctx, status=error.status_code, errors=error.errors)
    submissions.remember(ctx.db, token, f"/cases/{case.public_id}")
    ctx.flash(f"{case.reference} is open. Convene the MDT by {case.convening_due.isoformat()}.")
    return _see_other(f"/cases/{case.public_id}")


def _mdt_reader(ctx: Context, status: int) -> dict:
    """How this page asks owners for MDT records (decisions, tasks' text): as the viewer,
    for MDT case review, each owner's answer committed before the viewer's receipt.

    A page shown again after a failed form first drops what the failed write left, so
    the answers committed here hold nothing of it, and keeps the disclosures' entries
    through the 4xx that follows."""
    if status >= 400:
        ctx.db.rollback()
        ctx.keep_on_error = True
    return {
        "requester": ctx.requester.asking(consent.Purpose.MDT_CASE_REVIEW.value),
        "at": ctx.now,
        "tz": ctx.settings.tz,
        "keys": ctx.request.app.state.keys,
        "between": ctx.db.commit,
    }


def _tasks_with_text(ctx: Context, rows: list, reader: dict, *, refs: tuple = ()) -> list:
    """The task rows with their text as each owner's point answers (`_mdt_reader`); the
    nodes of survivors served elsewhere are asked first, as for the case's decisions."""
    return federated_summary.tasks_with_text(
        ctx.db, rows=rows, federation=ctx.request.app.state.federation, refs=refs, **reader
    )


def _assigned_elsewhere(ctx: Context, filters, reader: dict, *, cases=None):
    """The viewer's agency's tasks on cases coordinated on other nodes, as their
    coordinators' nodes answer now (`assigned_tasks`)."""
    return assigned_tasks.assigned_elsewhere(
        ctx.db,
        reader["requester"],
        ctx.viewer.agency,
        filters,
        at=ctx.now,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        cases=cases,
        between=reader["between"],
        holder=caseload_holder(ctx.viewer),
    )


def _case_tasks(ctx: Context, case, reader: dict, *, open_only: bool = False):
    """The case's tasks kept here and, a case coordinated on another node, those assigned
    to the viewer's agency as the coordinator's node answers; with what did not answer.
    `open_only`: those still to do (the packet)."""
    here = _tasks_with_text(ctx, tasks.case_tasks(ctx.db, case, open_only=open_only), reader)
    coordinator = ctx.db.get(Agency, case.coordinating_agency_id)
    linked = casework.own_link(ctx.db, case, ctx.viewer.agency)
    if membership.is_local(ctx.db, coordinator) or linked is None or linked.confirmed_at is None:
        return here, []
    found = _assigned_elsewhere(
        ctx,
        tasks.TaskFilter(scope="agency", status="" if open_only else "all"),
        reader,
        cases=[(case, coordinator)],
    )
    return sorted(here + found.rows, key=lambda row: row.due_date), found.unavailable


def _told(ctx: Context, case, reader: dict) -> tuple[list, int]:
    """The case's participants the viewer may be told take part, and how many others do
    (a community-based agency's taking part is its own point's to tell)."""
    return federated_summary.told_participants(
        ctx.db,
        participants=casework.participants(ctx.db, case),
        case=case,
        federation=ctx.request.app.state.federation,
        **reader,
    )


def _offered(ctx: Context, case) -> set[int]:
    """The agencies a task form offered the viewer as assignees: those it may be told take
    part. A task posted with any other is refused as one not on the case is."""
    told, _untold = _told(ctx, case, _mdt_reader(ctx, 200))
    return {p.agency.id for p in told}


def _case_page(ctx: Context, case, *, status: int = 200, errors: dict | None = None):
    agency = ctx.viewer.agency
    today = _today(ctx)
    coordinating = case.coordinating_agency_id == agency.id
    reader = _mdt_reader(ctx, status)
    owed = _owed(ctx, case, coordinating=coordinating, refused=status >= 400)
    told, untold = _told(ctx, case, reader)
    case_tasks, tasks_unavailable = _case_tasks(ctx, case, reader)
    return render(
        ctx,
        "workflow/case.html",
        {
            "case": case,
            "today": today,
            "days_left": convening.days_left(case.convening_due, today)
            if case.convening_due
            else None,
            "coordinating": coordinating,
            "owed": owed,
            "participants": told,
            "untold": untold,
            # The coordinator's cue (issue 14): a survivor's agreement to take part lapsed.
            "lapsed": case_records.needs_new_release(
                ctx.db, case, at=ctx.now, keys=ctx.request.app.state.keys
            )
            if coordinating
            else set(),
            # Agencies hosted on other nodes (issue 16): their links are confirmed there.
            "elsewhere": {p.agency.id for p in told if not membership.is_local(ctx.db, p.agency)},
            "own_link": casework.own_link(ctx.db, case, agency),
            "other_agencies": casework.other_agencies(ctx.db, case) if coordinating else [],
            "history": case_records.told_history(
                ctx.db, case=case, agency_names={p.agency.name for p in told}, **reader
            ),
            "meetings": meetings.case_meetings(ctx.db, case),
            # Asked of the coordinator's node when it is hosted elsewhere (its point decides).
            "decisions": federated_summary.case_decisions(
                ctx.db, case=case, federation=ctx.request.app.state.federation, **reader
            ),
            "tasks": case_tasks,
            "tasks_unavailable": tasks_unavailable,
            "assignees": tasks.assignee_choices(ctx.db, case, agencies={p.agency.id for p in told}),
            "priorities": list(TaskPriority),
            "errors": errors or {},
            "form": ctx.form or {},
            "back": _meeting_back(ctx),
        },
        status=status,
    )


def _meeting_back(ctx: Context) -> str:
    """Where a task form returns to: the meeting it was opened from, if any."""
    back = ctx.field("back") or ctx.request.query_params.get("back", "")
    parts = back.split("/")
    if len(parts) == 3 and parts[1] == "meetings" and len(parts[2]) == 36:
        return back
    return ""


def case_detail(ctx: Context) -> Response:
    case = cases.case_for(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    return _case_page(ctx, case)


def _case_action(ctx: Context, action, message: str, *, coordinated: bool = True) -> Response:
    if coordinated:
        case = casework.access_coordinated_case(ctx.db, ctx.viewer.agency, _param(ctx, "case_id"))
    else:
        case = cases.case_for(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    try:
        action(case)
    except Invalid as error:
        return _case_page(ctx, case, status=error.status_code, errors=error.errors)
    ctx.flash(message)
    return _see_other(f"/cases/{case.public_id}")


def case_close(ctx: Context) -> Response:
    case = casework.access_coordinated_case(ctx.db, ctx.viewer.agency, _param(ctx, "case_id"))
    take_off = ctx.fields("take_off")
    try:
        closed = case_closing.close_case(
            ctx.db,
            case,
            reason=ctx.field("reason"),
            take_off=take_off,
            listed=ctx.fields("agenda_listed"),
            actor=ctx.viewer.user,
            at=ctx.now,
            today=_today(ctx),
        )
    except Invalid as error:  # back to the page that asked, the reason and ticks kept
        ctx.db.rollback()  # the page lists the meetings as they are, nothing of this try
        confirm = confirm_pages.close_case(
            ctx,
            case,
            value=ctx.field("reason")[:500],
            posted=(frozenset(ctx.fields("agenda_listed")), frozenset(take_off)),
        )
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=error.errors)
    _flash_owners_told(ctx, case, _closed_words(ctx, closed))
    return _see_other(f"/cases/{case.public_id}")


def _closed_words(ctx: Context, closed: case_closing.Closed) -> str:
    words = "The case is closed."
    if len(closed.taken_off) == 1:
        start = in_zone(closed.taken_off[0].starts_at, ctx.settings.tz, "weekday")
        words += f" Taken off the agenda of the meeting of {start}, not yet held."
    elif closed.taken_off:
        words += f" Taken off the agenda of {len(closed.taken_off)} meetings not yet held."
    if len(closed.kept) == 1:
        start = in_zone(closed.kept[0].starts_at, ctx.settings.tz, "weekday")
        words += f" It stays on the agenda of the meeting of {start}, as you chose."
    elif closed.kept:
        words += (
            f" It stays on the agenda of {len(closed.kept)} meetings not yet held, as you chose."
        )
    if closed.uninvited:
        names = ", ".join(agency.name for agency in closed.uninvited)
        words += f" No longer invited where no case of theirs is left on the agenda: {names}."
    return words


def case_reopen(ctx: Context) -> Response:
    case = casework.access_coordinated_case(ctx.db, ctx.viewer.agency, _param(ctx, "case_id"))
    try:
        casework.reopen_case(
            ctx.db, case, reason=ctx.field("reason"), actor=ctx.viewer.user, at=ctx.now
        )
    except Invalid as error:
        return _case_page(ctx, case, status=error.status_code, errors=error.errors)
    _flash_owners_told(ctx, case, "The case is open again.")
    return _see_other(f"/cases/{case.public_id}")


def _flash_owners_told(ctx: Context, case, done: str) -> None:
    """Tell the agencies elsewhere that the case closed or reopened (their copies of it
    follow); `done`, then what came of it: a node that did not answer, an agency whose
    part its node withdrew (each a message of its own, none cut short)."""
    withdrawn: list[links.WithdrawnThere] = []
    untold = links.tell_participants(
        ctx.db,
        case,
        requester=ctx.requester,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        at=ctx.now,
        # The close (or reopen) stands, and is owed to each owner, before any node is
        # asked: no writer here waits on a node elsewhere.
        commit=ctx.db.commit,
        withdrawn_into=withdrawn,
    )
    if not untold:
        ctx.flash(done)
    else:
        ctx.flash(
            f"{done} {', '.join(untold)} did not answer from "
            f"{'its' if len(untold) == 1 else 'their'} node and still show the case as it "
            f"was; the portal tells {'it' if len(untold) == 1 else 'them'} again when this "
            "case's page opens."
        )
    for gone in withdrawn:
        ctx.flash(
            f"{gone.name} took its client record off the case"
            + (
                ": that survivor is in another open case on its side."
                if gone.in_another_open_case
                else "."
            )
        )


def _owed(ctx: Context, case, *, coordinating: bool, refused: bool = False) -> list:
    """What this node still owes of the case, told again first when last tried a while
    ago: owners elsewhere, of a case coordinated here (listed on the coordinator's page),
    or the coordinator's node, of one coordinated elsewhere (an agency here changed what
    may be told of its part: `links.tell_changed`; not listed, it is that agency's).

    Each send waits outside any transaction (`commit`), the page's request committing what
    it did so far, as it would once answered. Not on a page that refuses what was asked
    (`refused`): its request is rolled back, so nothing of it may be committed; what is
    owed stays owed, told at the next page."""
    if not refused:
        links.tell_owed(
            ctx.db,
            keys=ctx.request.app.state.keys,
            federation=ctx.request.app.state.federation,
            at=ctx.now,
            case=case,
            tried_before=ctx.now - links.TRY_AGAIN_AFTER,
            commit=ctx.db.commit,
        )
    return links.owed(ctx.db, case) if coordinating else []


def case_add_agency(ctx: Context) -> Response:
    return _case_action(
        ctx,
        lambda case: casework.add_agency(
            ctx.db, case, ctx.field("agency"), actor=ctx.viewer.user, at=ctx.now
        ),
        "The agency was added; it confirms its own client record from its side.",
    )


def case_cadence(ctx: Context) -> Response:
    return _case_action(
        ctx,
        lambda case: casework.set_cadence(
            ctx.db,
            case,
            ctx.field("review_every_days"),
            actor=ctx.viewer.user,
            at=ctx.now,
            today=_today(ctx),
        ),
        "The review cadence is saved.",
    )


def case_confirm_link(ctx: Context) -> Response:
    def confirm(case) -> None:
        casework.confirm_link(
            ctx.db,
            case,
            ctx.viewer.agency,
            client_reference=ctx.field("client_reference"),
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            holder=caseload_holder(ctx.viewer),
        )
        _tell_as_coordinator(ctx, case)

    return _case_action(
        ctx, confirm, "Your agency's link to the case is confirmed.", coordinated=False
    )


def case_withdraw_link(ctx: Context) -> Response:
    case = cases.case_for(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    try:
        casework.withdraw_link(
            ctx.db,
            case,
            ctx.viewer.agency,
            reason=ctx.field("reason"),
            actor=ctx.viewer.user,
            at=ctx.now,
        )
    except Invalid as error:  # back to the page that asked
        confirm = confirm_pages.withdraw_link(ctx, case, value=ctx.field("reason")[:40])
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=error.errors)
    # Coordinated elsewhere, the coordinator counts the agency on the case until told.
    untold = links.tell_withdrawn(
        ctx.db,
        case,
        ctx.viewer.agency,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        at=ctx.now,
        between=ctx.db.commit,  # the withdrawal stands, whatever the coordinator's node does
    )
    ctx.flash(
        "Your agency's client record is withdrawn from the case."
        + "".join(
            f" {coordinator.name} did not answer from its node, so it may still count your "
            "agency on this case for now; the portal tells it again each time this case's "
            "page opens (at most every five minutes)."
            for coordinator, _case in untold
        )
    )
    return _see_other(f"/cases/{case.public_id}")


def _tell_as_coordinator(ctx: Context, case) -> None:
    """After an agency here changed its own link (see `links.tell_as_coordinator`); the
    change stands, and is owed to the owners elsewhere, before any node is asked."""
    links.tell_as_coordinator(
        ctx.db,
        case,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        at=ctx.now,
        commit=ctx.db.commit,
    )


def case_remote_link(ctx: Context) -> Response:
    """The coordinator asks an agency on another node to confirm its client (issue 16)."""
    case = casework.access_coordinated_case(ctx.db, ctx.viewer.agency, _param(ctx, "case_id"))
    owner = next(
        (
            p.agency
            for p in casework.participants(ctx.db, case)
            if p.agency.public_id == ctx.field("agency")
        ),
        None,
    )
    try:
        if owner is None:
            raise Invalid("agency", "Choose an agency of this case.")
        reference = validation.text(
            ctx.field("client_reference"),
            "client_reference",
            max_length=40,
            label="Their client reference",
        )
        confirmed = links.request_link(
            ctx.db,
            case,
            owner,
            reference,
            requester=ctx.requester,
            at=ctx.now,
            keys=ctx.request.app.state.keys,
            federation=ctx.request.app.state.federation,
            commit=ctx.db.commit,  # claimed, then answered, with nothing held meanwhile
        )
    except (Invalid, Conflict) as error:
        # Said at the top of the page: the page has a form per agency elsewhere, and an
        # "agency" field's error is shown by the form that adds an agency, if there is one
        # (the owner did not answer, or is being asked by another request just now).
        ctx.flashes.extend({"kind": "error", "message": m} for m in error.errors.values())
        return _case_page(ctx, case, status=error.status_code)
    ctx.flash(
        f"{owner.name} confirmed its client for this case."
        if confirmed
        else f"{owner.name} declined: no release of its client in effect names your agency "
        "for MDT case review (or it has no such client)."
    )
    return _see_other(f"/cases/{case.public_id}")


def case_task_create(ctx: Context) -> Response:
    case = cases.case_for(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    try:
        decision = (
            meetings.decision_of(ctx.db, case, ctx.field("decision"))
            if ctx.field("decision")
            else None
        )
        task = tasks.create_task(
            ctx.db,
            case,
            title=ctx.field("title"),
            details=ctx.field("details"),
            assignee=ctx.field("assignee"),
            due_date=ctx.field("due_date"),
            priority=ctx.field("priority") or TaskPriority.NORMAL,
            decision=decision,
            offered=_offered(ctx, case),
            actor=ctx.viewer.user,
            at=ctx.now,
            today=_today(ctx),
        )
    except Invalid as error:
        return _case_page(ctx, case, status=error.status_code, errors=error.errors)
    ctx.flash(f"Task “{task.title}” was created.")
    return _see_other(_meeting_back(ctx) or f"/cases/{case.public_id}")


def case_packet(ctx: Context) -> Response:
    case = cases.case_for(ctx.db, ctx.viewer, _param(ctx, "case_id"))
    today = _today(ctx)
    told, _untold = federated_summary.told_participants(
        ctx.db,
        participants=casework.participants(ctx.db, case),
        case=case,
        federation=ctx.request.app.state.federation,
        **_mdt_reader(ctx, 200),
    )
    open_tasks, tasks_unavailable = _case_tasks(ctx, case, _mdt_reader(ctx, 200), open_only=True)
    response = render(
        ctx,
        "workflow/packet.html",
        {
            "case": case,
            "today": today,
            "printed_at": ctx.now.astimezone(ctx.settings.tz),
            "participants": told,
            # The summary's timeline, with the history this viewer may be told among its days.
            "timeline": case_summary.timeline(
                ctx.db,
                case,
                window_days=ctx.settings.convening_window_days,
                today=today,
                events=case_summary.history_items(
                    case_records.told_history(
                        ctx.db,
                        case=case,
                        agency_names={p.agency.name for p in told},
                        **_mdt_reader(ctx, 200),
                    ),
                    ctx.settings.tz,
                ),
            ),
            "decisions": federated_summary.case_decisions(
                ctx.db,
                case=case,
                federation=ctx.request.app.state.federation,
                **_mdt_reader(ctx, 200),
            ),
            "tasks": open_tasks,
            "tasks_unavailable": tasks_unavailable,
            "own_log": own_log.where_kept(ctx, case),
            # Through each owner's disclosure point: every section shown is audited.
            "summary": federated_summary.every_block(
                ctx.db,
                ctx.requester.asking(consent.Purpose.MDT_CASE_REVIEW.value),
                case,
                at=ctx.now,
                tz=ctx.settings.tz,
                keys=ctx.request.app.state.keys,
                federation=ctx.request.app.state.federation,  # owners elsewhere (issue 16)
                between=ctx.db.commit,  # the owners' answers are their own transaction
            ),
        },
    )
    response.headers.update(NO_STORE)
    return response


# ---------------------------------------------------------------- meetings


def meeting_list(ctx: Context) -> Response:
    return render(
        ctx,
        "workflow/meetings.html",
        {
            "meetings": meetings.meetings_for(ctx.db, ctx.viewer.agency),
            "today": _today(ctx),
        },
    )


def meeting_new(ctx: Context, *, status: int = 200, errors: dict | None = None) -> Response:
    agency = ctx.viewer.agency
    today = _today(ctx)
    return render(
        ctx,
        "workflow/meeting_new.html",
        {
            "errors": errors or {},
            "candidates": meetings.agenda_candidates(ctx.db, agency),
            "agencies": [a for a in casework.active_agencies(ctx.db) if a.id != agency.id],
            "today": today,
            "values": {
                "date": ctx.field("date") or today.isoformat(),
                "time": ctx.field("time") or "10:00",
                "duration_minutes": ctx.field("duration_minutes") or "90",
                "place": ctx.field("place"),
                "video_url": ctx.field("video_url"),
                "invited": ctx.fields("invited"),
                "case_ids": ctx.fields("case_ids") or ctx.request.query_params.getlist("case"),
            },
        },
        status=status,
    )


def meeting_create(ctx: Context) -> Response:
    try:
        meeting = meetings.schedule_meeting(
            ctx.db,
            ctx.viewer.agency,
            day=ctx.field("date"),
            clock=ctx.field("time"),
            duration_minutes=ctx.field("duration_minutes"),
            place=ctx.field("place"),
            video_url=ctx.field("video_url"),
            invited=ctx.fields("invited"),
            case_ids=ctx.fields("case_ids"),
            actor=ctx.viewer.user,
            at=ctx.now,
            tz=ctx.settings.tz,
        )
    except Invalid as error:
        return meeting_new(ctx, status=error.status_code, errors=error.errors)
    ctx.flash(f"The meeting on {meeting.meeting_date.isoformat()} is scheduled.")
    return _see_other(f"/meetings/{meeting.public_id}")


def _meeting_page(ctx: Context, meeting, *, status: int = 200, errors: dict | None = None):
    agency = ctx.viewer.agency
    managing = meeting.coordinating_agency_id == agency.id
    reader = _mdt_reader(ctx, status)  # first: a failed form's writes are gone before reading
    agenda = meetings.agenda(ctx.db, meeting, agency, holder=caseload_holder(ctx.viewer))
    minutes = meetings.read_minutes(ctx.db, reader["requester"], meeting, agenda, at=ctx.now)
    # Survivors served elsewhere: their nodes are asked first, as for the case page.
    decisions = federated_summary.meeting_decisions(
        ctx.db,
        owner=ctx.db.get(Agency, meeting.coordinating_agency_id),
        cases=[row.case for row in agenda],
        federation=ctx.request.app.state.federation,
        **reader,
    )
    invited = meetings.invited_agencies(ctx.db, meeting, agency.id)
    attendance = meetings.attendance(ctx.db, meeting, agency.id)
    if not managing:
        # An agency invited for a case is named only where the case page would name it: a
        # community-based agency's taking part is its own point's to tell (issue 14).
        named = {meeting.coordinating_agency_id} | _told_on_agenda(ctx, agenda, reader)
        invited = [a for a in invited if a.id in named]
        attendance = [(user, a) for user, a in attendance if a.id in named]
    return render(
        ctx,
        "workflow/meeting.html",
        {
            "meeting": meeting,
            # The time field's value, as <input type="time"> reads it.
            "start_time": f"{meeting.starts_at.astimezone(ctx.settings.tz):%H:%M}",
            "managing": managing,
            "agenda": agenda,
            "minutes": minutes,
            # The agenda item whose minutes form was posted (shown again after a refusal).
            "posted_item": ctx.request.path_params.get("item_id"),
            "decisions": decisions,
            "assignees": {row.case.id: tasks.assignee_choices(ctx.db, row.case) for row in agenda}
            if managing
            else {},
            "invited": invited,
            "attendance": attendance,
            "staff": meetings.invitable_staff(ctx.db, meeting) if managing else [],
            "recommendation_types": meetings.recommendation_types(ctx.db, agency)
            if managing
            else [],
            "candidates": meetings.agenda_candidates(ctx.db, agency, besides=meeting)
            if managing
            else [],
            "changes": meetings.changes(ctx.db, meeting),
            "priorities": list(TaskPriority),
            "statuses": MeetingStatus,
            "today": _today(ctx),
            "errors": errors or {},
            "form": ctx.form or {},
        },
        status=status,
    )


def _told_on_agenda(ctx: Context, agenda, reader: dict) -> set[int]:
    """The agencies the viewer may be told take part in at least one case of the agenda."""
    told = set()
    for row in agenda:
        participants, _untold = federated_summary.told_participants(
            ctx.db,
            participants=casework.participants(ctx.db, row.case),
            case=row.case,
            federation=ctx.request.app.state.federation,
            **reader,
        )
        told |= {p.agency.id for p in participants}
    return told


def meeting_detail(ctx: Context) -> Response:
    meeting = meetings.access_meeting(ctx.db, ctx.viewer.agency, _param(ctx, "meeting_id"))
    return _meeting_page(ctx, meeting)


def meeting_ics(ctx: Context) -> Response:
    meeting = meetings.access_meeting(ctx.db, ctx.viewer.agency, _param(ctx, "meeting_id"))
    holder = caseload_holder(ctx.viewer)
    body = calendar.meeting_ics(
        ctx.db,
        meeting,
        agency_id=ctx.viewer.agency.id,
        at=ctx.now,
        holder_id=None if holder is None else holder.id,
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="mdt-meeting-{meeting.meeting_date}.ics"',
        },
    )


def _meeting_action(ctx: Context, action, message: str) -> Response:
    meeting = meetings.access_managed_meeting(ctx.db, ctx.viewer.agency, _param(ctx, "meeting_id"))
    try:
        action(meeting)
    except Invalid as error:
        return _meeting_page(ctx, meeting, status=error.status_code, errors=error.errors)
    ctx.flash(message)
    return _see_other(f"/meetings/{meeting.public_id}")


def meeting_reschedule(ctx: Context) -> Response:
    return _meeting_action(
        ctx,
        lambda m: meetings.reschedule_meeting(
            ctx.db,
            m,
            day=ctx.field("date"),
            clock=ctx.field("time"),
            reason=ctx.field("reason"),
            actor=ctx.viewer.user,
            at=ctx.now,
            tz=ctx.settings.tz,
        ),
        "The meeting was moved; calendars update from the feed or a new download.",
    )


def meeting_cancel(ctx: Context) -> Response:
    meeting = meetings.access_managed_meeting(ctx.db, ctx.viewer.agency, _param(ctx, "meeting_id"))
    try:
        meetings.cancel_meeting(
            ctx.db, meeting, reason=ctx.field("cancel_reason"), actor=ctx.viewer.user, at=ctx.now
        )
    except Invalid as error:  # back to the page that asked, the reason kept
        value = ctx.field("cancel_reason")[:500]
        confirm = confirm_pages.cancel_meeting(ctx, meeting, value=value)
        errors = {("cancel_reason" if k == "reason" else k): v for k, v in error.errors.items()}
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=errors)
    ctx.flash("The meeting is cancelled.")
    return _see_other(f"/meetings/{meeting.public_id}")


def meeting_hold(ctx: Context) -> Response:
    return _meeting_action(
        ctx,
        lambda m: meetings.hold_meeting(
            ctx.db, m, actor=ctx.viewer.user, at=ctx.now, today=_today(ctx)
        ),
        "The meeting is under way: record attendance and each case's outcome.",
    )


def meeting_agenda_add(ctx: Context) -> Response:
    def add(meeting):
        chosen = ctx.fields("case_ids")
        if not chosen:
            raise Invalid("case_ids", "Choose a case to add.")
        meetings.add_cases_to_agenda(
            ctx.db, meeting, ctx.viewer.agency, chosen, actor=ctx.viewer.user, at=ctx.now
        )

    return _meeting_action(ctx, add, "The agenda is updated.")


def meeting_attendance(ctx: Context) -> Response:
    return _meeting_action(
        ctx,
        lambda m: meetings.update_attendance(
            ctx.db,
            m,
            ctx.fields("attendees"),
            shown=ctx.fields("shown"),
            actor=ctx.viewer.user,
            at=ctx.now,
        ),
        "Attendance is recorded.",
    )


def meeting_recommendation_add(ctx: Context) -> Response:
    return _meeting_action(
        ctx,
        lambda m: meetings.add_recommendation_type(
            ctx.db, ctx.viewer.agency, ctx.field("label"), actor=ctx.viewer.user, at=ctx.now
        ),
        "The recommendation type was added to your list.",
    )


def meeting_recommendation_toggle(ctx: Context) -> Response:
    return _meeting_action(
        ctx,
        lambda m: meetings.set_recommendation_active(
            ctx.db,
            ctx.viewer.agency,
            ctx.field("type_id"),
            ctx.field("active") == "1",
            actor=ctx.viewer.user,
            at=ctx.now,
        ),
        "Your list of recommendation types is updated.",
    )


def _item_action(ctx: Context, action, message: str) -> Response:
    def run(meeting):
        item = meetings.access_agenda_item(ctx.db, meeting, _param(ctx, "item_id"))
        action(meeting, item)

    return _meeting_action(ctx, run, message)


def item_minutes(ctx: Context) -> Response:
    return _item_action(
        ctx,
        lambda m, item: meetings.record_minutes(
            ctx.db,
            m,
            item,
            ctx.field("minutes"),
            actor=ctx.viewer.user,
            at=ctx.now,
            requester=ctx.requester,
            seen=ctx.field("minutes_seen") or None,
        ),
        "The minutes are saved.",
    )


def item_decision(ctx: Context) -> Response:
    return _item_action(
        ctx,
        lambda m, item: meetings.record_decision(
            ctx.db,
            m,
            item,
            recommendation=ctx.field("recommendation"),
            text=ctx.field("text"),
            actor=ctx.viewer.user,
            at=ctx.now,
        ),
        "The decision is recorded.",
    )


def item_reviewed(ctx: Context) -> Response:
    return _item_action(
        ctx,
        lambda m, item: meetings.mark_reviewed(ctx.db, m, item, actor=ctx.viewer.user, at=ctx.now),
        "The case is marked reviewed at this meeting.",
    )


# ---------------------------------------------------------------- tasks


def task_list(ctx: Context) -> Response:
    try:
        filters = forms.task_filter(ctx.request.query_params)
        errors = {}
    except Invalid as error:
        if ctx.request.headers.get("hx-request"):
            return whole_page_instead(ctx, error.status_code)
        filters, errors = tasks.TaskFilter(), error.errors
    raw_page = ctx.request.query_params.get("page", "1")
    page = tasks.task_page(
        ctx.db,
        ctx.viewer.user,
        ctx.viewer.agency,
        filters,
        page=int(raw_page) if raw_page.isdecimal() and len(raw_page) < 8 else 1,
        holder=caseload_holder(ctx.viewer),
    )
    reader = _mdt_reader(ctx, 400 if errors else 200)
    # Cases coordinated on other nodes keep their tasks there: a task can be assigned to
    # this agency there, never to one of its staff (who are not on that node's rolls).
    elsewhere = (
        _assigned_elsewhere(ctx, filters, reader)
        if filters.scope == "agency"
        else assigned_tasks.Assigned([], [])
    )
    return render(
        ctx,
        "workflow/tasks.html",
        {
            # A bad filter still shows the default list: its receipts survive the 400.
            "rows": _tasks_with_text(ctx, page.rows, reader),
            "elsewhere": elsewhere,
            "page": page,
            "query": {k: v for k, v in ctx.request.query_params.items() if k != "page"},
            # a status change comes back to this very list: its filter and page kept
            "back_to": "/tasks?" + str(ctx.request.query_params)
            if ctx.request.query_params
            else "/tasks",
            "filters": filters,
            "typed": ctx.request.query_params,  # shown again as typed, refused or not
            "errors": errors,
            "statuses": list(TaskStatus),
            "today": _today(ctx),
        },
        status=400 if errors else 200,
        block="task_table",
    )


def _task_page(ctx: Context, task, case, *, status: int = 200, errors: dict | None = None):
    reader = _mdt_reader(ctx, status)
    (row,) = _tasks_with_text(
        ctx, [tasks.task_row(ctx.db, task, case)], reader, refs=(task.public_id,)
    )
    # As on the case page: only agencies the viewer may be told take part are offered; an
    # assignee it may not be told of stays as it is, unnamed (tasks.KEEP_ASSIGNEE).
    told, _untold = _told(ctx, case, reader)
    offered = {p.agency.id for p in told}
    return render(
        ctx,
        "workflow/task.html",
        {
            "task": task,
            "row": row,
            "case": case,
            "assignee_user": ctx.db.get(StaffUser, task.assignee_user_id)
            if task.assignee_user_id
            else None,
            "assignee_agency": ctx.db.get(Agency, task.assignee_agency_id),
            # Made from the viewer's own accompaniment entry: a way back to it, for them only.
            "from_entry": mentor_tasks.entry_of_task(ctx.db, task, ctx.viewer.user),
            "assignees": tasks.assignee_choices(ctx.db, case, agencies=offered),
            "keep_assignee": tasks.KEEP_ASSIGNEE,
            "seen": tasks.edit_fingerprint(task, assignee_told=row.assignee_told),
            "statuses": list(TaskStatus),
            "priorities": list(TaskPriority),
            "today": _today(ctx),
            "errors": errors or {},
            "form": ctx.form or {},
        },
        status=status,
    )


def task_detail(ctx: Context) -> Response:
    task, case = tasks.access_task(
        ctx.db, ctx.viewer.agency, _param(ctx, "task_id"), holder=caseload_holder(ctx.viewer)
    )
    return _task_page(ctx, task, case)


def task_status(ctx: Context) -> Response:
    """Inline from a list with htmx (answers the row), or a plain form (303 back)."""
    task, case = tasks.access_task(
        ctx.db, ctx.viewer.agency, _param(ctx, "task_id"), holder=caseload_holder(ctx.viewer)
    )
    htmx = ctx.request.headers.get("hx-request") == "true"
    try:
        tasks.change_status(
            ctx.db,
            task,
            ctx.field("status"),
            reason=ctx.field("reason"),
            actor=ctx.viewer.user,
            at=ctx.now,
        )
    except Invalid as error:
        if htmx:
            return _task_row(ctx, task, case, status=error.status_code, errors=error.errors)
        return _task_page(ctx, task, case, status=error.status_code, errors=error.errors)
    if htmx:
        return _task_row(ctx, task, case)
    ctx.flash("The task's status is updated.")
    back = _task_list_back(ctx)
    return _see_other(back or f"/tasks/{task.public_id}")


def _task_list_back(ctx: Context) -> str:
    """The task list the form came from, filter included; only ever a /tasks address."""
    back = ctx.field("back")
    return back if back == "/tasks" or back.startswith("/tasks?") else ""


def _task_row(ctx: Context, task, case, *, status: int = 200, errors: dict | None = None):
    (row,) = _tasks_with_text(ctx, [tasks.task_row(ctx.db, task, case)], _mdt_reader(ctx, status))
    response = render(
        ctx,
        "workflow/_task_row.html",
        {
            "row": row,
            "statuses": list(TaskStatus),
            "today": _today(ctx),
            "errors": errors or {},
            "back": _task_list_back(ctx) or "/tasks",
        },
        status=status,
    )
    response.headers["Vary"] = "HX-Request"
    return response


def task_update(ctx: Context) -> Response:
    task, case = tasks.access_task(
        ctx.db, ctx.viewer.agency, _param(ctx, "task_id"), holder=caseload_holder(ctx.viewer)
    )
    try:
        tasks.update_task(
            ctx.db,
            task,
            case,
            assignee=ctx.field("assignee"),
            due_date=ctx.field("due_date"),
            priority=ctx.field("priority"),
            offered=_offered(ctx, case),
            actor=ctx.viewer.user,
            at=ctx.now,
            tz=ctx.settings.tz,
            seen=ctx.field("seen") or None,
        )
    except Invalid as error:
        if isinstance(error, Conflict):  # shown as it is now, not as the stale form had it
            ctx.form = {}
        return _task_page(ctx, task, case, status=error.status_code, errors=error.errors)
    ctx.flash("The task is updated.")
    return _see_other(f"/tasks/{task.public_id}")


def task_comment(ctx: Context) -> Response:
    task, case = tasks.access_task(
        ctx.db, ctx.viewer.agency, _param(ctx, "task_id"), holder=caseload_holder(ctx.viewer)
    )
    try:
        tasks.add_comment(ctx.db, task, ctx.field("body"), actor=ctx.viewer.user, at=ctx.now)
    except Invalid as error:
        return _task_page(ctx, task, case, status=error.status_code, errors=error.errors)
    return _see_other(f"/tasks/{task.public_id}#comments")


# ---------------------------------------------------------------- calendar feed


def feed_issue(ctx: Context) -> Response:
    token = calendar.issue_feed(ctx.db, ctx.viewer.user, at=ctx.now)
    url = str(ctx.request.url_for("calendar_feed", token=token))
    response = render(ctx, "workflow/feed_issued.html", {"feed_url": url})
    response.headers.update(NO_STORE)
    return response


def feed_revoke(ctx: Context) -> Response:
    calendar.revoke_feed(ctx.db, ctx.viewer.user, at=ctx.now)
    ctx.flash("Your calendar feed address no longer works.")
    return _see_other("/account")


def calendar_feed(ctx: Context) -> Response:
    """PUBLIC route: the random token in the address is the credential."""
    token = _param(ctx, "token").removesuffix(".ics")
    user = calendar.user_for_token(ctx.db, token)
    body = calendar.feed_ics(ctx.db, user, at=ctx.now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={**NO_STORE, "Referrer-Policy": "no-referrer"},
    )
