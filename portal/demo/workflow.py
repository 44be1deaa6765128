"""Demo seed for the MDT workflow: meetings held and upcoming, decisions, tasks in every
status, and cases on every side of the 14-day line (convened in time, late, due soon,
overdue). All synthetic; built through the services with back-dated times."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.models import Agency, CaseStatus, MdtCase, StaffUser
from portal.models.workflow import MeetingStatus, TaskPriority, TaskStatus
from portal.services import case_closing, casework, meetings, tasks
from portal.services import cases as cases_service

TASK_TITLES = (
    "Arrange a safe placement review",
    "Schedule the forensic interview",
    "Refer for a trauma-informed health check",
    "Confirm school enrolment support",
    "Prepare victim-compensation paperwork",
    "Connect with a survivor-mentor",
    "Follow up on court accompaniment",
)
STATUS_CYCLE = (
    TaskStatus.OPEN,
    TaskStatus.IN_PROGRESS,
    TaskStatus.DONE,
    TaskStatus.BLOCKED,
    TaskStatus.CANCELLED,
    TaskStatus.OPEN,
)


def _user(db: Session, username: str) -> StaffUser | None:
    return db.exec(select(StaffUser).where(StaffUser.username == username)).first()


def _instant(day: date, tz: ZoneInfo, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=tz).astimezone(UTC)


def seed_workflow(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    at: datetime,
    today: date,
    rng: random.Random,
    tz: ZoneInfo | None = None,
) -> None:
    tz = tz or ZoneInfo("America/New_York")
    coordinating = agencies_by_key["cac"]
    coordinator = _user(db, "coordinator")
    people = {
        agency_id: user
        for agency_id, user in (
            (u.agency_id, u)
            for u in (
                _user(db, name)
                for name in ("advocate", "casemanager", "investigator", "clinician", "mentor")
            )
            if u is not None
        )
    }
    cases = list(
        db.exec(
            select(MdtCase)
            .where(
                MdtCase.coordinating_agency_id == coordinating.id,
                MdtCase.status == CaseStatus.OPEN,
            )
            .order_by(MdtCase.intake_date, MdtCase.reference)
        ).all()
    )
    # Two fresh cases at the edge of the window: one due today, one due in two days.
    for days_ago in (14, 12):
        cases.append(
            cases_service.open_case(
                db,
                coordinating,
                intake_date=today - timedelta(days=days_ago),
                referral_source="hotline",
                actor=coordinator,
                at=min(at, _instant(today - timedelta(days=days_ago), tz, hour=9)),
                today=today,
                agencies=[agencies_by_key["cw"], agencies_by_key["shelter"]],
            )
        )
    held_dates = sorted(today - timedelta(days=7 * k + 2) for k in range(1, 9))
    upcoming = [today + timedelta(days=2), today + timedelta(days=9)]

    # Which case goes to which meeting: in time, late, never (overdue), or upcoming.
    plan: dict[date, list[MdtCase]] = {d: [] for d in held_dates + upcoming}
    for index, case in enumerate(cases):
        due = case.convening_due
        if due < today:
            kind = index % 3
            if kind == 0:  # convened within the window
                day = next((d for d in held_dates if case.intake_date < d <= due), None)
            elif kind == 1:  # convened, but after the deadline
                day = next((d for d in held_dates if d > due), None)
            else:  # overdue: no meeting yet; every other one is on the next agenda
                day = upcoming[0] if index % 2 == 0 else None
            if day is not None:
                plan[day].append(case)
        else:
            # Due soon: on the next meeting; a deadline before it shows as a warning.
            plan[upcoming[0]].append(case)

    status_turn = 0
    for day in held_dates + upcoming:
        if not plan[day]:
            continue
        created = min(at, _instant(day, tz) - timedelta(days=5))
        meeting = meetings.schedule_meeting(
            db,
            coordinating,
            day=day.isoformat(),
            clock="10:00",
            place="Riverbend CAC conference room B (demo)",
            video_url="https://video.example.invalid/mdt-demo",
            invited=[],
            case_ids=[c.public_id for c in plan[day]],
            actor=coordinator,
            at=created,
            tz=tz,
        )
        if day >= today:
            continue
        held_at = _instant(day, tz)
        meetings.hold_meeting(db, meeting, actor=coordinator, at=held_at, today=day)
        staff = meetings.invitable_staff(db, meeting)
        attendees = [u.public_id for u, _ in staff if u.username in _ATTENDING]
        meetings.record_attendance(db, meeting, attendees, actor=coordinator, at=held_at)
        labels = [r.label for r in meetings.recommendation_types(db, coordinating)]
        for row in meetings.agenda(db, meeting, coordinating):
            item, case = row.item, row.case
            meetings.record_minutes(
                db,
                meeting,
                item,
                f"Synthetic demo minutes for {case.reference}: partners shared updates; "
                "safety plan reviewed; next steps agreed.",
                actor=coordinator,
                at=held_at,
            )
            decision = meetings.record_decision(
                db,
                meeting,
                item,
                recommendation=rng.choice(labels),
                text="Agreed by the MDT (demo).",
                actor=coordinator,
                at=held_at,
            )
            meetings.mark_reviewed(db, meeting, item, actor=coordinator, at=held_at)
            for participant in casework.participants(db, case)[:2]:
                person = (
                    coordinator if participant.coordinating else people.get(participant.agency.id)
                )
                # The demo's mentor takes the tasks of the cases they hold; the program
                # picks for the others.
                assignee = (
                    f"user:{person.public_id}"
                    if person is not None and tasks.takes_tasks(db, case, person)
                    else f"agency:{participant.agency.public_id}"
                )
                task = tasks.create_task(
                    db,
                    case,
                    title=TASK_TITLES[status_turn % len(TASK_TITLES)],
                    details="Synthetic demo task.",
                    assignee=assignee,
                    due_date=(day + timedelta(days=rng.choice((3, 7, 14, 30)))).isoformat(),
                    priority=rng.choice(list(TaskPriority)).value,
                    decision=decision,
                    offered=None,  # the coordinator may name everyone on the case
                    actor=coordinator,
                    at=held_at,
                    today=day,
                )
                status = STATUS_CYCLE[status_turn % len(STATUS_CYCLE)]
                status_turn += 1
                if status != TaskStatus.OPEN:
                    tasks.change_status(
                        db,
                        task,
                        status,
                        reason="Waiting for a court date (demo)."
                        if status == TaskStatus.BLOCKED
                        else "",
                        actor=person or coordinator,
                        at=held_at + timedelta(days=1),
                    )
            if rng.random() < 0.5:
                casework.set_cadence(db, case, 30, actor=coordinator, at=held_at, today=day)

    # One case rescheduled with a reason, one meeting cancelled, one case closed.
    later = [
        m
        for m in meetings.meetings_for(db, coordinating)
        if m.status == MeetingStatus.SCHEDULED and m.meeting_date == upcoming[0]
    ]
    if later:
        meetings.reschedule_meeting(
            db,
            later[0],
            day=upcoming[0].isoformat(),
            clock="14:00",
            reason="Room double-booked (demo).",
            actor=coordinator,
            at=at,
            tz=tz,
        )
    spare = meetings.schedule_meeting(
        db,
        coordinating,
        day=upcoming[1].isoformat(),
        clock="09:30",
        place="Harbor County offices (demo)",
        invited=[],
        actor=coordinator,
        at=at,
        tz=tz,
    )
    meetings.cancel_meeting(
        db, spare, reason="Moved into the regular meeting (demo).", actor=coordinator, at=at
    )
    reviewed = [c for c in cases if c.first_mdt_date is not None]
    if reviewed:
        # As the close page does by default: off every agenda of a meeting not yet held.
        case_closing.close_case(
            db,
            reviewed[0],
            reason="Services complete; survivor moved out of county (demo).",
            take_off=[m.public_id for m in meetings.coming_agendas(db, reviewed[0])],
            actor=coordinator,
            at=at,
            today=today,
        )


_ATTENDING = {"coordinator", "advocate", "casemanager", "investigator", "clinician", "mentor"}
