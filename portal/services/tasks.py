"""Tasks from meetings and cases: assignment, status, history, comments, and the lists.

Only staff of agencies taking part in a task's case see the task; everyone else gets the
same 404 as for a task that does not exist. Lists are filtered and ordered in SQL.

A task's text — title, details, comments, history, what blocks it — belongs to the agency
that wrote it (issue 14). This module writes it but never reads it back for a page: every
page gets it from the owner's disclosure point (`with_text`), the owner's own staff too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy import update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from portal.audit import AuditTag, entry_values, lock_logs, record, record_many
from portal.auth.permissions import Permission, allows, caseload_only
from portal.crypto import KeyWrapper
from portal.db import hold_write_lock
from portal.disclosure import RequestCache, Withheld
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Actor, Agency, MdtCase, MentorAssignment, StaffRole, StaffUser
from portal.models.workflow import (
    ACTIVE_TASK_STATUSES,
    Decision,
    Task,
    TaskChange,
    TaskComment,
    TaskPriority,
    TaskStatus,
)
from portal.requester import Requester
from portal.services import case_records, casework, validation, visibility


def _assignee(
    db: Session, case: MdtCase, assignee: object, offered: Collection[int] | None
) -> tuple[Agency, StaffUser | None]:
    """`assignee` is "agency:<public id>" or "user:<public id>"; both must take part, and
    be of an agency in `offered` (None: any agency on the case).

    `offered` is what the person choosing was offered: the agencies they may be told take
    part. Any other is refused in the words an agency not on the case is, so that the
    answer never tells them that a community-based agency serves the survivor."""
    kind, _, public_id = str(assignee or "").partition(":")
    found = None
    if kind == "user":
        user = db.exec(
            select(StaffUser).where(StaffUser.public_id == public_id, StaffUser.is_active)
        ).first()
        if user is not None and _hold_tasks(db, case, [user.id], hold=True):
            found = db.get(Agency, user.agency_id), user
    elif kind == "agency":
        agency = db.exec(select(Agency).where(Agency.public_id == public_id)).first()
        if agency is not None:
            found = agency, None
    if (
        found is not None
        and (offered is None or found[0].id in offered)
        and casework.is_participant(db, case, found[0].id)
    ):
        return found
    raise Invalid("assignee", "Choose a person or agency taking part in the case.")


def assignee_choices(
    db: Session, case: MdtCase, *, agencies: set[int] | None = None
) -> list[tuple[str, str]]:
    """(value, label) for the assignee picker: each agency, then its staff; only
    `agencies` when given (those the person choosing may be told take part)."""
    choices = []
    listed: set[int] = set()
    for participant in casework.participants(db, case):
        agency = participant.agency
        # The coordinating agency takes part twice where it linked its own client record.
        if agency.id in listed or (agencies is not None and agency.id not in agencies):
            continue
        listed.add(agency.id)
        choices.append((f"agency:{agency.public_id}", f"{agency.name} (agency picks)"))
        staff = db.exec(
            select(StaffUser)
            .where(StaffUser.agency_id == agency.id, StaffUser.is_active)
            .order_by(StaffUser.display_name)
        ).all()
        holders = _hold_tasks(db, case, [user.id for user in staff])
        for user in staff:
            if user.id in holders:
                choices.append((f"user:{user.public_id}", f"  {user.display_name} · {agency.name}"))
    return choices


def _hold_tasks(db: Session, case: MdtCase, user_ids: list[int], *, hold: bool = False) -> set[int]:
    """Those of these staff who would see a task of this case: roles that may see tasks,
    and of a survivor-mentor who reads cases in no other role, only the case's own mentor
    (`access_task`). A task assigned to anyone else (the node's administrator, another
    mentor of the program) would sit on nobody's list.

    `hold`: a task is about to be given to one of them. The case's current mentor
    assignment is then read held to this transaction's end (on SQLite the writers' lock
    first): an end or reassignment of the mentor at the same moment waits, then passes the
    task on with the mentor's others (`pass_from_mentor`), or ends first and this one finds
    the mentor no longer the case's."""
    roles: dict[int, set[str]] = {}
    for user_id, role in db.exec(
        select(StaffRole.user_id, StaffRole.role).where(StaffRole.user_id.in_(user_ids or [0]))
    ).all():
        roles.setdefault(user_id, set()).add(role)
    mentors = _hold_mentors(db, case) if hold else _mentors(db, case)
    return {
        user_id
        for user_id, held in roles.items()
        if allows(frozenset(held), Permission.TASK_READ)
        and (user_id in mentors or not caseload_only(frozenset(held)))
    }


