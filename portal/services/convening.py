"""The 14-day convening clock as the coordinator sees it: who waits for a first MDT, who is
late, the rate convened within the window, and cases that have gone without review.

Everything is computed in SQL over the coordinating agency's cases (indexes
ix_mdt_case_unconvened / _never_reviewed / _review / _next_review) and the convening
tallies (by day and by month, and of the cases still waiting); Python only shapes the few
rows shown. A case's deadline is
`mdt_case.convening_due`, fixed at intake.

A case closed before its first MDT, on or before its deadline (the survivor moved away,
the referral was declined), is no missed meeting: it leaves the rate, and the figure says
how many were left out. Closed without a meeting after its deadline, it stays late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from portal.models import Agency, CaseStatus, MdtCase, ReferralSource
from portal.models.workflow import (
    AgendaItem,
    ConveningTally,
    ConveningTallyMonth,
    ConveningWaiting,
    Meeting,
    MeetingStatus,
)

RATE_WINDOWS = (30, 90, 365)
STALE_COUNT_CAP = 1000


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
    # When that meeting starts (UTC): what the coordinator reads; its day decides the rest.
    next_start: datetime | None = None

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


def _next_meeting(today: date, column=Meeting.meeting_date):
    # Still to come: a meeting whose day passed without being started is not the next one
    # (and would hide that the one to come is after the deadline). The earliest day's
    # meeting is the earliest start: `column` picks which of the two is read.
    return (
        select(func.min(column))
        .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
        .where(
            AgendaItem.case_id == MdtCase.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.meeting_date >= today,
        )
        .scalar_subquery()
    )


def awaiting_first_mdt(
    db: Session, agency: Agency, *, today: date, limit: int = 25, offset: int = 0
) -> list[AwaitingRow]:
    """Open cases not yet reviewed at any MDT, fewest days left first (`offset` of them
    skipped: the full list's later pages)."""
    rows = db.exec(
        select(
            MdtCase.public_id,
            MdtCase.reference,
            MdtCase.intake_date,
            MdtCase.convening_due,
            _next_meeting(today),
            _next_meeting(today, Meeting.starts_at),
        )
        .where(*_awaiting(agency.id))
        .order_by(MdtCase.convening_due, MdtCase.reference)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        AwaitingRow(pid, ref, intake, due, days_left(due, today), meeting, start)
        for pid, ref, intake, due, meeting, start in rows
    ]


def count_awaiting(db: Session, agency: Agency) -> int:
    return db.exec(select(func.count(MdtCase.id)).where(*_awaiting(agency.id))).one()


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
    # All waiting = overdue + not yet due: two disjoint slices, so no case is read twice.
    overdue, not_yet_due, due_today, due_soon = db.exec(
        select(
            waiting(due < today),
            waiting(due >= today),
            waiting(due == today),
            waiting(due > today, due <= today + timedelta(days=3)),
        )
    ).one()
    awaiting = overdue + not_yet_due
    # From the meeting side: the MDT's few meetings to come, not every waiting case. A case
    # counts by its next meeting, as its row shows it: one inside its window is on time,
    # whatever later meeting it is also on the agenda of.
    upcoming = (
        select(AgendaItem.case_id.label("case_id"), func.min(Meeting.meeting_date).label("on"))
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(
            Meeting.coordinating_agency_id == agency.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.meeting_date >= today,
        )
        .group_by(AgendaItem.case_id)
        .subquery()
    )
    scheduled_late = db.exec(
        select(func.count())
        .select_from(upcoming)
        .join(MdtCase, MdtCase.id == upcoming.c.case_id)
        .where(upcoming.c.on > MdtCase.convening_due, *_awaiting(agency.id))
    ).one()
    return ClockCounts(awaiting, overdue, due_today, due_soon, scheduled_late)


@dataclass(frozen=True)
class Rate:
    convened_in_time: int
    decided: int  # convened, or past the deadline without convening
    closed_before_mdt: int = 0  # closed by the deadline without a meeting: left out

    @property
    def percent(self) -> int | None:
        # Rounded down: 199 of 200 is 99 %, never a 100 % that hides a case missed.
        return None if not self.decided else 100 * self.convened_in_time // self.decided


@dataclass(frozen=True)
class ComplianceTable:
    windows: tuple[int, ...]
    overall: dict[int, Rate]
    by_source: list[tuple[str, dict[int, Rate]]]

    @property
    def left_out(self) -> list[tuple[int, list[int]]]:
        """[(cases closed before a first MDT, the windows with that many)], in the order
        of the windows, none for a window with none: said once for windows alike."""
        groups: dict[int, list[int]] = {}
        for days in self.windows:
            if count := self.overall[days].closed_before_mdt:
                groups.setdefault(count, []).append(days)
        return list(groups.items())


def compliance(
    db: Session, agency: Agency, *, today: date, windows: tuple[int, ...] = RATE_WINDOWS
) -> ComplianceTable:
    """Cases whose intake fell in each window and whose outcome is known (convened, or
    the deadline passed without a meeting): the share convened by the deadline.

    A case still inside its window without a meeting is not counted either way yet; one
    closed before its first MDT by its deadline is not counted at all (each Rate says how
    many were left out so). The counts come from the monthly and daily tallies (see
    _tallied), less the cases still pending (from the waiting tally, see _pending), so the
    work is bounded by months, days and sources, not by cases.
    """
    widest = sorted(windows)
    tallied = _tallied(db, agency, today, widest)
    pending = _pending(db, agency, today, widest)
    by_source = []
    totals = {days: [0, 0, 0] for days in windows}
    for source in sorted(tallied, key=source_label):
        rates = {}
        for days in windows:
            band = widest.index(days)
            good, opened, closed = tallied[source][band]
            (waiting,) = _cumulative(pending.get(source, {}), band, 1)
            known = opened - closed - waiting
            rates[days] = Rate(good, known, closed)
            totals[days][0] += good
            totals[days][1] += known
            totals[days][2] += closed
        by_source.append((source_label(source), rates))
    overall = {days: Rate(*totals[days]) for days in windows}
    return ComplianceTable(tuple(windows), overall, by_source)


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def first_of_next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class _Span:
    """One window as month rows from `months_from` up to today's month, corrected by the
    day rows in [edge_from, edge_to) times `sign` where the window starts mid-month."""

    months_from: date
    edge_from: date
    edge_to: date
    sign: int


def _span(start: date, today: date) -> _Span:
    """Whichever side of the start's month is shorter is read day by day: the days before
    the start taken off its whole month, or the days from the start added to the months
    after it; so an edge costs at most about half a month of day rows."""
    month, next_month = first_of_month(start), first_of_next_month(start)
    if (start - month).days <= (next_month - start).days:
        return _Span(month, month, start, -1)
    return _Span(next_month, start, min(next_month, today + timedelta(days=1)), 1)


EDGE_TAG = 100  # + the window's index: day rows correcting that window's months
FUTURE_TAG = 200  # day rows after today inside today's month: no window counts them


def _tallied(db: Session, agency: Agency, today: date, widest: list[int]) -> dict[str, list]:
    """{source: [(convened in time, opened, closed before a first MDT) per window,
    narrowest first]} for intake days from each window's start to today, from
    ConveningTallyMonth and ConveningTally.

    One query: month rows tagged with the narrowest window that takes the whole month, the
    day rows at each window's mid-month edge (signed), and any day rows after today that
    today's month row holds; summed by source and tag in SQL, combined here per window.
    Sources with no case in the widest window are left out, as with day rows alone.
    """
    spans = [_span(today - timedelta(days=days), today) for days in widest]
    this_month = first_of_month(today)
    month_rows = select(
        ConveningTallyMonth.referral_source.label("source"),
        case(
            *[
                (ConveningTallyMonth.month >= span.months_from, band)
                for band, span in enumerate(spans[:-1])
            ],
            else_=len(spans) - 1,
        ).label("tag"),
        ConveningTallyMonth.convened_in_time.label("good"),
        ConveningTallyMonth.opened.label("opened"),
        ConveningTallyMonth.closed_before_mdt.label("closed"),
    ).where(
        ConveningTallyMonth.coordinating_agency_id == agency.id,
        ConveningTallyMonth.month >= spans[-1].months_from,
        ConveningTallyMonth.month <= this_month,
    )

    def day_rows(tag: int, sign: int, first: date, before: date):
        return select(
            ConveningTally.referral_source.label("source"),
            literal(tag).label("tag"),
            (ConveningTally.convened_in_time * sign).label("good"),
            (ConveningTally.opened * sign).label("opened"),
            (ConveningTally.closed_before_mdt * sign).label("closed"),
        ).where(
            ConveningTally.coordinating_agency_id == agency.id,
            ConveningTally.intake_date >= first,
            ConveningTally.intake_date < before,
        )

    parts = [month_rows]
    for band, span in enumerate(spans):
        if span.edge_from < span.edge_to:
            parts.append(day_rows(EDGE_TAG + band, span.sign, span.edge_from, span.edge_to))
    after_today = today + timedelta(days=1)
    parts.append(day_rows(FUTURE_TAG, -1, after_today, first_of_next_month(today)))
    rows = union_all(*parts).subquery()
    summed = select(
        rows.c.source,
        rows.c.tag,
        func.sum(rows.c.good),
        func.sum(rows.c.opened),
        func.sum(rows.c.closed),
    ).group_by(rows.c.source, rows.c.tag)
    tags: dict[str, dict[int, tuple[int, int, int]]] = {}
    for source, tag, *sums in db.exec(summed).all():
        tags.setdefault(source, {})[int(tag)] = tuple(int(v or 0) for v in sums)
    nothing = (0, 0, 0)
    result = {}
    for source, sums in tags.items():
        per_window = []
        for band, span in enumerate(spans):
            parts_of_window = [sums.get(t, nothing) for t in range(band + 1)]
            parts_of_window.append(sums.get(EDGE_TAG + band, nothing))
            if span.months_from <= this_month:
                parts_of_window.append(sums.get(FUTURE_TAG, nothing))
            per_window.append(tuple(map(sum, zip(*parts_of_window, strict=True))))
        if per_window[-1][1] > 0:
            result[source] = per_window
    return result


def _pending(db: Session, agency: Agency, today: date, widest: list[int]) -> dict[str, dict]:
    """{source: {band: (waiting,)}}: cases with intake in the widest window, no first MDT
    and the deadline still ahead, from ConveningWaiting (a row per intake day, deadline
    and source, in one range of ix_convening_waiting_cover) rather than from the cases.
    Open and closed cases count alike, but for those closed by their deadline, which the
    tallies leave out instead (see count_closed)."""
    oldest = today - timedelta(days=widest[-1])
    return _by_source_and_band(
        db,
        select(
            ConveningWaiting.referral_source.label("source"),
            _band(ConveningWaiting.intake_date, today, widest).label("band"),
            ConveningWaiting.waiting.label("waiting"),
        ).where(
            ConveningWaiting.coordinating_agency_id == agency.id,
            ConveningWaiting.convening_due >= today,
            ConveningWaiting.intake_date >= oldest,
            ConveningWaiting.intake_date <= today,
        ),
        ("waiting",),
    )


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
    """Add to the case's day row and month row of the tally, in this transaction."""
    by_source = {
        "coordinating_agency_id": case_.coordinating_agency_id,
        "referral_source": case_.referral_source,
    }
    _bump_row(db, ConveningTally, {**by_source, "intake_date": case_.intake_date}, deltas)
    month = first_of_month(case_.intake_date)
    _bump_row(db, ConveningTallyMonth, {**by_source, "month": month}, deltas)


def _bump_waiting(db: Session, case_: MdtCase, delta: int) -> None:
    """Add to the case's row of the waiting tally, in this transaction. A case without a
    deadline (only ever bulk-loaded, never through open_case) is never pending: no row."""
    if case_.convening_due is None:
        return
    key = {
        "coordinating_agency_id": case_.coordinating_agency_id,
        "referral_source": case_.referral_source,
        "intake_date": case_.intake_date,
        "convening_due": case_.convening_due,
    }
    _bump_row(db, ConveningWaiting, key, {"waiting": delta})


def _bump_row(db: Session, model, key: dict, deltas: dict) -> None:
    """Add to the tally row with these key columns, creating it on first use (race-safe
    on both DBs)."""
    where = [getattr(model, column) == value for column, value in key.items()]
    values = {name: getattr(model, name) + delta for name, delta in deltas.items()}
    if db.execute(update(model).where(*where).values(**values)).rowcount:
        return
    try:
        with db.begin_nested():
            db.add(model(**key, **deltas))
            db.flush()
    except IntegrityError:  # another transaction created it meanwhile
        db.execute(update(model).where(*where).values(**values))


# Every change of the tallies takes their rows in one order, the day's and the month's rows
# of the tally, then the waiting row: they are shared by the cases of one coordinating
# agency, source and intake date, and two changes at once (a case opened while another is
# closed or reviewed) taking them in opposite orders would deadlock on PostgreSQL.


def count_opened(db: Session, case_: MdtCase) -> None:
    """A new case: opened in the tally, and waiting until its first MDT."""
    _bump(db, case_, opened=1)
    _bump_waiting(db, case_, +1)


def closed_before_mdt(case_: MdtCase) -> bool:
    """Closed before its first MDT, on or before its deadline: no meeting was missed, so
    the rate leaves the case out (and it waits for none). Closed after the deadline
    without a meeting, the meeting was missed: it counts as late like an open case."""
    return (
        case_.closed_on is not None
        and case_.first_mdt_date is None
        and case_.convening_due is not None
        and case_.closed_on <= case_.convening_due
    )


def count_closed(db: Session, case_: MdtCase, *, on: date) -> None:
    """The case closed on `on` (a date in the MDT's zone): closed before its first MDT
    by its deadline, it leaves the wait and is tallied as left out of the rate."""
    case_.closed_on = on
    if closed_before_mdt(case_):
        _bump(db, case_, closed_before_mdt=1)
        _bump_waiting(db, case_, -1)
    db.add(case_)


def count_reopened(db: Session, case_: MdtCase) -> None:
    """The case reopened: one left out when it closed is back as its dates say, waiting
    while its deadline is ahead and late once it has passed."""
    if closed_before_mdt(case_):
        _bump(db, case_, closed_before_mdt=-1)
        _bump_waiting(db, case_, +1)
    case_.closed_on = None
    db.add(case_)


def _outcome(case_: MdtCase, first: date | None) -> str | None:
    if first is None:
        return None
    return "convened_in_time" if first <= case_.convening_due else "convened_late"


def set_first_mdt(db: Session, case_: MdtCase, first: date) -> None:
    """Stamp (or move earlier) the case's first-MDT date and keep the tallies with it:
    the first stamp ends the wait (or, for a case left out when it closed, brings it back
    into the rate); moving it earlier changes only the outcome."""
    deltas: dict[str, int] = {}
    waited = case_.first_mdt_date is None and not closed_before_mdt(case_)
    if case_.first_mdt_date is None and not waited:
        deltas["closed_before_mdt"] = -1
    before = _outcome(case_, case_.first_mdt_date)
    case_.first_mdt_date = first
    after = _outcome(case_, first)
    if before != after:
        deltas[after] = 1
        if before is not None:
            deltas[before] = -1
    if deltas:
        _bump(db, case_, **deltas)
    if waited:
        _bump_waiting(db, case_, -1)
    db.add(case_)


def source_label(value: str) -> str:
    """A referral source in words ("self-referral", "law enforcement")."""
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
    db: Session, agency: Agency, *, today: date, days: int, limit: int = 20, offset: int = 0
) -> tuple[int, list[StaleRow]]:
    """Open cases not reviewed in `days` (never-reviewed ones count from intake).

    Two halves, each walked in index order (ix_mdt_case_review) and cut to the page:
    never reviewed (oldest intake first), then reviewed long ago (oldest review first).
    `offset` skips that many of the whole list (the full list's later pages).
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
    rows = db.exec(
        select(*columns)
        .where(*never)
        .order_by(MdtCase.intake_date, MdtCase.id)  # the index's order; ties by row
        .offset(offset)
        .limit(limit)
    ).all()
    if len(rows) < limit:
        # Past the never-reviewed half: skip what of the offset that half did not take.
        skip = 0
        if offset:
            never_count = db.exec(select(func.count(MdtCase.id)).where(*never)).one()
            skip = max(offset - never_count, 0)
        rows += db.exec(
            select(*columns)
            .where(*long_ago)
            .order_by(MdtCase.last_review_date, MdtCase.intake_date, MdtCase.id)
            .offset(skip)
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
