"""Reports for a mentor program's lead: every figure is aggregated in SQL over the
program's own entries (deleted entries never count), for a period of calendar dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import and_, extract, or_
from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.errors import Invalid
from portal.models import (
    Accompaniment,
    AccompanimentKind,
    Actor,
    Agency,
    CaseStatus,
    MdtCase,
    MentorAssignment,
    Role,
    StaffRole,
    StaffUser,
)

MAX_PERIOD_DAYS = 3 * 366
DEFAULT_NO_CONTACT_DAYS = 14


@dataclass(frozen=True)
class Period:
    """The report's period, inclusive calendar dates, and the days without contact that
    flag a case (`portal.web.mentor_forms.report_period` reads the query string). A
    period that ends before it starts, or spans more than three years, is refused here."""

    start: date
    end: date  # inclusive
    no_contact_days: int = DEFAULT_NO_CONTACT_DAYS

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise Invalid("end", "The end date is before the start date.")
        if (self.end - self.start).days > MAX_PERIOD_DAYS:
            raise Invalid("end", "Choose a period of at most three years.")

    @classmethod
    def default(cls, today: date) -> Period:
        """This month and the two before."""
        months = today.year * 12 + today.month - 1 - 2
        return cls(date(months // 12, months % 12 + 1, 1), today)


@dataclass(frozen=True)
class MentorLine:
    mentor_public_id: str
    mentor_name: str
    accompaniments: int
    minutes: int
    cases_served: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass(frozen=True)
class KindLine:
    kind: str
    accompaniments: int
    minutes: int

    @property
    def label(self) -> str:
        return AccompanimentKind(self.kind).label

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass(frozen=True)
class MentorKindLine:
    mentor_name: str
    kind: str
    accompaniments: int
    minutes: int

    @property
    def label(self) -> str:
        return AccompanimentKind(self.kind).label


@dataclass(frozen=True)
class CaseloadLine:
    mentor_public_id: str
    mentor_name: str
    is_active: bool
    open_cases: int


@dataclass(frozen=True)
class NoContactLine:
    case_reference: str
    mentor_name: str
    assigned_at: datetime
    last_contact: date | None
    days: int  # since the last contact, or since the assignment when there was none


@dataclass(frozen=True)
class MonthKind:
    year: int
    month: int
    kind: str
    accompaniments: int


@dataclass
class Report:
    period: Period
    total_accompaniments: int = 0
    total_minutes: int = 0
    by_mentor: list[MentorLine] = field(default_factory=list)
    by_kind: list[KindLine] = field(default_factory=list)
    by_mentor_kind: list[MentorKindLine] = field(default_factory=list)
    caseloads: list[CaseloadLine] = field(default_factory=list)
    no_contact: list[NoContactLine] = field(default_factory=list)
    monthly: list[MonthKind] = field(default_factory=list)

    @property
    def total_hours(self) -> float:
        return round(self.total_minutes / 60, 1)


def _in_period(agency: Agency, period: Period):
    return and_(
        Accompaniment.agency_id == agency.id,
        Accompaniment.deleted_at.is_(None),
        Accompaniment.occurred_on >= period.start,
        Accompaniment.occurred_on <= period.end,
    )


def build_report(db: Session, agency: Agency, period: Period, *, today: date, tz: tzinfo) -> Report:
    """`today` and `tz`: the MDT's day and zone, in which an assignment's day is read."""
    scope = _in_period(agency, period)
    count = func.count(Accompaniment.id)
    minutes = func.coalesce(func.sum(Accompaniment.duration_minutes), 0)
    report = Report(period)
    report.total_accompaniments, report.total_minutes = db.exec(
        select(count, minutes).where(scope)
    ).one()
    report.by_mentor = [
        MentorLine(public_id, name, n, int(m), served)
        for public_id, name, n, m, served in db.exec(
            select(
                StaffUser.public_id,
                StaffUser.display_name,
                count,
                minutes,
                func.count(func.distinct(Accompaniment.case_id)),
            )
            .join(StaffUser, StaffUser.id == Accompaniment.mentor_id)
            .where(scope)
            .group_by(StaffUser.id, StaffUser.public_id, StaffUser.display_name)
            .order_by(StaffUser.display_name)
        ).all()
    ]
    report.by_kind = [
        KindLine(kind, n, int(m))
        for kind, n, m in db.exec(
            select(Accompaniment.kind, count, minutes)
            .where(scope)
            .group_by(Accompaniment.kind)
            .order_by(count.desc(), Accompaniment.kind)
        ).all()
    ]
    report.by_mentor_kind = [
        MentorKindLine(name, kind, n, int(m))
        for name, kind, n, m in db.exec(
            select(StaffUser.display_name, Accompaniment.kind, count, minutes)
            .join(StaffUser, StaffUser.id == Accompaniment.mentor_id)
            .where(scope)
            .group_by(StaffUser.id, StaffUser.display_name, Accompaniment.kind)
            .order_by(StaffUser.display_name, Accompaniment.kind)
        ).all()
    ]
    report.caseloads = caseloads(db, agency)
    report.no_contact = no_contact(db, agency, days=period.no_contact_days, today=today, tz=tz)
    report.monthly = monthly_by_kind(db, agency, period)
    return report


def caseloads(db: Session, agency: Agency) -> list[CaseloadLine]:
    """Open cases currently held by each of the program's mentors (zero included)."""
    open_cases = func.count(MdtCase.id)
    rows = db.exec(
        select(StaffUser.public_id, StaffUser.display_name, StaffUser.is_active, open_cases)
        .outerjoin(
            MentorAssignment,
            and_(
                MentorAssignment.mentor_id == StaffUser.id,
                MentorAssignment.ended_at.is_(None),
            ),
        )
        .outerjoin(
            MdtCase,
            and_(MdtCase.id == MentorAssignment.case_id, MdtCase.status == CaseStatus.OPEN),
        )
        .where(StaffUser.agency_id == agency.id, _is_mentor_or_held_cases())
        .group_by(StaffUser.id, StaffUser.public_id, StaffUser.display_name, StaffUser.is_active)
        .order_by(StaffUser.display_name)
    ).all()
    return [CaseloadLine(*row) for row in rows]