def _current_mentors(case: MdtCase):
    return select(MentorAssignment.mentor_id).where(
        MentorAssignment.case_id == case.id, MentorAssignment.ended_at.is_(None)
    )


def _mentors(db: Session, case: MdtCase) -> set[int]:
    return set(db.exec(_current_mentors(case)).all())


def _hold_mentors(db: Session, case: MdtCase) -> set[int]:
    """The case's current mentors, their assignment held to this transaction's end (on
    SQLite the writers' lock first). Taken before a task of the case is held, and after the
    case itself, in the order a reassignment takes them (the case, the assignment, the
    tasks it passes, the logs), so that the two wait for each other and never deadlock."""
    hold_write_lock(db)
    return set(db.exec(_current_mentors(case).with_for_update()).all())


def takes_tasks(db: Session, case: MdtCase, user: StaffUser) -> bool:
    """Whether a task of this case may be given to this person by name."""
    return bool(_hold_tasks(db, case, [user.id]))


def hands_on(task: Task, case: MdtCase, agency_id: int) -> bool:
    """Whether an agency may change a task or comment on it: the one that set it, the one
    it is assigned to, and the MDT's coordinator. Another agency on the case sees that it
    exists (it may not even read it) and leaves it alone."""
    return agency_id in (
        task.owner_agency_id,
        task.assignee_agency_id,
        case.coordinating_agency_id,
    )


def _require_hands_on(db: Session, task: Task, actor: Actor) -> None:
    if actor is not None and not hands_on(task, db.get(MdtCase, task.case_id), actor.agency_id):
        raise Forbidden(
            "Only the agency that set this task, the agency it is assigned to and the MDT's "
            "coordinator change it or comment on it."
        )


def _record_change(
    db: Session,
    task: Task,
    tag: AuditTag,
    *,
    actor: Actor,
    at: datetime,
    detail=None,
    acting_log: bool = True,
) -> None:
    """In the log of the agency whose record the task is, and in the acting agency's own:
    never in a third agency's, which might not be told the actor's agency takes part.
    `acting_log` False: not in the acting agency's either (one not on the case)."""
    acting = actor.agency_id if actor and acting_log else task.owner_agency_id
    logs = sorted({task.owner_agency_id, acting})
    actor_refs = None if actor is None else (actor.public_id, _agency_ref(db, actor.agency_id))
    record_many(
        db,
        [
            entry_values(
                tag,
                agency_id=agency_id,
                actor=actor_refs,
                subject=task.public_id,
                detail=detail,
                at=at,
            )
            for agency_id in logs
        ],
    )


def _agency_ref(db: Session, agency_id: int) -> str:
    return db.get(Agency, agency_id).public_id


def edit_fingerprint(task: Task, *, assignee_told: bool = True) -> str:
    """What a task's edit form carries of the values it showed: a save over values changed
    since is refused (it would put back what a colleague had just changed).

    `assignee_told` False: the page could not name the assignee (an agency the editor may
    not be told takes part), so the fingerprint leaves it out. A hash of its ids beside the
    due date and priority the page shows is undone by guessing a few small integers, and
    would tell the fact of service with no entry in that agency's log; the form can only
    keep that assignee as it is (KEEP_ASSIGNEE), so there is nothing of it to put back."""
    assignee = (
        f"{task.assignee_agency_id}|{task.assignee_user_id}" if assignee_told else KEEP_ASSIGNEE
    )
    shown = f"{assignee}|{task.due_date}|{task.priority}"
    return hashlib.sha256(shown.encode()).hexdigest()[:24]


