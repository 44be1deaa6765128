"""Survivor-mentors: assignment to MDT cases, the mentor's caseload, accompaniment entries
and the court dates and appointments a mentor enters.

Who may see what:
- a mentor sees only the cases they are currently assigned to, and their program's
  entries and dates on those cases;
- a mentor program's lead sees their own program's mentors, entries and reports;
- an MDT coordinator assigns mentors to the cases their agency coordinates, and sees who
  the mentor is, never the entries (notes stay in the mentor program's records).
Anything outside that answers NotFound, exactly like a record that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import and_, exists, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.auth.sessions import Viewer
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import (
    Accompaniment,
    AccompanimentAmendment,
    AccompanimentKind,
    Agency,
    CaseLink,
    CaseStatus,
    Discipline,
    MdtCase,
    MentorAppointment,
    MentorAssignment,
    Outcome,
    PlaceType,
    Role,
    StaffRole,
    StaffUser,
)
from portal.services import cases, validation

# "By the first assessment": no assessment date is recorded anywhere yet, so the first
# assessment is taken to happen within this many days of the case's intake date. A mentor
# first assigned on or before intake + grace (calendar dates in the MDT's time zone) was
# there from the first assessment.
FIRST_ASSESSMENT_GRACE_DAYS = 3
# The author may edit or delete an entry for this long; afterwards only amendments.
EDIT_WINDOW = timedelta(hours=24)
MAX_DURATION_MINUTES = 24 * 60
# An accompaniment is logged after the fact: today, or tomorrow for a mentor logging just
# after midnight somewhere west of the MDT's clock; at most a year back.
FUTURE_GRACE_DAYS = 1
PAST_LIMIT_DAYS = 366
APPOINTMENT_HORIZON_DAYS = 730
ENTRY_FIELDS = (
    "occurred_on",
    "kind",
    "duration_minutes",
    "place_type",
    "outcome",
    "follow_up_needed",
    "follow_up",
    "notes",
)


@dataclass(frozen=True)
class Assigner:
    """Who acts, outside a web request (the demo seed, the command line): what a Viewer
    carries, without a session."""

    user: StaffUser
    agency: Agency
    roles: frozenset[str]


# --- who is who -------------------------------------------------------------------------


def is_mentor_program(agency: Agency) -> bool:
    return agency.is_active and agency.discipline == Discipline.SURVIVOR_MENTOR


def is_program_lead(viewer: Viewer) -> bool:
    return Role.AGENCY_LEAD in viewer.roles and is_mentor_program(viewer.agency)


def require_program_lead(viewer: Viewer) -> Agency:
    """The lead's own mentor program; any other viewer is shown nothing (404)."""
    if not is_program_lead(viewer):
        raise NotFound("page")
    return viewer.agency


def _mentors_query():
    """Active staff holding the survivor-mentor role at an active mentor program."""
    return (
        select(StaffUser, Agency)
        .join(Agency, Agency.id == StaffUser.agency_id)
        .join(StaffRole, StaffRole.user_id == StaffUser.id)
        .where(
            StaffRole.role == Role.SURVIVOR_MENTOR,
            StaffUser.is_active.is_(True),
            Agency.is_active.is_(True),
            Agency.discipline == Discipline.SURVIVOR_MENTOR,
        )
    )


@dataclass(frozen=True)
class MentorChoice:
    public_id: str
    name: str
    agency_name: str


def mentor_choices(db: Session, viewer: Viewer) -> list[MentorChoice]:
    """Mentors this viewer may assign: every program's for a coordinator, a lead's own."""
    query = _mentors_query()
    if Role.MDT_COORDINATOR not in viewer.roles:
        if not is_program_lead(viewer):
            return []
        query = query.where(StaffUser.agency_id == viewer.agency.id)
    rows = db.exec(query.order_by(Agency.name, StaffUser.display_name)).all()
    return [MentorChoice(u.public_id, u.display_name, a.name) for u, a in rows]


