"""Demo seed for the links between issues 5-7: a few of the demo mentor's follow-ups are
already MDT tasks, so the caseload's open-task counts and the entry-task links show."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from portal.errors import Invalid, NotFound
from portal.models import Agency, StaffUser
from portal.services import mentor_tasks

FOLLOW_UP_TASKS = 3  # the rest stay as follow-ups with the "make it a task" form


def seed_integration(
    db: Session, agencies_by_key: dict[str, Agency], *, at: datetime, today: date
) -> None:
    del agencies_by_key  # the demo mentor is found by name
    mentor = db.exec(select(StaffUser).where(StaffUser.username == "mentor")).first()
    if mentor is None:
        return
    entries = mentor_tasks.follow_ups_without_task(db, mentor)
    made = 0
    for number, entry in enumerate(entries):
        if made == FOLLOW_UP_TASKS:
            break
        try:
            mentor_tasks.task_from_follow_up(
                db,
                mentor,
                entry.public_id,
                title=mentor_tasks.default_title(entry),  # as the form offers it
                due_date=(today + timedelta(days=3 + 4 * number)).isoformat(),
                at=at,
                today=today,
            )
        except (Invalid, NotFound):  # a case the mentor no longer holds, or a closed one
            continue
        made += 1