def create_task(
    db: Session,
    case: MdtCase,
    *,
    title: object,
    details: object = "",
    assignee: object,
    due_date: object,
    priority: object = TaskPriority.NORMAL,
    decision: Decision | None = None,
    offered: Collection[int] | None,
    actor: Actor,
    at: datetime,
    today: date,
) -> Task:
    """`offered`: the agencies whose staff the person choosing may assign (see
    `_assignee`); None only where anyone on the case may be (the seed)."""
    # The case first, then its mentor's assignment (`_assignee`), as a reassignment.
    casework.held_case(db, case)
    values = validation.collect(
        title=lambda: validation.text(title, "title", max_length=200),
        details=lambda: validation.text(
            details, "details", max_length=4000, required=False, multiline=True
        ),
        assignee=lambda: _assignee(db, case, assignee, offered),
        due_date=lambda: validation.domain_date(due_date, "due_date", label="Due date"),
        priority=lambda: validation.choice(priority, "priority", TaskPriority),
    )
    if values["due_date"] < today:
        raise Invalid("due_date", "The due date cannot be before the day the task is created.")
    case = casework.open_for_writes(
        db, case, field="title", closed="The case is closed; reopen it to add tasks."
    )
    agency, user = values["assignee"]
    task = Task(
        case_id=case.id,
        decision_id=getattr(decision, "id", None),
        title=values["title"],
        details=values["details"],
        assignee_agency_id=agency.id,
        assignee_user_id=getattr(user, "id", None),
        due_date=values["due_date"],
        priority=values["priority"],
        status=TaskStatus.OPEN,
        created_at=at,
        created_by_id=actor.id if actor else None,
        # The writer's agency owns the text; a tool's task belongs to the coordinator.
        owner_agency_id=actor.agency_id if actor else case.coordinating_agency_id,
        updated_at=at,
    )
    db.add(task)
    db.flush()
    _change(db, task, "created", None, task.title, actor=actor, at=at)
    record(
        db,
        AuditTag.TASK_CREATED,
        agency_id=task.owner_agency_id,
        actor=actor,
        subject=task.public_id,
        detail={"case": case.reference},
        at=at,
    )
    return task


def _change(db: Session, task: Task, field: str, old, new, *, actor: Actor, at: datetime) -> None:
    db.add(
        TaskChange(
            task_id=task.id,
            at=at,
            actor_id=actor.id if actor else None,
            field=field,
            old_value=None if old is None else str(old)[:500],
            new_value=None if new is None else str(new)[:500],
        )
    )


def access_task(
    db: Session, agency: Agency, public_id: str, *, holder: StaffUser | None = None
) -> tuple[Task, MdtCase]:
    """A task on a case the agency takes part in; with `holder` (a viewer who reads cases
    only as a survivor-mentor), only one on a case they hold now. A task given to them by
    name is about the survivor like the case is: once the case passes to another mentor,
    or ends with none, the former mentor is answered as if it did not exist."""
    mine = () if holder is None else (visibility.held_by(holder.id),)
    row = db.exec(
        select(Task, MdtCase)
        .join(MdtCase, MdtCase.id == Task.case_id)
        .where(Task.public_id == public_id, casework.participates(agency.id), *mine)
    ).first()
    if row is None:
        raise NotFound("task")
    return row


def change_status(
    db: Session,
    task: Task,
    status: object,
    *,
    reason: object = "",
    actor: Actor,
    at: datetime,
) -> None:
    _require_hands_on(db, task, actor)
    values = validation.collect(
        status=lambda: validation.choice(status, "status", TaskStatus),
        reason=lambda: validation.text(reason, "reason", max_length=500, required=False),
    )
    new = values["status"]
    if new == TaskStatus.BLOCKED and not values["reason"]:
        raise Invalid("reason", "Say what the task is blocked on.")
    if new == task.status and new != TaskStatus.BLOCKED:
        return
    _change(db, task, "status", task.status, new, actor=actor, at=at)
    if new == TaskStatus.BLOCKED:
        _change(
            db, task, "blocked_reason", task.blocked_reason, values["reason"], actor=actor, at=at
        )
    task.status = new
    task.blocked_reason = values["reason"] if new == TaskStatus.BLOCKED else None
    task.updated_at = at
    db.add(task)
    _record_change(db, task, AuditTag.TASK_CHANGED, actor=actor, at=at, detail={"status": new})


# The task page's choice for "as it is": offered in place of an assignee the person editing
# may not be told takes part, which the page cannot name, nor offer by its id.
KEEP_ASSIGNEE = "unchanged"