def access_program_mentor(db: Session, viewer: Viewer, public_id: str) -> StaffUser:
    """A mentor of the lead's own program; another program's mentor answers 404."""
    agency = require_program_lead(viewer)
    held = select(MentorAssignment.mentor_id).where(MentorAssignment.mentor_agency_id == agency.id)
    mentors = select(StaffRole.user_id).where(StaffRole.role == Role.SURVIVOR_MENTOR)
    mentor = db.exec(
        select(StaffUser).where(
            StaffUser.public_id == public_id,
            StaffUser.agency_id == agency.id,
            or_(StaffUser.id.in_(mentors), StaffUser.id.in_(held)),
        )
    ).first()
    if mentor is None:
        raise NotFound("mentor")
    return mentor


# --- assignment -------------------------------------------------------------------------


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


def _audit_assignment(db, tag, case, agency_ids, *, actor, detail, at) -> None:
    # The case's log, and the log of every program the change concerns.
    for agency_id in dict.fromkeys([case.coordinating_agency_id, *agency_ids]):
        record(
            db, tag, agency_id=agency_id, actor=actor, subject=case.reference, detail=detail, at=at
        )


def assign_mentor(
    db: Session,
    case: MdtCase,
    *,
    mentor_public_id: object,
    reason: object,
    viewer: Viewer,
    at: datetime,
) -> MentorAssignment:
    """Assign (or reassign) the case's mentor; the previous row is ended, never erased."""
    current = current_assignment(db, case)
    values = validation.collect(
        mentor=lambda: _chosen_mentor(db, viewer, mentor_public_id),
        reason=lambda: _reason(reason, required=current is not None),
    )
    mentor, mentor_agency = values["mentor"]
    if case.status != CaseStatus.OPEN:
        raise Invalid("mentor", "This case is closed; a mentor cannot be assigned.")
    if current is not None:
        if current.mentor_id == mentor.id:
            raise Invalid("mentor", f"{mentor.display_name} is already this case's mentor.")
        if not _may_replace(viewer, case, current):
            raise Forbidden("This case's mentor is from another program; ask the MDT coordinator.")
        current.ended_at = at
        current.ended_by_id = viewer.user.id
        current.end_reason = values["reason"]
        db.add(current)
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
        raise Conflict(
            "mentor", "Someone changed this case's mentor just now. Reload and try again."
        ) from None
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
        },
        at=at,
    )
    return assignment


def _chosen_mentor(db: Session, viewer: Viewer, public_id: object) -> tuple[StaffUser, Agency]:
    query = _mentors_query().where(StaffUser.public_id == str(public_id or ""))
    if Role.MDT_COORDINATOR not in viewer.roles:
        query = query.where(StaffUser.agency_id == viewer.agency.id)
    row = db.exec(query).first()
    if row is None:
        raise Invalid("mentor", "Choose a mentor from the list.")
    return row


def end_assignment(
    db: Session, case: MdtCase, *, reason: object, viewer: Viewer, at: datetime
) -> MentorAssignment:
    current = current_assignment(db, case)
    if current is None:
        raise Invalid("reason", "This case has no mentor to end.")
    cleaned = validation.collect(reason=lambda: _reason(reason, required=True))["reason"]
    if not _may_replace(viewer, case, current):
        raise Forbidden("This case's mentor is from another program; ask the MDT coordinator.")
    current.ended_at = at
    current.ended_by_id = viewer.user.id
    current.end_reason = cleaned
    db.add(current)
    _audit_assignment(
        db,
        AuditTag.MENTOR_ASSIGNMENT_ENDED,
        case,
        [current.mentor_agency_id],
        actor=viewer.user,
        detail={"assignment": current.public_id},
        at=at,
    )
    return current


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    by: str | None
    from_mentor: str | None
    to_mentor: str | None
    to_agency: str | None
    why: str | None


