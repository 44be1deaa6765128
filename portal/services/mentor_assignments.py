"""Mentor assignment: a case's mentor assigned, replaced or ended (never erased), its
history, and the overview of which cases have a mentor by the first assessment."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import and_, exists, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from portal.audit import AuditTag, lock_logs, record
from portal.auth.sessions import Viewer
from portal.db import hold_write_lock
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    AgencyKind,
    CaseLink,
    CaseStatus,
    MdtCase,
    MentorAssignment,
    Role,
    StaffUser,
)
from portal.services import cases, casework, tasks, validation
from portal.services.mentor_program import is_program_lead, mentors_query

# "By the first assessment": no assessment date is recorded anywhere yet, so the first
# assessment is taken to happen within this many days of the case's intake date. A mentor
# first assigned on or before intake + grace (calendar dates in the MDT's time zone) was
# there from the first assessment.
FIRST_ASSESSMENT_GRACE_DAYS = 3


def _assignable_cases(viewer: Viewer, *, one_case: bool = False):
    """SQL condition: cases this viewer may assign a mentor to (empty when none).

    A list of cases reads the program's links and assignments once (IN); the check of
    `one_case` looks up that case's own (EXISTS), so it costs the same however many cases
    the program serves."""
    conditions = []
    if Role.MDT_COORDINATOR in viewer.roles:
        conditions.append(MdtCase.coordinating_agency_id == viewer.agency.id)
    if is_program_lead(viewer):
        link, held = aliased(CaseLink), aliased(MentorAssignment)
        linked = select(link.case_id).where(link.agency_id == viewer.agency.id)
        holding = select(held.case_id).where(
            held.mentor_agency_id == viewer.agency.id, held.ended_at.is_(None)
        )
        if one_case:
            in_linked = exists(linked.where(link.case_id == MdtCase.id)).correlate(MdtCase)
            in_held = exists(holding.where(held.case_id == MdtCase.id)).correlate(MdtCase)
        else:
            in_linked, in_held = MdtCase.id.in_(linked), MdtCase.id.in_(holding)
        conditions += [MdtCase.coordinating_agency_id == viewer.agency.id, in_linked, in_held]
    return or_(*conditions) if conditions else MdtCase.id.is_(None)


def access_case_for_assignment(db: Session, viewer: Viewer, public_id: str) -> MdtCase:
    case = db.exec(
        select(MdtCase).where(
            MdtCase.public_id == public_id, _assignable_cases(viewer, one_case=True)
        )
    ).first()
    if case is None:
        raise NotFound("case")
    return case


def current_assignment(db: Session, case: MdtCase) -> MentorAssignment | None:
    return db.exec(
        select(MentorAssignment).where(
            MentorAssignment.case_id == case.id, MentorAssignment.ended_at.is_(None)
        )
    ).first()


def _reason(value: object, *, required: bool) -> str | None:
    cleaned = validation.text(value, "reason", max_length=300, required=required)
    return cleaned or None


def _may_replace(viewer: Viewer, case: MdtCase, current: MentorAssignment) -> bool:
    if Role.MDT_COORDINATOR in viewer.roles and case.coordinating_agency_id == viewer.agency.id:
        return True
    return is_program_lead(viewer) and current.mentor_agency_id == viewer.agency.id


def _audit_assignment(db, tag, case, agency_ids, *, actor: Actor, detail, at) -> None:
    # The case's log, and the log of every program the change concerns.
    for agency_id in dict.fromkeys([case.coordinating_agency_id, *agency_ids]):
        record(
            db, tag, agency_id=agency_id, actor=actor, subject=case.reference, detail=detail, at=at
        )


@dataclass(frozen=True)
class MentorChange:
    """A mentor assigned, reassigned or ended, and what became of the open tasks the
    case's outgoing mentor held by name (`tasks.pass_from_mentor`): `tasks_to` names the
    incoming mentor, or the program they went back to."""

    assignment: MentorAssignment
    tasks_passed: int = 0
    tasks_to: str | None = None
    to_program: bool = False

    def tasks_told(self) -> str:
        """The result in the words the task pages use ("(agency picks)"); empty when the
        outgoing mentor held no open task by name."""
        if not self.tasks_passed:
            return ""
        count = "open task" if self.tasks_passed == 1 else f"{self.tasks_passed} open tasks"
        went = "went back to" if self.to_program else "passed to"
        return f"The previous mentor's {count} {went} {self.tasks_to}."


def _pass_tasks(
    db: Session,
    case: MdtCase,
    ended: MentorAssignment,
    *,
    incoming: StaffUser | None,
    logs: list[int],
    actor: Actor,
    at: datetime,
) -> MentorChange:
    outgoing = db.get(StaffUser, ended.mentor_id)
    passed = tasks.pass_from_mentor(
        db, case, outgoing, incoming=incoming, logs=logs, actor=actor, at=at
    )
    if incoming is not None:
        return MentorChange(ended, passed, incoming.display_name)
    program = db.get(Agency, ended.mentor_agency_id).name
    return MentorChange(ended, passed, f"{program} (agency picks)", to_program=True)


def assign_mentor(
    db: Session,
    case: MdtCase,
    *,
    mentor_public_id: object,
    reason: object,
    viewer: Viewer,
    at: datetime,
) -> MentorChange:
    """Assign (or reassign) the case's mentor; the previous row is ended, never erased,
    and the open tasks given to the previous mentor by name pass to the new one."""
    current = current_assignment(db, case)
    values = validation.collect(
        mentor=lambda: _chosen_mentor(db, viewer, mentor_public_id),
        reason=lambda: _reason(reason, required=current is not None),
    )
    mentor, mentor_agency = values["mentor"]
    case = casework.open_for_writes(
        db, case, field="mentor", closed="The case is closed; reopen it to assign a mentor."
    )
    if current is not None:
        if current.mentor_id == mentor.id:
            raise Invalid("mentor", f"{mentor.display_name} is already this case's mentor.")
        if not _may_replace(viewer, case, current):
            raise Forbidden("This case's mentor is from another program; ask the MDT coordinator.")
        _end(db, current, reason=values["reason"], viewer=viewer, at=at, field="mentor")
    assignment = MentorAssignment(
        case_id=case.id,
        mentor_id=mentor.id,
        mentor_agency_id=mentor_agency.id,
        previous_mentor_id=current.mentor_id if current else None,
        assigned_at=at,
        assigned_by_id=viewer.user.id,
        reason=values["reason"],
    )
    db.add(assignment)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("mentor", CHANGED_JUST_NOW) from None
    if (
        case.coordinating_agency_id != mentor_agency.id
        and not db.exec(
            select(CaseLink.id).where(
                CaseLink.case_id == case.id, CaseLink.agency_id == mentor_agency.id
            )
        ).first()
    ):
        # The program joins the case; it links its own client record from its side.
        cases.link_client(db, case, mentor_agency, None, actor=viewer.user, at=at)
    handed = MentorChange(assignment)
    if current is not None:
        handed = _pass_tasks(
            db,
            case,
            current,
            incoming=mentor,
            logs=[case.coordinating_agency_id, mentor_agency.id, current.mentor_agency_id],
            actor=viewer.user,
            at=at,
        )
    _audit_assignment(
        db,
        AuditTag.MENTOR_REASSIGNED if current else AuditTag.MENTOR_ASSIGNED,
        case,
        [mentor_agency.id, *([current.mentor_agency_id] if current else [])],
        actor=viewer.user,
        detail={
            "assignment": assignment.public_id,
            "mentor": mentor.public_id,
            **({"previous_assignment": current.public_id} if current else {}),
            **({"tasks_passed": handed.tasks_passed} if handed.tasks_passed else {}),
        },
        at=at,
    )
    return replace(handed, assignment=assignment)


CHANGED_JUST_NOW = "Someone changed this case's mentor just now. Reload and try again."


def _end(
    db: Session, current: MentorAssignment, *, reason, viewer: Viewer, at: datetime, field: str
) -> None:
    """End `current` if it is still the case's current assignment, with one conditional
    statement (as portal.db.stamp_once): of an end and a reassignment of one assignment
    sent at once, the second waits for the first (PostgreSQL's row lock, SQLite's writer)
    and, finding it ended, is refused (409) instead of writing over it."""
    ended = db.execute(
        update(MentorAssignment)
        .where(MentorAssignment.id == current.id, MentorAssignment.ended_at.is_(None))
        .values(ended_at=at, ended_by_id=viewer.user.id, end_reason=reason)
        .returning(MentorAssignment.id)
    ).first()
    db.refresh(current)
    if ended is None:
        raise Conflict(field, CHANGED_JUST_NOW)


def _chosen_mentor(db: Session, viewer: Viewer, public_id: object) -> tuple[StaffUser, Agency]:
    query = mentors_query().where(StaffUser.public_id == str(public_id or ""))
    if Role.MDT_COORDINATOR not in viewer.roles:
        query = query.where(StaffUser.agency_id == viewer.agency.id)
    row = db.exec(query).first()
    if row is None:
        raise Invalid("mentor", "Choose a mentor from the list.")
    return row


def end_assignment(
    db: Session, case: MdtCase, *, reason: object, viewer: Viewer, at: datetime
) -> MentorChange:
    """End the case's mentor with no successor: the open tasks given to the mentor by name
    go back to their program, no person named."""
    current = current_assignment(db, case)
    if current is None:
        raise Invalid("reason", "This case has no mentor to end.")
    cleaned = validation.collect(reason=lambda: _reason(reason, required=True))["reason"]
    if not _may_replace(viewer, case, current):
        raise Forbidden("This case's mentor is from another program; ask the MDT coordinator.")
    _end(db, current, reason=cleaned, viewer=viewer, at=at, field="reason")
    handed = _pass_tasks(
        db,
        case,
        current,
        incoming=None,
        logs=[case.coordinating_agency_id, current.mentor_agency_id],
        actor=viewer.user,
        at=at,
    )
    _audit_assignment(
        db,
        AuditTag.MENTOR_ASSIGNMENT_ENDED,
        case,
        [current.mentor_agency_id],
        actor=viewer.user,
        detail={
            "assignment": current.public_id,
            **({"tasks_passed": handed.tasks_passed} if handed.tasks_passed else {}),
        },
        at=at,
    )
    return handed


DEPARTED = "The mentor's account was deactivated."


def current_cases_of(db: Session, mentor: StaffUser) -> int:
    """How many cases the mentor is assigned to now."""
    return db.exec(
        select(func.count(MentorAssignment.id)).where(
            MentorAssignment.mentor_id == mentor.id, MentorAssignment.ended_at.is_(None)
        )
    ).one()


def hold_assignments_of(db: Session, mentor: StaffUser) -> list[tuple[MentorAssignment, MdtCase]]:
    """The mentor's current assignments and their cases, the assignments held to this
    transaction's end (on SQLite the writers' lock first), in one order. Taken before the
    tasks they pass and any log (a case's mentor assignment, then its tasks, then the logs,
    as an end or reassignment of one takes them): an end of one at the same moment waits
    for the deactivation, or the deactivation for it. Taken the other way round (the logs,
    then the assignments), the two deadlocked and one was thrown away. The cases are not
    held: a reassignment holds its case, then the assignment, and waits here."""
    hold_write_lock(db)
    return list(
        db.exec(
            select(MentorAssignment, MdtCase)
            .join(MdtCase, MdtCase.id == MentorAssignment.case_id)
            .where(MentorAssignment.mentor_id == mentor.id, MentorAssignment.ended_at.is_(None))
            .order_by(MentorAssignment.id)
            .with_for_update(of=MentorAssignment)
            .execution_options(populate_existing=True)
        ).all()
    )


def hold_for_deactivation(
    db: Session, mentor: StaffUser, *, also_logs: Collection[int] = ()
) -> list[tuple[MentorAssignment, MdtCase]]:
    """What ending a deactivated mentor's assignments writes to, held in the one order: the
    mentor's current assignments, the open tasks named to them on those cases, then every
    log the ends write to and `also_logs` (the caller's own writes besides), all at once
    (`lock_logs`). Held before any of those logs is written to: the deactivation's first
    writes (the tokens a mentor who is also a lead issued) go to the program's log, and an
    assignment of another case at the same moment writes the coordinating agency's log, then
    the program's; taken log by log, the two deadlocked. Returns the assignments held."""
    rows = hold_assignments_of(db, mentor)
    owners = tasks.hold_named_to(db, mentor, [case.id for _a, case in rows]) if rows else set()
    ends_write_to = (
        agency_id
        for assignment, case in rows
        for agency_id in (case.coordinating_agency_id, assignment.mentor_agency_id)
    )
    lock_logs(db, [*also_logs, *owners, *ends_write_to])
    return rows


def end_for_deactivated_mentor(
    db: Session, mentor: StaffUser, *, actor: Actor, at: datetime
) -> int:
    """End the assignments of a mentor whose account is deactivated: their cases have no
    mentor from now (on the dashboards, in the counts, on the assign pages), not one who can
    no longer sign in. Returns how many ended. The caller that writes to a log before this
    (`staff.deactivate`) holds what it writes to first (`hold_for_deactivation`)."""
    rows = hold_for_deactivation(db, mentor)
    if not rows:
        return 0
    # Ended only if still current (one conditional statement, as `_end`): an end or a
    # reassignment made since the read above keeps its own end and reason.
    ended = set(
        db.execute(
            update(MentorAssignment)
            .where(
                MentorAssignment.id.in_([assignment.id for assignment, _case in rows]),
                MentorAssignment.ended_at.is_(None),
            )
            .values(ended_at=at, ended_by_id=actor.id, end_reason=DEPARTED)
            .returning(MentorAssignment.id)
        ).scalars()
    )
    for assignment, case in rows:
        if assignment.id not in ended:
            continue
        db.refresh(assignment)
        # Their open tasks on the case go back to the program, as when an assignment ends.
        handed = _pass_tasks(db, case, assignment, incoming=None, logs=[], actor=actor, at=at)
        _audit_assignment(
            db,
            AuditTag.MENTOR_ASSIGNMENT_ENDED,
            case,
            [assignment.mentor_agency_id],
            actor=actor,
            detail={
                "assignment": assignment.public_id,
                "why": "mentor deactivated",
                **({"tasks_passed": handed.tasks_passed} if handed.tasks_passed else {}),
            },
            at=at,
        )
    return len(ended)


@dataclass(frozen=True)
class HistoryRow:
    at: datetime | None
    by: str | None
    from_mentor: str | None
    to_mentor: str | None
    to_agency: str | None
    why: str | None
    # Whose each name is, for `told_history`: the staff who made the change, the program
    # of the mentor it ended and of the one it assigned.
    by_agency_id: int | None = None
    from_agency_id: int | None = None
    to_agency_id: int | None = None
    # A change of another program's, or its mentor replaced here, which this viewer may
    # not be told of.
    untold: bool = False
    from_untold: bool = False
    to_untold: bool = False


def assignment_history(db: Session, case: MdtCase) -> list[HistoryRow]:
    """Every change of the case's mentor, newest first: who, from, to, when, why."""
    by, previous, mentor = aliased(StaffUser), aliased(StaffUser), aliased(StaffUser)
    ender = aliased(StaffUser)
    rows = db.exec(
        select(
            MentorAssignment,
            by.display_name,
            by.agency_id,
            previous.display_name,
            previous.agency_id,
            mentor.display_name,
            Agency.name,
            ender.display_name,
            ender.agency_id,
        )
        .join(mentor, mentor.id == MentorAssignment.mentor_id)
        .join(Agency, Agency.id == MentorAssignment.mentor_agency_id)
        .outerjoin(by, by.id == MentorAssignment.assigned_by_id)
        .outerjoin(previous, previous.id == MentorAssignment.previous_mentor_id)
        .outerjoin(ender, ender.id == MentorAssignment.ended_by_id)
        .where(MentorAssignment.case_id == case.id)
        .order_by(MentorAssignment.assigned_at, MentorAssignment.id)
    ).all()
    history: list[HistoryRow] = []
    for index, (
        row,
        by_name,
        by_agency,
        previous_name,
        previous_agency,
        mentor_name,
        agency_name,
        ender_name,
        ender_agency,
    ) in enumerate(rows):
        prior = rows[index - 1][0] if index else None
        if prior is not None and prior.mentor_id == row.previous_mentor_id:
            previous_agency = prior.mentor_agency_id  # the program it was assigned under
        history.append(
            HistoryRow(
                row.assigned_at,
                by_name,
                previous_name,
                mentor_name,
                agency_name,
                row.reason,
                by_agency_id=by_agency,
                from_agency_id=previous_agency if previous_name else None,
                to_agency_id=row.mentor_agency_id,
            )
        )
        replaced = index + 1 < len(rows) and rows[index + 1][0].assigned_at == row.ended_at
        if row.ended_at is not None and not replaced:
            history.append(
                HistoryRow(
                    row.ended_at,
                    ender_name,
                    mentor_name,
                    None,
                    None,
                    row.end_reason,
                    by_agency_id=ender_agency,
                    from_agency_id=row.mentor_agency_id,
                )
            )
    return sorted(history, key=lambda h: h.at, reverse=True)


def told_history(history: list[HistoryRow], shown: set[int]) -> list[HistoryRow]:
    """The history as a viewer from another program may see it, `shown` being the agencies
    it may be told take part in the case (`told_participants`, and its own).

    A community-based program's mentoring a survivor is its own to tell (the fact of
    service): a change that concerns only such programs reads "another program", without
    names, date or reason, and a run of them is one row, so their number tells nothing
    either. A change to or from a program shown keeps its date and reason (the program's
    own mentor came or went), naming the other side only as another program."""
    told: list[HistoryRow] = []
    for row in history:
        from_shown = row.from_mentor is not None and row.from_agency_id in shown
        to_shown = row.to_agency_id is not None and row.to_agency_id in shown
        if not (from_shown or to_shown):
            if not (told and told[-1].untold):
                told.append(HistoryRow(None, None, None, None, None, None, untold=True))
            continue
        from_untold = row.from_mentor is not None and not from_shown
        to_untold = row.to_agency_id is not None and not to_shown
        told.append(
            replace(
                row,
                by=row.by if row.by_agency_id in shown else None,
                from_mentor=None if from_untold else row.from_mentor,
                to_mentor=None if to_untold else row.to_mentor,
                to_agency=None if to_untold else row.to_agency,
                from_untold=from_untold,
                to_untold=to_untold,
            )
        )
    return told


def _first_assigned():
    return (
        select(
            MentorAssignment.case_id.label("case_id"),
            func.min(MentorAssignment.assigned_at).label("first_at"),
        )
        .group_by(MentorAssignment.case_id)
        .subquery()
    )


def by_first_assessment(first_at: datetime | None, intake_date: date, tz: tzinfo) -> bool:
    if first_at is None:
        return False
    deadline = intake_date + timedelta(days=FIRST_ASSESSMENT_GRACE_DAYS)
    return first_at.astimezone(tz).date() <= deadline


@dataclass(frozen=True)
class AssignmentRow:
    case_public_id: str
    reference: str
    intake_date: date
    status: str
    mentor_name: str | None
    mentor_agency: str | None
    assigned_at: datetime | None
    first_assigned_at: datetime | None
    by_first_assessment: bool
    # Another community-based program's mentor, not named in a list (see below).
    mentor_untold: bool = False


def assignment_overview(
    db: Session, viewer: Viewer, *, tz: tzinfo, unassigned_only: bool = False, limit: int = 200
) -> list[AssignmentRow]:
    """Cases the viewer may assign to, with their mentor; filtered in SQL.

    A community-based program's mentoring a survivor is its own to tell (the fact of
    service): on a case the viewer does not coordinate, another such program's mentor is
    "a mentor of another program", unnamed and undated. The case's own page may say more,
    where that program's point tells this viewer (`told_status`); a list of up to 200
    cases does not ask each point."""
    first = _first_assigned()
    query = (
        select(
            MdtCase,
            StaffUser.display_name,
            Agency.name,
            MentorAssignment.assigned_at,
            first.c.first_at,
            Agency.id,
            Agency.kind,
        )
        .outerjoin(
            MentorAssignment,
            and_(MentorAssignment.case_id == MdtCase.id, MentorAssignment.ended_at.is_(None)),
        )
        .outerjoin(StaffUser, StaffUser.id == MentorAssignment.mentor_id)
        .outerjoin(Agency, Agency.id == MentorAssignment.mentor_agency_id)
        .outerjoin(first, first.c.case_id == MdtCase.id)
        .where(_assignable_cases(viewer))
    )
    if unassigned_only:
        query = query.where(MentorAssignment.id.is_(None), MdtCase.status == CaseStatus.OPEN)
    rows = db.exec(query.order_by(MdtCase.intake_date, MdtCase.reference).limit(limit)).all()
    shown = []
    for case, mentor_name, agency_name, assigned_at, first_at, agency_id, kind in rows:
        untold = (
            agency_id is not None
            and kind == AgencyKind.COMMUNITY
            and agency_id != viewer.agency.id
            and case.coordinating_agency_id != viewer.agency.id
        )
        shown.append(
            AssignmentRow(
                case.public_id,
                case.reference,
                case.intake_date,
                case.status,
                None if untold else mentor_name,
                None if untold else agency_name,
                None if untold else assigned_at,
                first_at,
                by_first_assessment(first_at, case.intake_date, tz),
                mentor_untold=untold,
            )
        )
    return shown


def count_unassigned(db: Session, viewer: Viewer, *, cap: int | None = None) -> int:
    """Open cases the viewer may assign with no current mentor; with `cap`, counted no
    further than that (the dashboard says "1000+": its work stays bounded however many
    cases the MDT has, where an exact count reads every open case)."""
    unassigned = (
        select(MdtCase.id)
        .outerjoin(
            MentorAssignment,
            and_(MentorAssignment.case_id == MdtCase.id, MentorAssignment.ended_at.is_(None)),
        )
        .where(
            _assignable_cases(viewer),
            MentorAssignment.id.is_(None),
            MdtCase.status == CaseStatus.OPEN,
        )
    )
    if cap is not None:
        unassigned = unassigned.limit(cap)
    return db.exec(select(func.count()).select_from(unassigned.subquery())).one()


@dataclass(frozen=True)
class MentorStatus:
    mentor_name: str | None
    mentor_agency: str | None
    assigned_at: datetime | None
    first_assigned_at: datetime | None
    by_first_assessment: bool
    first_assessment_by: date
    mentor_agency_id: int | None = None
    first_agency_id: int | None = None
    # The mentor now, or the first one, is another program's, which this viewer may not
    # be told of (`told_status`).
    mentor_untold: bool = False
    first_untold: bool = False

    @property
    def has_mentor(self) -> bool:
        return self.mentor_name is not None or self.mentor_untold


def mentor_status(db: Session, case: MdtCase, *, tz: tzinfo) -> MentorStatus:
    current = current_assignment(db, case)
    first = db.exec(
        select(MentorAssignment)
        .where(MentorAssignment.case_id == case.id)
        .order_by(MentorAssignment.assigned_at, MentorAssignment.id)
        .limit(1)
    ).first()
    first_at = first.assigned_at if first else None
    mentor = db.get(StaffUser, current.mentor_id) if current else None
    agency = db.get(Agency, current.mentor_agency_id) if current else None
    return MentorStatus(
        mentor.display_name if mentor else None,
        agency.name if agency else None,
        current.assigned_at if current else None,
        first_at,
        by_first_assessment(first_at, case.intake_date, tz),
        case.intake_date + timedelta(days=FIRST_ASSESSMENT_GRACE_DAYS),
        mentor_agency_id=current.mentor_agency_id if current else None,
        first_agency_id=first.mentor_agency_id if first else None,
    )


def told_status(status: MentorStatus, shown: set[int]) -> MentorStatus:
    """The mentor now and the first one, as `told_history` tells them: another program's,
    unnamed and undated. Whether a mentor was there by the first assessment stays: it is
    the case's, and says no more than that some program was."""
    if status.mentor_agency_id is not None and status.mentor_agency_id not in shown:
        status = replace(
            status, mentor_name=None, mentor_agency=None, assigned_at=None, mentor_untold=True
        )
    if status.first_agency_id is not None and status.first_agency_id not in shown:
        status = replace(status, first_assigned_at=None, first_untold=True)
    return status