def update_task(
    db: Session,
    task: Task,
    case: MdtCase,
    *,
    assignee: object,
    due_date: object,
    priority: object,
    offered: Collection[int] | None,
    actor: Actor,
    at: datetime,
    tz: tzinfo = UTC,
    seen: object = None,
) -> None:
    """`tz`: the MDT's zone, in which due dates (calendar dates) are read. `offered`: as
    for `create_task`. `seen`: the form's `edit_fingerprint`, when saving from a page."""
    _require_hands_on(db, task, actor)
    # The task as it is now, held to this transaction's end (on SQLite the writers' lock,
    # taken before the read): two saves from one page at once take turns, and the second
    # is told of the first.
    hold_write_lock(db)
    # The case's mentor assignment before the task, as a reassignment takes them: one that
    # passes this task at the same moment waits for this save, or this save for it.
    _hold_mentors(db, case)
    db.refresh(task, with_for_update=True)
    fingerprints = {edit_fingerprint(task)}
    if assignee == KEEP_ASSIGNEE:  # a form that could not name the assignee
        fingerprints.add(edit_fingerprint(task, assignee_told=False))
    if seen is not None and seen not in fingerprints:
        raise Conflict(
            "priority",
            "Someone changed this task after you opened the page; what it is now is shown. "
            "Make your change again.",
        )
    values = validation.collect(
        assignee=lambda: (
            _current_assignee(db, task)
            if assignee == KEEP_ASSIGNEE
            else _assignee(db, case, assignee, offered)
        ),
        due_date=lambda: validation.domain_date(due_date, "due_date", label="Due date"),
        priority=lambda: validation.choice(priority, "priority", TaskPriority),
    )
    if values["due_date"] < task.created_at.astimezone(tz).date():
        raise Invalid("due_date", "The due date cannot be before the task was created.")
    agency, user = values["assignee"]
    new_user = getattr(user, "id", None)
    if (agency.id, new_user) != (task.assignee_agency_id, task.assignee_user_id):
        _change(
            db,
            task,
            "assignee",
            _assignee_label(db, task.assignee_agency_id, task.assignee_user_id),
            _assignee_label(db, agency.id, new_user),
            actor=actor,
            at=at,
        )
        task.assignee_agency_id, task.assignee_user_id = agency.id, new_user
    if values["due_date"] != task.due_date:
        _change(db, task, "due_date", task.due_date, values["due_date"], actor=actor, at=at)
        task.due_date = values["due_date"]
    if values["priority"] != task.priority:
        _change(db, task, "priority", task.priority, values["priority"], actor=actor, at=at)
        task.priority = values["priority"]
    task.updated_at = at
    db.add(task)
    _record_change(db, task, AuditTag.TASK_CHANGED, actor=actor, at=at)


def _current_assignee(db: Session, task: Task) -> tuple[Agency, StaffUser | None]:
    user = db.get(StaffUser, task.assignee_user_id) if task.assignee_user_id else None
    return db.get(Agency, task.assignee_agency_id), user


def _assignee_label(db: Session, agency_id: int, user_id: int | None) -> str:
    if user_id is not None:
        return db.get(StaffUser, user_id).display_name
    return db.get(Agency, agency_id).name


# How a task's history says it went with the case's mentor (`pass_from_mentor`): the
# assignee changed because the case passed to another mentor, or was left with none.
TO_NEW_MENTOR = "assignee_to_new_mentor"
BACK_TO_PROGRAM = "assignee_back_to_program"
# The history fields whose values name an assignee (an agency, or one of its staff): a
# page names them only where it may tell that agency takes part (`with_text`).
ASSIGNEE_FIELDS = frozenset({"assignee", TO_NEW_MENTOR, BACK_TO_PROGRAM})


def hold_named_to(db: Session, mentor: StaffUser, case_ids: Collection[int]) -> set[int]:
    """Hold the open tasks of these cases given to `mentor` by name, as `pass_from_mentor`
    holds one case's (before the logs); returns the agencies that own them."""
    active = [status.value for status in ACTIVE_TASK_STATUSES]
    hold_write_lock(db)
    return {
        owner
        for _id, owner in db.exec(
            select(Task.id, Task.owner_agency_id)
            .where(
                Task.case_id.in_(list(case_ids)),
                Task.assignee_user_id == mentor.id,
                Task.status.in_(active),
            )
            .order_by(Task.id)
            .with_for_update()
        ).all()
    }


