"""Closing an MDT case together with taking it off the agendas of meetings not yet held,
in one transaction (casework closes the case; meetings changes agendas)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from portal.audit import lock_logs
from portal.errors import Conflict
from portal.models import Actor, Agency, CaseStatus, MdtCase
from portal.models.workflow import Meeting
from portal.services import casework, meetings

TAKEN_OFF_WHY = "the case was closed."


@dataclass(frozen=True)
class Closed:
    taken_off: list[Meeting]  # the meetings the case was taken off, soonest first
    kept: list[Meeting]  # those not yet held that still have it, as the coordinator chose
    uninvited: list[Agency]  # invited for this case alone to a meeting it was taken off


def close_case(
    db: Session,
    case: MdtCase,
    *,
    reason: object,
    take_off: Collection[str] = (),
    listed: Collection[str] | None = None,
    actor: Actor,
    at: datetime,
    today: date,
) -> Closed:
    """Close the case (`casework.close_case`) and take it off the agendas of the meetings not
    yet held named in `take_off` (public ids); `listed`: the meetings the confirmation page
    showed (`meetings.check_agenda_choice`). A choice refused writes nothing. A case reopened
    later goes back on an agenda only when the coordinator adds it."""
    # The case first, then the MDT's log, in the order every write to a case takes them
    # (`casework.held_case`): an addition to an agenda at the same moment waits for this
    # close, then finds the case closed; a new task or mentor waits, then is refused.
    # Taken the other way round (the log, then the case), a close and a new task deadlocked.
    # A close sent twice is told so, before its list of meetings is compared with the
    # agendas the first one changed (which would read as meetings changed since).
    if casework.held_case(db, case).status == CaseStatus.CLOSED:
        raise Conflict("reason", casework.ALREADY_CLOSED)
    lock_logs(db, [case.coordinating_agency_id])
    coming = meetings.coming_agendas(db, case)
    chosen = meetings.check_agenda_choice(coming, take_off, listed=listed)
    casework.close_case(db, case, reason=reason, actor=actor, at=at, today=today)
    uninvited: dict[int, Agency] = {}
    for meeting in chosen:
        for agency in meetings.take_off_agenda(
            db, meeting, case, why=TAKEN_OFF_WHY, actor=actor, at=at
        ):
            uninvited.setdefault(agency.id, agency)
    return Closed(
        chosen,
        [meeting for meeting in coming if meeting not in chosen],
        sorted(uninvited.values(), key=lambda agency: agency.name),
    )
