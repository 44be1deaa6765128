"""Pages that ask before a destructive action: revoke, discard, cancel, close.

Each names what will happen, in words, and posts to the action itself; they work without
JavaScript. An action refused (a reason missing) comes back to the same page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from portal.models import CaseStatus
from portal.models.workflow import MeetingStatus
from portal.services import casework, meetings
from portal.web.context import Context
from portal.web.render import render


@dataclass(frozen=True)
class Reason:
    name: str
    label: str
    required: bool
    value: str = ""


@dataclass(frozen=True)
class Confirm:
    title: str
    consequences: list[str]
    action: str
    button: str
    back: str
    back_label: str
    keep: str
    reason: Reason | None = None


def page(ctx: Context, confirm: Confirm, *, status: int = 200, errors: dict | None = None):
    return render(ctx, "confirm.html", {"confirm": confirm, "errors": errors or {}}, status=status)


def names_of(items) -> str:
    names = [getattr(i, "name", str(i)) for i in items]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------- meetings and cases


def cancel_meeting(ctx: Context, meeting=None, *, value: str = "") -> Confirm:
    meeting = meeting or meetings.access_managed_meeting(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["meeting_id"]
    )
    on_agenda = [row.case.reference for row in meetings.agenda(ctx.db, meeting, ctx.viewer.agency)]
    start = meeting.starts_at.astimezone(ctx.settings.tz).strftime("%Y-%m-%d %H:%M")
    url = f"/meetings/{meeting.public_id}"
    consequences = [
        f"The meeting of {start} is marked cancelled for every invited agency, with your "
        "reason; calendar feeds show it cancelled.",
    ]
    if on_agenda:
        consequences.append(
            f"{', '.join(on_agenda)} will need another meeting; the 14-day clock keeps running."
        )
    consequences.append("It cannot be undone: schedule a new meeting instead.")
    return Confirm(
        title="Cancel this MDT meeting?",
        consequences=consequences,
        action=f"{url}/cancel",
        button="Cancel the meeting",
        back=url,
        back_label="Back to the meeting",
        keep="Keep the meeting",
        reason=Reason("cancel_reason", "Reason for cancelling", required=True, value=value),
    )


def meeting_cancel_page(ctx: Context) -> Response:
    meeting = meetings.access_managed_meeting(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["meeting_id"]
    )
    if meeting.status != MeetingStatus.SCHEDULED:
        return RedirectResponse(f"/meetings/{meeting.public_id}", status_code=303)
    return page(ctx, cancel_meeting(ctx, meeting))


def close_case(ctx: Context, case=None, *, value: str = "") -> Confirm:
    case = case or casework.access_coordinated_case(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"]
    )
    url = f"/cases/{case.public_id}"
    return Confirm(
        title=f"Close {case.reference}?",
        consequences=[
            f"{case.reference} leaves the open cases, the convening clock and the review "
            "reminders of every agency on it.",
            "Its meetings, decisions, tasks and history stay on record; partners' summaries "
            "still ask each owner as before.",
            "You can reopen it later, with a reason.",
        ],
        action=f"{url}/close",
        button=f"Close {case.reference}",
        back=url,
        back_label=f"Back to {case.reference}",
        keep="Keep it open",
        reason=Reason("reason", "Reason for closing", required=True, value=value),
    )


def case_close_page(ctx: Context) -> Response:
    case = casework.access_coordinated_case(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"]
    )
    if case.status != CaseStatus.OPEN:
        return RedirectResponse(f"/cases/{case.public_id}", status_code=303)
    return page(ctx, close_case(ctx, case))