def pass_from_mentor(
    db: Session,
    case: MdtCase,
    outgoing: StaffUser,
    *,
    incoming: StaffUser | None,
    logs: Collection[int] = (),
    actor: Actor,
    at: datetime,
) -> int:
    """The case's open tasks given by name to its outgoing mentor pass to the incoming one
    (and their program), or with none, back to the program they were given under, no
    person named. Done and cancelled tasks keep their assignee: they are the history.

    Called in the transaction that ends the mentor's assignment: a former mentor no longer
    reads the case's tasks (`access_task`), so one left in their name would be followed by
    nobody. One conditional statement: a task closed at the same instant stays closed.
    `logs`: the other logs the caller writes to, locked with the tasks' in one order.
    Returns how many passed."""
    active = [status.value for status in ACTIVE_TASK_STATUSES]
    named = (
        Task.case_id == case.id,
        Task.assignee_user_id == outgoing.id,
        Task.status.in_(active),
    )
    # The tasks held before the logs, as a task's edit takes them (the task, then the logs
    # its change is written to): taken the other way round, the two deadlocked.
    owners = {
        owner
        for _id, owner in db.exec(
            select(Task.id, Task.owner_agency_id).where(*named).with_for_update()
        ).all()
    }
    if not owners:
        return 0
    # One who acts from an agency not on the case (the node's administrator deactivating a
    # mentor) leaves no word of the case in that agency's log.
    acting_log = casework.is_participant(db, case, actor.agency_id)
    lock_logs(db, [*owners, *([actor.agency_id] if acting_log else []), *logs])
    values: dict = {"assignee_user_id": None, "updated_at": at}
    if incoming is not None:
        values.update(assignee_user_id=incoming.id, assignee_agency_id=incoming.agency_id)
    passed = (
        db.execute(update(Task).where(*named).values(**values).returning(Task.id)).scalars().all()
    )
    field = BACK_TO_PROGRAM if incoming is None else TO_NEW_MENTOR
    for task in db.exec(
        select(Task)
        .where(Task.id.in_(passed))
        .order_by(Task.id)
        .execution_options(populate_existing=True)
    ).all():
        new = _assignee_label(db, task.assignee_agency_id, task.assignee_user_id)
        _change(db, task, field, outgoing.display_name, new, actor=actor, at=at)
        _record_change(
            db,
            task,
            AuditTag.TASK_CHANGED,
            actor=actor,
            at=at,
            detail={"assignee": "new mentor" if incoming else "program", "case": case.reference},
            acting_log=acting_log,
        )
    return len(passed)


def add_comment(
    db: Session, task: Task, body: object, *, actor: Actor, at: datetime
) -> TaskComment:
    """A comment becomes part of the task's record, which the agency that set it keeps and
    its disclosure point discloses (the form says so)."""
    _require_hands_on(db, task, actor)
    text = validation.text(body, "body", max_length=2000, label="Comment")
    comment = TaskComment(task_id=task.id, at=at, author_id=actor.id, body=text)
    db.add(comment)
    _record_change(db, task, AuditTag.TASK_COMMENTED, actor=actor, at=at)
    return comment


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class TaskFilter:
    """The task list's filters (`portal.web.forms.task_filter` reads the query string)."""

    scope: str = "mine"  # "mine" | "agency"
    case_reference: str = ""
    status: str = ""  # "" = still to do (open, in progress, blocked)
    due_from: date | None = None
    due_to: date | None = None


@dataclass(frozen=True)
class TaskRow:
    """A task as a list shows it. Due date, status, priority and assignee are the case's
    tracking, shown to every agency on the case; the title and what blocks it are the
    owner's text, set only from what the owner's disclosure point released (`with_text`)."""

    public_id: str
    case_reference: str
    case_public_id: str
    due_date: date
    priority: str
    status: str
    assignee: str
    case_id: int
    owner_id: int
    owner_name: str
    assignee_agency_id: int
    coordinating_id: int  # the case's coordinating agency
    # False: the requester may not be told that agency takes part (`with_text`), and the
    # name above is UNTOLD instead.
    owner_told: bool = True
    assignee_told: bool = True
    title: str | None = None
    blocked_reason: str | None = None
    withheld: Withheld | None = None  # the owner's placeholder, when it did not release
    # On the task's own page only (asked for by id): the rest of the owner's text.
    details: str | None = None
    comments: tuple = ()  # (at, author name, body)
    history: tuple = ()  # (TaskChange, actor name or None)

    # A task kept on the node of the case's coordinator, shown here as its point answered
    # (`portal.federation.summary.assigned_elsewhere`): followed here, changed there.
    elsewhere: bool = False

    def hands_on(self, agency_id: int) -> bool:
        """See `hands_on`: whether this agency may change the task or comment on it."""
        if self.elsewhere:
            return False
        return agency_id in (self.owner_id, self.assignee_agency_id, self.coordinating_id)