def _is_mentor_or_held_cases():
    mentors = select(StaffRole.user_id).where(StaffRole.role == Role.SURVIVOR_MENTOR)
    holders = select(MentorAssignment.mentor_id).where(MentorAssignment.ended_at.is_(None))
    return or_(StaffUser.id.in_(mentors), StaffUser.id.in_(holders))


def no_contact(
    db: Session, agency: Agency, *, days: int, today: date, tz: tzinfo
) -> list[NoContactLine]:
    """Open cases held by the program's mentors with no entry in the last `days` days; an
    assignment's day is its day in the MDT's zone (`tz`), as `today` is."""
    last = (
        select(
            Accompaniment.case_id.label("case_id"),
            func.max(Accompaniment.occurred_on).label("last_on"),
        )
        .where(Accompaniment.agency_id == agency.id, Accompaniment.deleted_at.is_(None))
        .group_by(Accompaniment.case_id)
        .subquery()
    )
    cutoff = today - timedelta(days=days)
    # With no entry yet, the clock runs from the assignment (on or before the cutoff day).
    assigned_before = datetime.combine(cutoff + timedelta(days=1), time(0), tzinfo=tz)
    rows = db.exec(
        select(
            MdtCase.reference, StaffUser.display_name, MentorAssignment.assigned_at, last.c.last_on
        )
        .join(MentorAssignment, MentorAssignment.case_id == MdtCase.id)
        .join(StaffUser, StaffUser.id == MentorAssignment.mentor_id)
        .outerjoin(last, last.c.case_id == MdtCase.id)
        .where(
            MentorAssignment.mentor_agency_id == agency.id,
            MentorAssignment.ended_at.is_(None),
            MdtCase.status == CaseStatus.OPEN,
            or_(
                and_(last.c.last_on.is_(None), MentorAssignment.assigned_at < assigned_before),
                last.c.last_on <= cutoff,
            ),
        )
        .order_by(last.c.last_on.is_not(None), last.c.last_on, MdtCase.reference)
    ).all()
    return [
        NoContactLine(
            reference,
            name,
            assigned_at,
            last_on,
            (today - (last_on or assigned_at.astimezone(tz).date())).days,
        )
        for reference, name, assigned_at, last_on in rows
    ]


def monthly_by_kind(db: Session, agency: Agency, period: Period) -> list[MonthKind]:
    year = extract("year", Accompaniment.occurred_on)
    month = extract("month", Accompaniment.occurred_on)
    rows = db.exec(
        select(year, month, Accompaniment.kind, func.count(Accompaniment.id))
        .where(_in_period(agency, period))
        .group_by(year, month, Accompaniment.kind)
        .order_by(year, month, Accompaniment.kind)
    ).all()
    return [MonthKind(int(y), int(m), kind, n) for y, m, kind, n in rows]


def record_export(
    db: Session, agency: Agency, period: Period, *, actor: Actor, at: datetime
) -> None:
    record(
        db,
        AuditTag.MENTOR_REPORT_EXPORTED,
        agency_id=agency.id,
        actor=actor,
        subject="mentor-report",
        detail={"start": period.start.isoformat(), "end": period.end.isoformat()},
        at=at,
    )