def assignment_history(db: Session, case: MdtCase) -> list[HistoryRow]:
    """Every change of the case's mentor, newest first: who, from, to, when, why."""
    by, previous, mentor = aliased(StaffUser), aliased(StaffUser), aliased(StaffUser)
    ender = aliased(StaffUser)
    rows = db.exec(
        select(
            MentorAssignment,
            by.display_name,
            previous.display_name,
            mentor.display_name,
            Agency.name,
            ender.display_name,
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
    for index, (row, by_name, previous_name, mentor_name, agency_name, ender_name) in enumerate(
        rows
    ):
        history.append(
            HistoryRow(
                row.assigned_at, by_name, previous_name, mentor_name, agency_name, row.reason
            )
        )
        replaced = index + 1 < len(rows) and rows[index + 1][0].assigned_at == row.ended_at
        if row.ended_at is not None and not replaced:
            history.append(
                HistoryRow(row.ended_at, ender_name, mentor_name, None, None, row.end_reason)
            )
    return sorted(history, key=lambda h: h.at, reverse=True)


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


def assignment_overview(
    db: Session, viewer: Viewer, *, tz: tzinfo, unassigned_only: bool = False, limit: int = 200
) -> list[AssignmentRow]:
    """Cases the viewer may assign to, with their mentor; filtered in SQL."""
    first = _first_assigned()
    query = (
        select(
            MdtCase,
            StaffUser.display_name,
            Agency.name,
            MentorAssignment.assigned_at,
            first.c.first_at,
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
    return [
        AssignmentRow(
            case.public_id,
            case.reference,
            case.intake_date,
            case.status,
            mentor_name,
            agency_name,
            assigned_at,
            first_at,
            by_first_assessment(first_at, case.intake_date, tz),
        )
        for case, mentor_name, agency_name, assigned_at, first_at in rows
    ]


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


def mentor_status(db: Session, case: MdtCase, *, tz: tzinfo) -> MentorStatus:
    current = current_assignment(db, case)
    first_at = db.exec(
        select(func.min(MentorAssignment.assigned_at)).where(MentorAssignment.case_id == case.id)
    ).one()
    mentor = db.get(StaffUser, current.mentor_id) if current else None
    agency = db.get(Agency, current.mentor_agency_id) if current else None
    return MentorStatus(
        mentor.display_name if mentor else None,
        agency.name if agency else None,
        current.assigned_at if current else None,
        first_at,
        by_first_assessment(first_at, case.intake_date, tz),
        case.intake_date + timedelta(days=FIRST_ASSESSMENT_GRACE_DAYS),
    )


# --- the mentor's caseload --------------------------------------------------------------


def _live_entries():
    return Accompaniment.deleted_at.is_(None)


@dataclass(frozen=True)
class CaseloadRow:
    case_public_id: str
    reference: str
    intake_date: date
    assigned_at: datetime
    next_at: datetime | None
    next_kind: str | None
    last_contact: date | None
    days_since_contact: int | None

    @property
    def next_kind_label(self) -> str | None:
        return AccompanimentKind(self.next_kind).label if self.next_kind else None


def caseload(db: Session, mentor: StaffUser, *, now: datetime, today: date) -> list[CaseloadRow]:
    """The mentor's current open cases, with what their program knows of each."""
    last = (
        select(
            Accompaniment.case_id.label("case_id"),
            func.max(Accompaniment.occurred_on).label("last_on"),
        )
        .where(Accompaniment.agency_id == mentor.agency_id, _live_entries())
        .group_by(Accompaniment.case_id)
        .subquery()
    )
    upcoming = _upcoming_condition(mentor.agency_id, now)
    next_at = (
        select(
            MentorAppointment.case_id.label("case_id"),
            func.min(MentorAppointment.starts_at).label("next_at"),
        )
        .where(upcoming)
        .group_by(MentorAppointment.case_id)
        .subquery()
    )
    rows = db.exec(
        select(MdtCase, MentorAssignment.assigned_at, last.c.last_on, next_at.c.next_at)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .outerjoin(last, last.c.case_id == MdtCase.id)
        .outerjoin(next_at, next_at.c.case_id == MdtCase.id)
        .where(
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
            MdtCase.status == CaseStatus.OPEN,
        )
    ).all()
    kinds = dict(
        db.exec(
            select(MentorAppointment.case_id, MentorAppointment.kind)
            .join(
                next_at,
                and_(
                    next_at.c.case_id == MentorAppointment.case_id,
                    next_at.c.next_at == MentorAppointment.starts_at,
                ),
            )
            .where(upcoming)
        ).all()
    )
    result = [
        CaseloadRow(
            case.public_id,
            case.reference,
            case.intake_date,
            assigned_at,
            next_at_value,
            kinds.get(case.id),
            last_on,
            (today - last_on).days if last_on else None,
        )
        for case, assigned_at, last_on, next_at_value in rows
    ]
    # Soonest date first; then the longest without contact.
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        result,
        key=lambda r: (r.next_at or far, -(r.days_since_contact or 10**6), r.reference),
    )


def access_caseload_case(db: Session, mentor: StaffUser, public_id: str) -> MdtCase:
    """A case the mentor currently holds; any other answers 404."""
    case = db.exec(
        select(MdtCase)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .where(
            MdtCase.public_id == public_id,
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
        )
    ).first()
    if case is None:
        raise NotFound("case")
    return case


# --- accompaniment entries --------------------------------------------------------------

_DURATION = re.compile(
    r"(?:(?P<h>\d{1,4}(?:[.,]\d{1,2})?)(?:h|hr|hrs|hour|hours))?"
    r"(?:(?P<m>\d{1,5})(?:m|min|mins|minute|minutes)?)?"
)


def parse_duration(value: object) -> int:
    """Minutes from "90", "1:30", "1h30", "1.5h" or "2 h 15 min"; 1 minute to 24 hours."""
    raw = "".join(str(value if value is not None else "").lower().split())
    if not raw:
        raise Invalid("duration_minutes", "Say how long it took.")
    if raw.startswith("-"):
        raise Invalid("duration_minutes", "The duration cannot be negative.")
    minutes: float | None = None
    if match := re.fullmatch(r"(\d{1,4}):([0-5]\d)", raw):
        minutes = int(match[1]) * 60 + int(match[2])
    elif (match := _DURATION.fullmatch(raw)) and (match["h"] or match["m"]):
        minutes = float((match["h"] or "0").replace(",", ".")) * 60 + int(match["m"] or 0)
    if minutes is None:
        raise Invalid(
            "duration_minutes", "Give the duration in minutes (e.g. 90) or hours (e.g. 1:30)."
        )
    minutes = round(minutes)
    if minutes < 1:
        raise Invalid("duration_minutes", "The duration must be at least 1 minute.")
    if minutes > MAX_DURATION_MINUTES:
        raise Invalid(
            "duration_minutes",
            "A duration over 24 hours is not possible; log each day separately.",
        )
    return minutes


def duration_label(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if p)


def _occurred_on(value: object, today: date) -> date:
    day = validation.iso_date(value, "occurred_on", label="Date")
    if day > today + timedelta(days=FUTURE_GRACE_DAYS):
        raise Invalid(
            "occurred_on",
            "This date is in the future; log an accompaniment once it has happened "
            "(add upcoming dates under Upcoming).",
        )
    if day < today - timedelta(days=PAST_LIMIT_DAYS):
        raise Invalid("occurred_on", "This date is more than a year ago.")
    return day


def _entry_values(fields: Mapping[str, object], today: date) -> dict:
    follow_up_needed = str(fields.get("follow_up_needed") or "") in ("on", "true", "1", "yes")
    values = validation.collect(
        occurred_on=lambda: _occurred_on(fields.get("occurred_on"), today),
        kind=lambda: validation.choice(
            fields.get("kind"), "kind", AccompanimentKind, label="Kind of accompaniment"
        ),
        duration_minutes=lambda: parse_duration(fields.get("duration_minutes")),
        place_type=lambda: validation.choice(
            fields.get("place_type"), "place_type", PlaceType, label="Type of place"
        ),
        outcome=lambda: validation.choice(fields.get("outcome"), "outcome", Outcome),
        follow_up=lambda: (
            validation.text(fields.get("follow_up"), "follow_up", max_length=300, required=False)
            or None
        ),
        notes=lambda: (
            validation.text(fields.get("notes"), "notes", max_length=4000, required=False) or None
        ),
    )
    values["follow_up_needed"] = follow_up_needed or bool(values["follow_up"])
    return values


def log_accompaniment(
    db: Session,
    case: MdtCase,
    fields: Mapping[str, object],
    *,
    actor: StaffUser,
    at: datetime,
    today: date,
) -> Accompaniment:
    """Record one accompaniment in the mentor's program's own records."""
    values = _entry_values(fields, today)
    entry = Accompaniment(
        agency_id=actor.agency_id, case_id=case.id, mentor_id=actor.id, created_at=at, **values
    )
    db.add(entry)
    db.flush()
    record(
        db,
        AuditTag.ACCOMPANIMENT_LOGGED,
        agency_id=actor.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"accompaniment": entry.public_id},
        at=at,
    )
    return entry


def access_own_entry(db: Session, author: StaffUser, public_id: str) -> Accompaniment:
    entry = db.exec(
        select(Accompaniment).where(
            Accompaniment.public_id == public_id,
            Accompaniment.mentor_id == author.id,
            Accompaniment.agency_id == author.agency_id,
            _live_entries(),
        )
    ).first()
    if entry is None:
        raise NotFound("accompaniment")
    return entry


def editable(entry: Accompaniment, at: datetime) -> bool:
    """Inside the author's 24-hour window for plain edits and deletion."""
    return at < entry.created_at + EDIT_WINDOW


def correct_accompaniment(
    db: Session,
    entry: Accompaniment,
    fields: Mapping[str, object],
    *,
    reason: object = None,
    actor: StaffUser,
    at: datetime,
    today: date,
) -> Accompaniment:
    """Inside the edit window the entry is changed; afterwards an amendment is appended
    that keeps the values it replaces, and a reason is required."""
    if entry.mentor_id != actor.id:
        raise NotFound("accompaniment")
    inside = editable(entry, at)
    checks = {"entry": lambda: _entry_values(fields, today)}
    if not inside:
        checks["reason"] = lambda: validation.text(
            reason, "reason", max_length=300, label="Reason for the correction"
        )
    checked = validation.collect(**checks)
    values = checked["entry"]
    changed = sorted(k for k in ENTRY_FIELDS if getattr(entry, k) != values[k])
    if not changed:
        raise Invalid("occurred_on", "Nothing was changed.")
    case = db.get(MdtCase, entry.case_id)
    if not inside:
        db.add(
            AccompanimentAmendment(
                accompaniment_id=entry.id,
                amended_at=at,
                amended_by_id=actor.id,
                reason=checked["reason"],
                **{k: getattr(entry, k) for k in ENTRY_FIELDS},
            )
        )
    for key in ENTRY_FIELDS:
        setattr(entry, key, values[key])
    entry.updated_at = at
    db.add(entry)
    db.flush()
    record(
        db,
        AuditTag.ACCOMPANIMENT_EDITED if inside else AuditTag.ACCOMPANIMENT_AMENDED,
        agency_id=entry.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"accompaniment": entry.public_id, "fields": changed},
        at=at,
    )
    return entry


def delete_accompaniment(
    db: Session, entry: Accompaniment, *, actor: StaffUser, at: datetime
) -> None:
    if entry.mentor_id != actor.id:
        raise NotFound("accompaniment")
    if not editable(entry, at):
        raise Forbidden(
            "Entries can be deleted only within 24 hours of logging them; add a correction instead."
        )
    entry.deleted_at = at
    db.add(entry)
    record(
        db,
        AuditTag.ACCOMPANIMENT_DELETED,
        agency_id=entry.agency_id,
        actor=actor,
        subject=db.get(MdtCase, entry.case_id).reference,
        detail={"accompaniment": entry.public_id},
        at=at,
    )


@dataclass(frozen=True)
class EntryRow:
    public_id: str
    case_reference: str
    mentor_public_id: str
    mentor_name: str
    occurred_on: date
    kind: str
    duration_minutes: int
    place_type: str
    outcome: str
    follow_up_needed: bool
    follow_up: str | None
    notes: str | None
    created_at: datetime
    amendments: int

    @property
    def kind_label(self) -> str:
        return AccompanimentKind(self.kind).label

    @property
    def place_label(self) -> str:
        return PlaceType(self.place_type).label

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label

    @property
    def duration_label(self) -> str:
        return duration_label(self.duration_minutes)


def program_entries(
    db: Session,
    agency: Agency,
    *,
    case: MdtCase | None = None,
    mentor: StaffUser | None = None,
    limit: int = 50,
) -> list[EntryRow]:
    """Entries in one program's own records, newest first; filtered in SQL."""
    amendments = (
        select(
            AccompanimentAmendment.accompaniment_id.label("entry_id"),
            func.count(AccompanimentAmendment.id).label("n"),
        )
        .group_by(AccompanimentAmendment.accompaniment_id)
        .subquery()
    )
    query = (
        select(
            Accompaniment,
            MdtCase.reference,
            StaffUser.public_id,
            StaffUser.display_name,
            amendments.c.n,
        )
        .join(MdtCase, MdtCase.id == Accompaniment.case_id)
        .join(StaffUser, StaffUser.id == Accompaniment.mentor_id)
        .outerjoin(amendments, amendments.c.entry_id == Accompaniment.id)
        .where(Accompaniment.agency_id == agency.id, _live_entries())
    )
    if case is not None:
        query = query.where(Accompaniment.case_id == case.id)
    if mentor is not None:
        query = query.where(Accompaniment.mentor_id == mentor.id)
    rows = db.exec(
        query.order_by(Accompaniment.occurred_on.desc(), Accompaniment.id.desc()).limit(limit)
    ).all()
    return [
        EntryRow(
            e.public_id,
            reference,
            mentor_public_id,
            name,
            e.occurred_on,
            e.kind,
            e.duration_minutes,
            e.place_type,
            e.outcome,
            e.follow_up_needed,
            e.follow_up,
            e.notes,
            e.created_at,
            n or 0,
        )
        for e, reference, mentor_public_id, name, n in rows
    ]


def access_program_entry(db: Session, viewer: Viewer, public_id: str) -> Accompaniment:
    """An entry of the lead's own program (deleted ones included: nothing is lost)."""
    agency = require_program_lead(viewer)
    entry = db.exec(
        select(Accompaniment).where(
            Accompaniment.public_id == public_id, Accompaniment.agency_id == agency.id
        )
    ).first()
    if entry is None:
        raise NotFound("accompaniment")
    return entry


@dataclass(frozen=True)
class Version:
    label: str
    at: datetime
    by: str | None
    reason: str | None
    values: dict


def entry_versions(db: Session, entry: Accompaniment) -> list[Version]:
    """The entry as first written, then after each amendment; the last is current."""
    amendments = db.exec(
        select(AccompanimentAmendment, StaffUser.display_name)
        .outerjoin(StaffUser, StaffUser.id == AccompanimentAmendment.amended_by_id)
        .where(AccompanimentAmendment.accompaniment_id == entry.id)
        .order_by(AccompanimentAmendment.amended_at, AccompanimentAmendment.id)
    ).all()
    author = db.get(StaffUser, entry.mentor_id)
    snapshots = [{k: getattr(a, k) for k in ENTRY_FIELDS} for a, _ in amendments]
    snapshots.append({k: getattr(entry, k) for k in ENTRY_FIELDS})
    versions = [
        Version("As first written", entry.created_at, author.display_name, None, snapshots[0])
    ]
    for number, ((amendment, name), values) in enumerate(
        zip(amendments, snapshots[1:], strict=True), start=1
    ):
        versions.append(
            Version(f"Amendment {number}", amendment.amended_at, name, amendment.reason, values)
        )
    return versions


# --- court dates and appointments -------------------------------------------------------


def _upcoming_condition(agency_id: int, now: datetime):
    return and_(
        MentorAppointment.agency_id == agency_id,
        MentorAppointment.cancelled_at.is_(None),
        MentorAppointment.starts_at >= now,
    )


def add_appointment(
    db: Session,
    case: MdtCase,
    fields: Mapping[str, object],
    *,
    actor: StaffUser,
    at: datetime,
    tz: tzinfo,
) -> MentorAppointment:
    today = at.astimezone(tz).date()

    def day() -> date:
        value = validation.iso_date(fields.get("date"), "date", label="Date")
        if value < today:
            raise Invalid("date", "This date has passed; log what happened as an accompaniment.")
        if value > today + timedelta(days=APPOINTMENT_HORIZON_DAYS):
            raise Invalid("date", "This date is more than two years ahead.")
        return value

    def clock() -> time:
        raw = str(fields.get("time") or "").strip()
        try:
            return time.fromisoformat(raw) if raw else time(9, 0)
        except ValueError:
            raise Invalid("time", "Time must look like 14:30.") from None

    values = validation.collect(
        date=day,
        time=clock,
        kind=lambda: validation.choice(
            fields.get("kind"), "kind", AccompanimentKind, label="Kind of appointment"
        ),
        place_type=lambda: validation.choice(
            fields.get("place_type"), "place_type", PlaceType, label="Type of place"
        ),
    )
    starts_at = datetime.combine(values["date"], values["time"], tzinfo=tz).astimezone(UTC)
    appointment = MentorAppointment(
        agency_id=actor.agency_id,
        case_id=case.id,
        mentor_id=actor.id,
        starts_at=starts_at,
        kind=values["kind"],
        place_type=values["place_type"],
        created_at=at,
    )
    db.add(appointment)
    db.flush()
    record(
        db,
        AuditTag.APPOINTMENT_ADDED,
        agency_id=actor.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"appointment": appointment.public_id},
        at=at,
    )
    return appointment