_OWNER = aliased(Agency)
_ROW_COLUMNS = (
    Task.public_id,
    MdtCase.reference,
    MdtCase.public_id,
    Task.due_date,
    Task.priority,
    Task.status,
    Task.case_id,
    Task.owner_agency_id,
    _OWNER.name,
    Task.assignee_agency_id,
    MdtCase.coordinating_agency_id,
)
# How a row names an agency (or its staff) whose taking part the requester may not be told.
UNTOLD = "another agency on the case"


def _row(values, assignee: str) -> TaskRow:
    return TaskRow(*values[:6], assignee, *values[6:])


def task_list(
    db: Session,
    viewer_user: StaffUser,
    viewer_agency: Agency,
    filters: TaskFilter,
    *,
    limit: int = 100,
    offset: int = 0,
    holder: StaffUser | None = None,
) -> list[TaskRow]:
    """My tasks, or my agency's, overdue first (earliest due first), filtered in SQL.
    With `holder` (a viewer who reads cases only as a survivor-mentor), either list holds
    only tasks on cases they hold now (`access_task`). Without their text: see
    `with_text`."""
    query = (
        select(*_ROW_COLUMNS, StaffUser.display_name)
        .join(MdtCase, MdtCase.id == Task.case_id)
        .join(_OWNER, _OWNER.id == Task.owner_agency_id)
        .join(StaffUser, StaffUser.id == Task.assignee_user_id, isouter=True)
        .where(casework.participates(viewer_agency.id))
    )
    if filters.scope == "agency":
        query = query.where(Task.assignee_agency_id == viewer_agency.id)
    else:
        query = query.where(Task.assignee_user_id == viewer_user.id)
    if holder is not None:
        query = query.where(visibility.held_by(holder.id))
    if filters.status == "":
        query = query.where(Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]))
    elif filters.status != "all":
        query = query.where(Task.status == filters.status)
    if filters.case_reference:
        query = query.where(MdtCase.reference == filters.case_reference)
    if filters.due_from:
        query = query.where(Task.due_date >= filters.due_from)
    if filters.due_to:
        query = query.where(Task.due_date <= filters.due_to)
    rows = db.exec(query.order_by(Task.due_date, Task.id).offset(offset).limit(limit)).all()
    return [_row(values, name or "(agency picks)") for *values, name in rows]


