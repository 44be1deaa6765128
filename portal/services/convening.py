"""The 14-day convening clock as the coordinator sees it: who waits for a first MDT, who is
late, the rate convened within the window, and cases that have gone without review.

Everything is computed in SQL over the coordinating agency's cases (indexes
ix_mdt_case_unconvened / _never_reviewed / _review / _next_review) and the daily convening
tally; Python only shapes the few rows shown. A case's deadline is
`mdt_case.convening_due`, fixed at intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from portal.models import Agency, CaseStatus, MdtCase, ReferralSource
from portal.models.workflow import AgendaItem, ConveningTally, Meeting, MeetingStatus

RATE_WINDOWS = (30, 90, 365)
STALE_COUNT_CAP = 1000
SCHEDULED_LOOKBACK_DAYS = 60  # a meeting still "scheduled" longer ago than this is stale


def local_today(at: datetime, tz: ZoneInfo) -> date:
    """Dates of the clock are calendar dates in the MDT's zone, not in UTC."""
    return at.astimezone(tz).date()


def days_left(due: date, today: date) -> int:
    return (due - today).days


@dataclass(frozen=True)
class AwaitingRow:
    public_id: str
    reference: str
    intake_date: date
    convening_due: date
    days_left: int
    next_meeting: date | None

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def due_today(self) -> bool:
        return self.days_left == 0

    @property
    def scheduled_late(self) -> bool:
        return self.next_meeting is not None and self.next_meeting > self.convening_due


def _awaiting(agency_id: int):
    return (
        MdtCase.coordinating_agency_id == agency_id,
        MdtCase.status == CaseStatus.OPEN,
        MdtCase.first_mdt_date.is_(None),
    )


def _next_meeting():
    return (
        select(func.min(Meeting.meeting_date))
        .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
        .where(AgendaItem.case_id == MdtCase.id, Meeting.status == MeetingStatus.SCHEDULED)
        .scalar_subquery()
    )


def awaiting_first_mdt(
    db: Session, agency: Agency, *, today: date, limit: int = 25
) -> list[AwaitingRow]:
    """Open cases not yet reviewed at any MDT, fewest days left first."""
    rows = db.exec(
        select(
            MdtCase.public_id,
            MdtCase.reference,
            MdtCase.intake_date,
            MdtCase.convening_due,
            _next_meeting(),
        )
        .where(*_awaiting(agency.id))
        .order_by(MdtCase.convening_due, MdtCase.reference)
        .limit(limit)
    ).all()
    return [
        AwaitingRow(pid, ref, intake, due, days_left(due, today), meeting)
        for pid, ref, intake, due, meeting in rows
    ]


@dataclass(frozen=True)
class ClockCounts:
    awaiting: int
    overdue: int
    due_today: int
    due_soon: int  # within three days, not today
    scheduled_late: int


def clock_counts(db: Session, agency: Agency, *, today: date) -> ClockCounts:
    due = MdtCase.convening_due

    def waiting(*more):
        return select(func.count()).where(*_awaiting(agency.id), *more).scalar_subquery()

    # One range count per figure, each a slice of ix_mdt_case_unconvened in deadline
    # order: cheaper than testing every waiting case against every condition in one pass.
    awaiting, overdue, due_today, due_soon = db.exec(
        select(
            waiting(),
            waiting(due < today),
            waiting(due == today),
            waiting(due > today, due <= today + timedelta(days=3)),
        )
    ).one()
    # From the meeting side: the MDT's few scheduled meetings, not every waiting case.
    scheduled_late = db.exec(
        select(func.count(func.distinct(AgendaItem.case_id)))
        .select_from(Meeting)
        .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
        .join(MdtCase, MdtCase.id == AgendaItem.case_id)
        .where(
            Meeting.coordinating_agency_id == agency.id,
            Meeting.meeting_date >= today - timedelta(days=SCHEDULED_LOOKBACK_DAYS),
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.meeting_date > MdtCase.convening_due,
            *_awaiting(agency.id),
        )
    ).one()
    return ClockCounts(awaiting, overdue, due_today, due_soon, scheduled_late)


@dataclass(frozen=True)
class Rate:
    convened_in_time: int
    decided: int  # convened, or past the deadline without convening

    @property
    def percent(self) -> int | None:
        return None if not self.decided else round(100 * self.convened_in_time / self.decided)


@dataclass(frozen=True)
class ComplianceTable:
    windows: tuple[int, ...]
    overall: dict[int, Rate]
    by_source: list[tuple[str, dict[int, Rate]]]


