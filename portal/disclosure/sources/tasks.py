"""MDT tasks' text, kept by the agency that wrote each task."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.disclosure.sources.base import Content, Item, Row, SourceCache, Wanted
from portal.models import StaffUser
from portal.models.workflow import Task, TaskChange, TaskComment

# A list shows at most this many of one owner's tasks on one case.
LIMIT = 500


class TaskTexts:
    """The `mdt_tasks` section as its owner holds it: each task's title, details and what
    blocks it; for
    the tasks asked for by id (a task's own page), its comments and history as well.

    Due dates, status and assignee are the case's tracking facts and are shown without
    this section: a withheld task can still be followed up."""

    def load(self, db: Session, wanted: Wanted, *, keys: KeyWrapper, cache: SourceCache) -> Content:
        if not wanted.case_ids:
            return Content((), None, None)
        query = (
            select(
                Task.id,
                Task.public_id,
                Task.title,
                Task.details,
                Task.blocked_reason,
                Task.updated_at,
            )
            .where(Task.owner_agency_id == wanted.owner_id, Task.case_id.in_(wanted.case_ids))
            .order_by(Task.due_date, Task.id)
            .limit(LIMIT)
        )
        if wanted.refs:
            query = query.where(Task.public_id.in_(wanted.refs))
        found = db.exec(query).all()
        comments: dict[int, list] = {}
        changes: dict[int, list] = {}
        if wanted.refs and found:
            ids = [row[0] for row in found]
            # Each name with its agency: a page tells whose staff wrote only where it may
            # tell that agency takes part (portal/services/tasks.py, `with_text`).
            for task_id, at, name, body, agency_id in db.exec(
                select(
                    TaskComment.task_id,
                    TaskComment.at,
                    StaffUser.display_name,
                    TaskComment.body,
                    StaffUser.agency_id,
                )
                .join(StaffUser, StaffUser.id == TaskComment.author_id)
                .where(TaskComment.task_id.in_(ids))
                .order_by(TaskComment.at, TaskComment.id)
            ).all():
                comments.setdefault(task_id, []).append((at, name, body, agency_id))
            for change, name, agency_id in db.exec(
                select(TaskChange, StaffUser.display_name, StaffUser.agency_id)
                .join(StaffUser, StaffUser.id == TaskChange.actor_id, isouter=True)
                .where(TaskChange.task_id.in_(ids))
                .order_by(TaskChange.at, TaskChange.id)
            ).all():
                changes.setdefault(change.task_id, []).append((change, name, agency_id))
        rows = tuple(
            Row(title, "textarea", details) for _id, _ref, title, details, _b, _at in found
        )
        items = tuple(
            Item(
                ref,
                {
                    "title": title,
                    "details": details,
                    "blocked_reason": blocked,
                    "comments": tuple(comments.get(task_id, ())),
                    "history": tuple(changes.get(task_id, ())),
                },
            )
            for task_id, ref, title, details, blocked, _at in found
        )
        saved = max((at for *_rest, at in found), default=None)
        return Content(rows, len(rows) or None, saved, items)