def with_text(
    db: Session,
    requester: Requester,
    rows: list[TaskRow],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
    refs: tuple[str, ...] = (),
    cache: RequestCache | None = None,
) -> list[TaskRow]:
    """The rows with each task's text as its owner's disclosure point answered: asked once
    per owner and case, audited on both sides; a placeholder where it was withheld.

    A row names its owner and its assignee (an agency, or one of its staff), and a task's
    own page the staff who commented on it or changed it: where that is a community-based
    agency whose taking part in the case the requester may not be told
    (`case_records.may_name`, asked of its point), the row says UNTOLD (or UNTOLD_PERSON)
    instead of the name. The owners and assignees are asked in the same breath as the
    text; whoever the released comments and history name, once they are in. `cache` as
    in `case_records.decide` (what nodes elsewhere answered for the text: `text_asks`)."""
    asks = text_asks(db, rows, refs)
    named = {
        (row.case_id, agency_id)
        for row in rows
        for agency_id in (row.owner_id, row.assignee_agency_id)
    }
    answers = case_records.decide(
        db,
        requester,
        asks + _participation_asks(db, requester, named),
        at=at,
        tz=tz,
        keys=keys,
        between=between,
        cache=cache,
    )
    told = _told(db, requester, named, answers)
    texts = {}
    for row in rows:
        decision = answers[case_records.key(row.case_id, row.owner_id, case_records.TASKS)]
        if isinstance(decision, Withheld):
            texts[row.public_id] = decision
            continue
        item = decision.content.item(row.public_id)
        texts[row.public_id] = item.values if item is not None else {}
    labels: dict = {}  # (case id, assignee label) -> the agencies it could name, read once
    authors = {
        (row.case_id, agency_id)
        for row in rows
        if isinstance(texts[row.public_id], dict)
        for agency_id in _agencies_named(db, row, texts[row.public_id], labels)
    } - told.keys()
    if authors:
        more = case_records.decide(
            db,
            requester,
            _participation_asks(db, requester, authors),
            at=at,
            tz=tz,
            keys=keys,
            between=between,
        )
        told |= _told(db, requester, authors, more)
    shown = []
    for row in rows:
        row = _as_told(row, told)
        values = texts[row.public_id]
        if isinstance(values, Withheld):
            shown.append(replace(row, withheld=values))
            continue
        shown.append(
            replace(
                row,
                title=values.get("title"),
                blocked_reason=values.get("blocked_reason"),
                details=values.get("details"),
                comments=tuple(
                    (when, name if told[(row.case_id, agency)] else UNTOLD_PERSON, body)
                    for when, name, body, agency in values.get("comments", ())
                ),
                history=tuple(
                    _told_change(row, change, name, agency, told, labels)
                    for change, name, agency in values.get("history", ())
                ),
            )
        )
    return shown


def text_asks(
    db: Session, rows: list[TaskRow], refs: tuple[str, ...] = ()
) -> list[case_records.Ask]:
    """What `with_text` asks for the rows' text: each owner's tasks on each case."""
    return [
        case_records.Ask(
            db.get(MdtCase, row.case_id), db.get(Agency, row.owner_id), case_records.TASKS, refs
        )
        for row in rows
    ]


# How a task's page names a person of an agency the requester may not be told takes part.
UNTOLD_PERSON = "someone at another agency on the case"


def _participation_asks(db: Session, requester: Requester, named: set) -> list:
    asks = []
    for case_id in {case_id for case_id, _agency in named}:
        asks += case_records.participation_asks(
            db,
            requester,
            db.get(MdtCase, case_id),
            [db.get(Agency, agency_id) for c, agency_id in named if c == case_id],
        )
    return asks


def _told(db: Session, requester: Requester, named: set, answers) -> dict:
    return {
        (case_id, agency_id): case_records.may_name(
            db, requester, db.get(MdtCase, case_id), db.get(Agency, agency_id), answers
        )
        for case_id, agency_id in named
    }


def _agencies_named(db: Session, row: TaskRow, values: dict, labels: dict) -> set[int]:
    """The agencies a task's released comments and history name: their authors', and those
    an assignee change names (by the agency's name or one of its staff's)."""
    found = {agency for *_comment, agency in values.get("comments", ()) if agency is not None}
    for change, _name, agency in values.get("history", ()):
        if agency is not None:
            found.add(agency)
        if change.field in ASSIGNEE_FIELDS:
            for label in (change.old_value, change.new_value):
                found |= _labelled(db, row.case_id, label, labels)
    return found


def _labelled(db: Session, case_id: int, label: str | None, labels: dict) -> set[int]:
    """The agencies on the case an assignee label could name: by its name, or a staff
    member's (display names are not unique: every agency it could be). Kept in `labels`."""
    if not label:
        return set()
    if (case_id, label) in labels:
        return labels[(case_id, label)]
    on_case = [p.agency.id for p in casework.participants(db, db.get(MdtCase, case_id))]
    by_name = db.exec(select(Agency.id).where(Agency.id.in_(on_case), Agency.name == label)).all()
    by_staff = db.exec(
        select(StaffUser.agency_id).where(
            StaffUser.agency_id.in_(on_case), StaffUser.display_name == label
        )
    ).all()
    labels[(case_id, label)] = set(by_name) | set(by_staff)
    return labels[(case_id, label)]


@dataclass(frozen=True)
class ShownChange:
    """A task change as a page shows it: its values as the requester may be told them."""

    at: datetime
    field: str
    old_value: str | None
    new_value: str | None


