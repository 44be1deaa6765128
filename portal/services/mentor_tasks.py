"""A mentor's follow-up becomes an MDT task; the mentor's caseload counts their open tasks.

The bridge between the survivor-mentor program's log (its own records) and the MDT's
tasks: the task carries only the title the mentor writes for the MDT and the date of the
accompaniment, never the entry's notes, and other agencies read even that only through
the program's disclosure point (issue 14).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy import update
from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.errors import Conflict, NotFound
from portal.models import Accompaniment, MdtCase, StaffUser
from portal.models.workflow import ACTIVE_TASK_STATUSES, Task, TaskPriority
from portal.requester import Requester
from portal.services import mentor_caseload, mentoring, tasks, visibility


def default_title(entry: Accompaniment) -> str:
    return (entry.follow_up or "Follow up on the accompaniment")[:200]


def task_from_follow_up(
    db: Session,
    mentor: StaffUser,
    entry_public_id: str,
    *,
    title: object,
    due_date: object,
    at: datetime,
    today: date,
) -> Task:
    """Make the MDT task for one entry's follow-up, assigned to the mentor who wrote it.

    Only the entry's author, while they still hold the case; once per entry (409 after)."""
    entry = mentoring.access_own_entry(db, mentor, entry_public_id)
    case = db.get(MdtCase, entry.case_id)
    try:
        mentor_caseload.access_caseload_case(db, mentor, case.public_id)
    except NotFound:
        raise NotFound("accompaniment") from None
    if not entry.follow_up_needed:
        raise Conflict("follow_up", "This entry has no follow-up to make a task of.")
    if entry.follow_up_task_id is not None:
        raise Conflict("follow_up", "A task was already made of this follow-up.")
    task = tasks.create_task(
        db,
        case,
        title=title,
        details=f"Follow-up from a survivor-mentor accompaniment on "
        f"{entry.occurred_on.isoformat()}.",
        assignee=f"user:{mentor.public_id}",
        due_date=due_date,
        priority=TaskPriority.NORMAL,
        offered={mentor.agency_id},  # the mentor's own
        actor=mentor,
        at=at,
        today=today,
    )
    # Conditional: of two tasks made at once from one entry, the second write matches no
    # row and its whole transaction is refused.
    linked = db.exec(
        update(Accompaniment)
        .where(Accompaniment.id == entry.id, Accompaniment.follow_up_task_id.is_(None))
        .values(follow_up_task_id=task.id)
    )
    if linked.rowcount != 1:
        raise Conflict("follow_up", "A task was already made of this follow-up.")
    db.refresh(entry)
    record(
        db,
        AuditTag.ACCOMPANIMENT_TASK_CREATED,
        agency_id=entry.agency_id,
        actor=mentor,
        subject=case.reference,
        detail={"accompaniment": entry.public_id, "task": task.public_id},
        at=at,
    )
    return task


def follow_ups_without_task(db: Session, mentor: StaffUser) -> list[Accompaniment]:
    """The mentor's own entries whose follow-up is not a task yet, newest first."""
    return list(
        db.exec(
            select(Accompaniment)
            .where(
                Accompaniment.mentor_id == mentor.id,
                Accompaniment.agency_id == mentor.agency_id,
                Accompaniment.follow_up_needed,
                Accompaniment.follow_up_task_id.is_(None),
                Accompaniment.deleted_at.is_(None),
            )
            .order_by(Accompaniment.occurred_on.desc(), Accompaniment.id.desc())
        ).all()
    )


def tasks_of_entries(
    db: Session,
    requester: Requester,
    entry_ids: list[str],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
) -> dict[str, tasks.TaskRow]:
    """The task made of each entry's follow-up, by entry public id (the program's page).
    Its title is the task owner's text: read through the owner's point like every task's
    (the program's own staff under its own policy, audited), never off the row."""
    if not entry_ids:
        return {}
    found = db.exec(
        select(Accompaniment.public_id, Task, MdtCase)
        .join(Task, Task.id == Accompaniment.follow_up_task_id)
        .join(MdtCase, MdtCase.id == Task.case_id)
        .where(Accompaniment.public_id.in_(entry_ids))
    ).all()
    rows = [tasks.task_row(db, task, case) for _entry, task, case in found]
    shown = tasks.with_text(db, requester, rows, at=at, tz=tz, keys=keys)
    return {entry: row for (entry, _task, _case), row in zip(found, shown, strict=True)}


def entry_of_task(db: Session, task: Task, viewer: StaffUser) -> str | None:
    """The entry a task was made from, for its author only (the program's own record)."""
    return db.exec(
        select(Accompaniment.public_id).where(
            Accompaniment.follow_up_task_id == task.id,
            Accompaniment.mentor_id == viewer.id,
            Accompaniment.agency_id == viewer.agency_id,
            Accompaniment.deleted_at.is_(None),
        )
    ).first()


def open_task_counts(db: Session, mentor: StaffUser) -> dict[str, int]:
    """Open tasks assigned to this mentor, per case public id, counted in SQL: only on the
    cases they hold now, as their caseload lists."""
    rows = db.exec(
        select(MdtCase.public_id, func.count(Task.id))
        .join(MdtCase, MdtCase.id == Task.case_id)
        .where(
            Task.assignee_user_id == mentor.id,
            Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]),
            visibility.held_by(mentor.id),
        )
        .group_by(MdtCase.public_id)
    ).all()
    return dict(rows)