def compliance(
    db: Session, agency: Agency, *, today: date, windows: tuple[int, ...] = RATE_WINDOWS
) -> ComplianceTable:
    """Cases whose intake fell in each window and whose outcome is known (convened, or
    the deadline passed without a meeting): the share convened by the deadline.

    A case still inside its window without a meeting is not counted either way yet. The
    counts come from the daily tally (one row per intake day and source), less the few
    cases still pending, so the work is bounded by days, not by cases.
    """
    widest = sorted(windows)
    oldest = today - timedelta(days=widest[-1])
    tallied = _by_source_and_band(
        db,
        select(
            ConveningTally.referral_source.label("source"),
            _band(ConveningTally.intake_date, today, widest).label("band"),
            ConveningTally.convened_in_time.label("good"),
            ConveningTally.opened.label("opened"),
        ).where(
            ConveningTally.coordinating_agency_id == agency.id,
            ConveningTally.intake_date >= oldest,
            ConveningTally.intake_date <= today,
        ),
        ("good", "opened"),
    )
    # Not convened and not yet past the deadline: a few rows of ix_mdt_case_unconvened.
    pending = _by_source_and_band(
        db,
        select(
            MdtCase.referral_source.label("source"),
            _band(MdtCase.intake_date, today, widest).label("band"),
            literal(1).label("waiting"),
        ).where(
            MdtCase.coordinating_agency_id == agency.id,
            MdtCase.status.in_([CaseStatus.OPEN.value, CaseStatus.CLOSED.value]),
            MdtCase.first_mdt_date.is_(None),
            MdtCase.convening_due >= today,
            MdtCase.intake_date >= oldest,
            MdtCase.intake_date <= today,
        ),
        ("waiting",),
    )
    by_source = []
    totals = {days: [0, 0] for days in windows}
    for source in sorted(tallied, key=_source_label):
        rates = {}
        for days in windows:
            band = widest.index(days)
            good, opened = _cumulative(tallied[source], band, 2)
            (waiting,) = _cumulative(pending.get(source, {}), band, 1)
            known = opened - waiting
            rates[days] = Rate(good, known)
            totals[days][0] += good
            totals[days][1] += known
        by_source.append((_source_label(source), rates))
    overall = {days: Rate(*totals[days]) for days in windows}
    return ComplianceTable(tuple(windows), overall, by_source)


def _band(intake_date, today: date, widest: list[int]):
    """0 for the narrowest window the intake falls in, 1 for the next, and so on: each row
    is summed once, and a window's figure is its band plus the narrower ones."""
    return case(
        *[
            (intake_date >= today - timedelta(days=days), band)
            for band, days in enumerate(widest[:-1])
        ],
        else_=len(widest) - 1,
    )


def _by_source_and_band(db: Session, rows, sums: tuple[str, ...]) -> dict[str, dict]:
    """{source: {band: (sum, ...)}} over `rows`, aggregated in SQL in one pass."""
    inner = rows.subquery()
    query = select(
        inner.c.source, inner.c.band, *[func.sum(inner.c[name]) for name in sums]
    ).group_by(inner.c.source, inner.c.band)
    result: dict[str, dict] = {}
    for source, band, *values in db.exec(query).all():
        result.setdefault(source, {})[int(band)] = tuple(int(v or 0) for v in values)
    return result


def _cumulative(bands: dict[int, tuple], up_to: int, width: int) -> tuple[int, ...]:
    totals = [0] * width
    for band, values in bands.items():
        if band <= up_to:
            totals = [t + v for t, v in zip(totals, values, strict=True)]
    return tuple(totals)


def _bump(db: Session, case_: MdtCase, **deltas: int) -> None:
    """Add to the case's tally row, creating it on first use (race-safe on both DBs)."""
    key = (
        ConveningTally.coordinating_agency_id == case_.coordinating_agency_id,
        ConveningTally.intake_date == case_.intake_date,
        ConveningTally.referral_source == case_.referral_source,
    )
    values = {name: getattr(ConveningTally, name) + delta for name, delta in deltas.items()}
    if db.execute(update(ConveningTally).where(*key).values(**values)).rowcount:
        return
    try:
        with db.begin_nested():
            db.add(
                ConveningTally(
                    coordinating_agency_id=case_.coordinating_agency_id,
                    intake_date=case_.intake_date,
                    referral_source=case_.referral_source,
                    **deltas,
                )
            )
            db.flush()
    except IntegrityError:  # another transaction created it meanwhile
        db.execute(update(ConveningTally).where(*key).values(**values))


def count_opened(db: Session, case_: MdtCase) -> None:
    _bump(db, case_, opened=1)


def _outcome(case_: MdtCase, first: date | None) -> str | None:
    if first is None:
        return None
    return "convened_in_time" if first <= case_.convening_due else "convened_late"


def set_first_mdt(db: Session, case_: MdtCase, first: date) -> None:
    """Stamp (or move earlier) the case's first-MDT date and keep the tally with it."""
    before = _outcome(case_, case_.first_mdt_date)
    case_.first_mdt_date = first
    after = _outcome(case_, first)
    if before != after:
        deltas = {after: 1}
        if before is not None:
            deltas[before] = -1
        _bump(db, case_, **deltas)
    db.add(case_)