def cancel_appointment(
    db: Session, mentor: StaffUser, public_id: str, *, at: datetime
) -> MentorAppointment:
    """Cancel a date on one of the mentor's current cases, entered by their program."""
    appointment = db.exec(
        select(MentorAppointment)
        .join(MentorAssignment, MentorAssignment.case_id == MentorAppointment.case_id)
        .where(
            MentorAppointment.public_id == public_id,
            MentorAppointment.agency_id == mentor.agency_id,
            MentorAppointment.cancelled_at.is_(None),
            MentorAssignment.mentor_id == mentor.id,
            MentorAssignment.ended_at.is_(None),
        )
    ).first()
    if appointment is None:
        raise NotFound("appointment")
    appointment.cancelled_at = at
    db.add(appointment)
    record(
        db,
        AuditTag.APPOINTMENT_CANCELLED,
        agency_id=mentor.agency_id,
        actor=mentor,
        subject=db.get(MdtCase, appointment.case_id).reference,
        detail={"appointment": appointment.public_id},
        at=at,
    )
    return appointment


@dataclass(frozen=True)
class UpcomingRow:
    public_id: str
    case_public_id: str
    case_reference: str
    starts_at: datetime
    kind: str
    place_type: str
    cancelled: bool = False

    @property
    def kind_label(self) -> str:
        return AccompanimentKind(self.kind).label

    @property
    def place_label(self) -> str:
        return PlaceType(self.place_type).label


