"""Pages that ask before a destructive action: revoke, discard, cancel, close.

Each names what will happen, in words, and posts to the action itself; they work without
JavaScript. An action refused (a reason missing) comes back to the same page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from portal.models import CaseStatus, MdtCase
from portal.models.workflow import MeetingStatus
from portal.services import cases, casework, meetings
from portal.web.context import Context
from portal.web.render import in_zone, render


@dataclass(frozen=True)
class Reason:
    name: str
    label: str
    required: bool
    value: str = ""
    # (value, words): one is chosen instead of words typed (a reason kept in a log).
    choices: tuple[tuple[str, str], ...] = ()
    # What to do when a required reason was left out, before "then press <button>".
    ask: str = "Give a reason"


@dataclass(frozen=True)
class Ticks:
    """Checkboxes the action acts on, each ticked or not; `listed` carries every value
    shown, so the action can tell one unticked from one the page did not show."""

    name: str
    listed: str
    legend: str
    hint: str
    # (value, words, ticked)
    options: tuple[tuple[str, str, bool], ...]


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
    # "danger" for what destroys or ends; "" for a step that only cannot be taken back.
    tone: str = "danger"
    # (name, value) the action needs carried on, e.g. when the record was last saved.
    hidden: tuple[tuple[str, str], ...] = ()
    ticks: Ticks | None = None


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
    start = in_zone(meeting.starts_at, ctx.settings.tz)
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
        reason=Reason(
            "cancel_reason",
            "Reason for cancelling",
            required=True,
            value=value,
            ask="Give a reason for cancelling",
        ),
    )


def meeting_cancel_page(ctx: Context) -> Response:
    meeting = meetings.access_managed_meeting(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["meeting_id"]
    )
    if meeting.status != MeetingStatus.SCHEDULED:
        return RedirectResponse(f"/meetings/{meeting.public_id}", status_code=303)
    return page(ctx, cancel_meeting(ctx, meeting))


def hold_meeting(meeting) -> Confirm:
    url = f"/meetings/{meeting.public_id}"
    return Confirm(
        title="Start this MDT meeting?",
        consequences=[
            "The meeting is marked held for every invited agency: attendance, minutes, "
            "decisions and reviews can then be recorded.",
            "It can no longer be rescheduled or cancelled.",
        ],
        action=f"{url}/hold",
        button="Start the meeting",
        back=url,
        back_label="Back to the meeting",
        keep="Not yet",
        tone="",
    )


def meeting_hold_page(ctx: Context) -> Response:
    meeting = meetings.access_managed_meeting(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["meeting_id"]
    )
    if meeting.status != MeetingStatus.SCHEDULED:
        return RedirectResponse(f"/meetings/{meeting.public_id}", status_code=303)
    return page(ctx, hold_meeting(meeting))


def mark_reviewed(meeting, item, case) -> Confirm:
    url = f"/meetings/{meeting.public_id}"
    day = meeting.meeting_date.isoformat()
    consequences = [f"{case.reference} is recorded as reviewed by the MDT on {day}."]
    if case.first_mdt_date is None:
        consequences.append(
            f"{day} becomes its first MDT date: its convening clock stops "
            f"(it was due to convene by {case.convening_due.isoformat()})."
        )
    consequences += [
        "Its next review date is set from this meeting.",
        "It cannot be undone.",
    ]
    return Confirm(
        title=f"Mark {case.reference} reviewed?",
        consequences=consequences,
        action=f"{url}/items/{item.public_id}/reviewed",
        button=f"Mark {case.reference} reviewed",
        back=url,
        back_label="Back to the meeting",
        keep="Not yet",
        tone="",
    )


def item_reviewed_page(ctx: Context) -> Response:
    meeting = meetings.access_managed_meeting(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["meeting_id"]
    )
    item = meetings.access_agenda_item(ctx.db, meeting, ctx.request.path_params["item_id"])
    if meeting.status != MeetingStatus.HELD or item.reviewed_at is not None:
        return RedirectResponse(f"/meetings/{meeting.public_id}", status_code=303)
    return page(ctx, mark_reviewed(meeting, item, ctx.db.get(MdtCase, item.case_id)))


def close_case(
    ctx: Context,
    case=None,
    *,
    value: str = "",
    posted: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset()),
) -> Confirm:
    """By default the case is taken off every meeting still to come; a meeting whose time
    has passed but is not marked held comes unticked (its outcome for the case may still be
    recorded there). `posted`: (listed, ticked) of the form posted, when it comes back
    refused: each meeting it listed as the coordinator left it, any other as by default."""
    case = case or casework.access_coordinated_case(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"]
    )
    url = f"/cases/{case.public_id}"
    coming = meetings.coming_agendas(ctx.db, case)
    consequences = [
        f"{case.reference} leaves the open cases, the convening clock and the review "
        "reminders of every agency on it.",
    ]
    if coming:
        consequences.append(
            f"It is on the agenda of {_meetings_count(len(coming))} not yet held (below). "
            "Taken off, the invited agencies no longer see it on the meeting's page or in "
            "their calendars; the meeting's changes and the case's history say so."
        )
    consequences += [
        "Its meetings, decisions, tasks and history stay on record; partners' summaries "
        "still ask each owner as before.",
        "Your reason stays with your agency: partners read that the case was closed, not why.",
        "You can reopen it later, with a reason"
        + ("; it goes back on an agenda only when you add it." if coming else "."),
    ]
    ticks = None
    if coming:
        ticks = Ticks(
            name="take_off",
            listed="agenda_listed",
            legend=f"Take {case.reference} off the agenda of",
            hint="Untick a meeting to keep the case on its agenda, for instance to tell "
            "the team there that it closed.",
            options=tuple(
                (
                    m.public_id,
                    _meeting_words(ctx, m),
                    m.public_id in posted[1]
                    if m.public_id in posted[0]
                    else m.starts_at >= ctx.now,
                )
                for m in coming
            ),
        )
    return Confirm(
        title=f"Close {case.reference}?",
        consequences=consequences,
        action=f"{url}/close",
        button=f"Close {case.reference}",
        back=url,
        back_label=f"Back to {case.reference}",
        keep="Keep it open",
        reason=Reason(
            "reason",
            "Reason for closing",
            required=True,
            value=value,
            ask="Give a reason for closing",
        ),
        ticks=ticks,
    )


def _meetings_count(count: int) -> str:
    return "1 meeting" if count == 1 else f"{count} meetings"


def _meeting_words(ctx: Context, meeting) -> str:
    """A meeting as the coordinator knows it: its day and time in the MDT's zone, its place."""
    start = in_zone(meeting.starts_at, ctx.settings.tz, "weekday")
    where = meeting.place or ("by video link" if meeting.video_url else "")
    late = " (its time has passed; not marked held)" if meeting.starts_at < ctx.now else ""
    return f"The MDT meeting of {start}" + (f" · {where}" if where else "") + late