def _source_label(value: str) -> str:
    try:
        return ReferralSource(value).label
    except ValueError:
        return value


@dataclass(frozen=True)
class StaleRow:
    public_id: str
    reference: str
    last_review_date: date | None
    intake_date: date


def without_review(
    db: Session, agency: Agency, *, today: date, days: int, limit: int = 20
) -> tuple[int, list[StaleRow]]:
    """Open cases not reviewed in `days` (never-reviewed ones count from intake).

    Two halves, each walked in index order (ix_mdt_case_review) and cut to the page:
    never reviewed (oldest intake first), then reviewed long ago (oldest review first).
    """
    cutoff = today - timedelta(days=days)
    open_here = (
        MdtCase.coordinating_agency_id == agency.id,
        MdtCase.status == CaseStatus.OPEN,
    )
    never = (*open_here, MdtCase.last_review_date.is_(None), MdtCase.intake_date < cutoff)
    long_ago = (*open_here, MdtCase.last_review_date < cutoff)
    columns = (
        MdtCase.public_id,
        MdtCase.reference,
        MdtCase.last_review_date,
        MdtCase.intake_date,
    )
    rows = db.exec(select(*columns).where(*never).order_by(MdtCase.intake_date).limit(limit)).all()
    if len(rows) < limit:
        rows += db.exec(
            select(*columns)
            .where(*long_ago)
            .order_by(MdtCase.last_review_date)
            .limit(limit - len(rows))
        ).all()
    count = 0
    for where in (never, long_ago):
        # Counted up to a cap: "999+" says enough, and the work stays bounded.
        capped = select(MdtCase.id).where(*where).limit(STALE_COUNT_CAP).subquery()
        count += db.exec(select(func.count()).select_from(capped)).one()
    return min(count, STALE_COUNT_CAP), [StaleRow(*row) for row in rows]


@dataclass(frozen=True)
class ReviewDueRow:
    public_id: str
    reference: str
    next_review_date: date
    review_every_days: int


def due_for_review(
    db: Session, agency: Agency, *, today: date, horizon_days: int = 7, limit: int = 25
) -> list[ReviewDueRow]:
    """Open cases whose next review (by the cadence the MDT chose) falls by the horizon."""
    rows = db.exec(
        select(
            MdtCase.public_id,
            MdtCase.reference,
            MdtCase.next_review_date,
            MdtCase.review_every_days,
        )
        .where(
            MdtCase.coordinating_agency_id == agency.id,
            MdtCase.status == CaseStatus.OPEN,
            MdtCase.next_review_date <= today + timedelta(days=horizon_days),
        )
        .order_by(MdtCase.next_review_date, MdtCase.reference)
        .limit(limit)
    ).all()
    return [ReviewDueRow(*row) for row in rows]


@dataclass(frozen=True)
class ConvenedRow:
    public_id: str
    reference: str
    first_mdt_date: date
    convening_due: date

    @property
    def in_time(self) -> bool:
        return self.first_mdt_date <= self.convening_due


def recently_convened(
    db: Session, agency: Agency, *, today: date, days: int = 14, limit: int = 10
) -> list[ConvenedRow]:
    """Cases whose first MDT was in the last `days`, newest first (ix_mdt_case_first_mdt)."""
    rows = db.exec(
        select(MdtCase.public_id, MdtCase.reference, MdtCase.first_mdt_date, MdtCase.convening_due)
        .where(
            MdtCase.coordinating_agency_id == agency.id,
            MdtCase.first_mdt_date >= today - timedelta(days=days),
        )
        .order_by(MdtCase.first_mdt_date.desc(), MdtCase.reference)
        .limit(limit)
    ).all()
    return [ConvenedRow(*row) for row in rows]


@dataclass(frozen=True)
class CoordinatorPanel:
    today: date
    awaiting: list[AwaitingRow]
    counts: ClockCounts
    rates: ComplianceTable
    stale_days: int
    stale_count: int
    stale: list[StaleRow]
    review_due: list[ReviewDueRow]
    convened: list[ConvenedRow]


def coordinator_panel(
    db: Session, agency: Agency, *, today: date, stale_days: int = 30
) -> CoordinatorPanel:
    stale_count, stale = without_review(db, agency, today=today, days=stale_days)
    return CoordinatorPanel(
        today=today,
        awaiting=awaiting_first_mdt(db, agency, today=today),
        counts=clock_counts(db, agency, today=today),
        rates=compliance(db, agency, today=today),
        stale_days=stale_days,
        stale_count=stale_count,
        stale=stale,
        review_due=due_for_review(db, agency, today=today),
        convened=recently_convened(db, agency, today=today),
    )