def upcoming_for_mentor(
    db: Session,
    user: StaffUser,
    *,
    start: datetime,
    end: datetime,
    include_cancelled: bool = False,
) -> list[UpcomingRow]:
    """Court dates and appointments on the mentor's current open cases, start <= t < end.

    For the mentor's own caseload and calendar feed: entered by their program, not
    cancelled (unless asked: a calendar feed must say a date was cancelled, or a
    calendar that already holds it keeps it); carries the pseudonymous case reference
    only, never a name or a note.
    """
    live = [] if include_cancelled else [MentorAppointment.cancelled_at.is_(None)]
    rows = db.exec(
        select(MentorAppointment, MdtCase.public_id, MdtCase.reference)
        .join(MdtCase, MdtCase.id == MentorAppointment.case_id)
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .where(
            MentorAppointment.agency_id == user.agency_id,
            *live,
            MentorAppointment.starts_at >= start,
            MentorAppointment.starts_at < end,
            MentorAssignment.mentor_id == user.id,
            MentorAssignment.ended_at.is_(None),
            MdtCase.status == CaseStatus.OPEN,
        )
        .order_by(MentorAppointment.starts_at, MentorAppointment.id)
    ).all()
    return [
        UpcomingRow(
            a.public_id,
            case_id,
            reference,
            a.starts_at,
            a.kind,
            a.place_type,
            cancelled=a.cancelled_at is not None,
        )
        for a, case_id, reference in rows
    ]


# --- for the disclosure point -----------------------------------------------------------


def accompaniment_section(
    db: Session, owner: Agency, case_ids: list[int], *, limit: int = 50
) -> list[str]:
    """The `mentor_accompaniment` section as its owner releases it, one line per entry,
    newest first: date, kind, duration, kind of place, outcome and any follow-up. Never
    the mentor's notes (the survivor's words to their mentor stay in the program) and
    never an address (none is recorded). For the owner's disclosure point alone: it
    decides (policy and consent) and audits before anything here leaves the program.
    No page calls this."""
    lines = []
    for case_id in case_ids:
        case = db.get(MdtCase, case_id)
        for e in program_entries(db, owner, case=case, limit=limit):
            lines.append(
                (
                    e.occurred_on,
                    f"{e.occurred_on.isoformat()}: {e.kind_label}, {e.duration_label}, "
                    f"{e.place_label}, {e.outcome_label.lower()}"
                    + (f"; follow-up: {e.follow_up or 'needed'}" if e.follow_up_needed else ""),
                )
            )
    lines.sort(key=lambda line: line[0], reverse=True)
    return [text for _, text in lines[:limit]]