def case_close_page(ctx: Context) -> Response:
    case = casework.access_coordinated_case(
        ctx.db, ctx.viewer.agency, ctx.request.path_params["case_id"]
    )
    if case.status != CaseStatus.OPEN:
        return RedirectResponse(f"/cases/{case.public_id}", status_code=303)
    return page(ctx, close_case(ctx, case))


def withdraw_link(ctx: Context, case=None, *, value: str = "") -> Confirm:
    case = case or cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    url = f"/cases/{case.public_id}"
    return Confirm(
        title=f"Withdraw your agency's client record from {case.reference}?",
        consequences=[
            "From now on nothing of your client is disclosed to the MDT for this case: "
            "partners' summaries show your sections as not linked.",
            "What partners were shown before stays in their logs and yours.",
            "The case's history says that your agency withdrew its client record, not why; "
            "your reason is kept in your agency's log.",
            "You can confirm a client for the case again afterwards.",
        ],
        action=f"{url}/withdraw-link",
        button="Withdraw our client record",
        back=url,
        back_label=f"Back to {case.reference}",
        keep="Keep it linked",
        reason=Reason(
            "reason",
            "Why",
            required=True,
            value=value,
            choices=tuple(casework.WITHDRAWAL_REASONS.items()),
            ask="Choose why",
        ),
    )


def withdraw_link_page(ctx: Context) -> Response:
    case = cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    link = casework.own_link(ctx.db, case, ctx.viewer.agency)
    if link is None or link.confirmed_at is None:
        return RedirectResponse(f"/cases/{case.public_id}", status_code=303)
    return page(ctx, withdraw_link(ctx, case))