def _told_change(row: TaskRow, change: TaskChange, name, agency, told, labels) -> tuple:
    def value(label: str | None) -> str | None:
        if change.field not in ASSIGNEE_FIELDS or not label:
            return label
        agencies = labels[(row.case_id, label)]  # read by _agencies_named
        return label if agencies and all(told[(row.case_id, a)] for a in agencies) else UNTOLD

    who = name if agency is None or told[(row.case_id, agency)] else UNTOLD_PERSON
    shown = ShownChange(change.at, change.field, value(change.old_value), value(change.new_value))
    return shown, who


def _as_told(row: TaskRow, told: dict[tuple[int, int], bool]) -> TaskRow:
    owner_told = told[(row.case_id, row.owner_id)]
    assignee_told = told[(row.case_id, row.assignee_agency_id)]
    return replace(
        row,
        owner_name=row.owner_name if owner_told else UNTOLD,
        assignee=row.assignee if assignee_told else UNTOLD,
        owner_told=owner_told,
        assignee_told=assignee_told,
    )


PAGE_SIZE = 25
MAX_PAGE = 10_000


@dataclass(frozen=True)
class TaskPage:
    rows: list[TaskRow]
    page: int
    has_next: bool


def task_page(
    db: Session,
    viewer_user: StaffUser,
    viewer_agency: Agency,
    filters: TaskFilter,
    *,
    page: int = 1,
    holder: StaffUser | None = None,
) -> TaskPage:
    """One page of task_list: the same rows whatever the total, so a long list costs the
    same to show as a short one."""
    page = min(max(page, 1), MAX_PAGE)
    rows = task_list(
        db,
        viewer_user,
        viewer_agency,
        filters,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
        holder=holder,
    )
    return TaskPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


# A case's tasks assigned to one agency, as its coordinator's node answers for it.
MAX_ASSIGNED = 200


def assigned_to(
    db: Session, case: MdtCase, agency: Agency, filters: TaskFilter
) -> list[tuple[Task, str | None]]:
    """The case's tasks assigned to the agency (to it, or to one of its staff), with the
    staff member's name when a person holds it; the list's filters applied in SQL, overdue
    first. Tracking facts only: their text is each owner's point's to disclose."""
    query = (
        select(Task, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == Task.assignee_user_id, isouter=True)
        .where(Task.case_id == case.id, Task.assignee_agency_id == agency.id)
    )
    if filters.status == "":
        query = query.where(Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]))
    elif filters.status != "all":
        query = query.where(Task.status == filters.status)
    if filters.due_from:
        query = query.where(Task.due_date >= filters.due_from)
    if filters.due_to:
        query = query.where(Task.due_date <= filters.due_to)
    return list(db.exec(query.order_by(Task.due_date, Task.id).limit(MAX_ASSIGNED)).all())


def case_tasks(db: Session, case: MdtCase, *, open_only: bool = False) -> list[TaskRow]:
    """The case's tasks, without their text (see `with_text`)."""
    query = (
        select(*_ROW_COLUMNS, StaffUser.display_name, Agency.name)
        .join(MdtCase, MdtCase.id == Task.case_id)
        .join(_OWNER, _OWNER.id == Task.owner_agency_id)
        .join(StaffUser, StaffUser.id == Task.assignee_user_id, isouter=True)
        .join(Agency, Agency.id == Task.assignee_agency_id)
        .where(Task.case_id == case.id)
    )
    if open_only:
        query = query.where(Task.status.in_([s.value for s in ACTIVE_TASK_STATUSES]))
    rows = db.exec(query.order_by(Task.due_date, Task.id)).all()
    return [
        _row(values, name or f"{agency_name} (agency picks)") for *values, name, agency_name in rows
    ]


def task_row(db: Session, task: Task, case: MdtCase) -> TaskRow:
    """One task as a list shows it (the answer to an inline status change)."""
    user = db.get(StaffUser, task.assignee_user_id) if task.assignee_user_id else None
    return TaskRow(
        task.public_id,
        case.reference,
        case.public_id,
        task.due_date,
        task.priority,
        task.status,
        user.display_name if user else "(agency picks)",
        case.id,
        task.owner_agency_id,
        db.get(Agency, task.owner_agency_id).name,
        task.assignee_agency_id,
        case.coordinating_agency_id,
    )
