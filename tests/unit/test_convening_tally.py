"""The convening tallies: the daily tally stays equal to a recount of the cases, the monthly
rollup to the daily tally and the waiting tally to a count of the unconvened cases through
every write path, and the compliance rate read from them equals the rate straight from
cases."""

import random
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import func, or_, select

from portal.models import MdtCase, Role
from portal.models.workflow import ConveningTally, ConveningTallyMonth, ConveningWaiting
from portal.services import cases, casework, convening, meetings

import factories as make
from databases import counted

NY = ZoneInfo("America/New_York")
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 2)
SOURCES = ("hotline", "school", "child_welfare")
COUNTS = ("opened", "convened_in_time", "convened_late", "closed_before_mdt")


def open_case(db, agency, *, intake, source="hotline", window=14):
    case = cases.open_case(
        db,
        agency,
        intake_date=intake,
        referral_source=source,
        actor=None,
        at=AT,
        today=TODAY,
        window_days=window,
    )
    db.flush()
    return case


def held_meeting(db, agency, coordinator, case_list, *, day):
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day=day.isoformat(),
        clock="10:00",
        place="Room 1",
        case_ids=[c.public_id for c in case_list],
        actor=coordinator,
        at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(days=1),
        tz=NY,
    )
    meetings.hold_meeting(db, meeting, actor=coordinator, at=AT, today=day)
    return meeting


def months_from_days(db) -> dict:
    """The daily tally summed by month in Python: what the monthly rollup must hold."""
    totals: Counter = Counter()
    for row in db.exec(select(ConveningTally)).all():
        key = (row.coordinating_agency_id, row.intake_date.replace(day=1), row.referral_source)
        for name in COUNTS:
            totals[(*key, name)] += getattr(row, name)
    return {key: value for key, value in totals.items() if value}


def month_rows(db) -> dict:
    result = {}
    for row in db.exec(select(ConveningTallyMonth)).all():
        key = (row.coordinating_agency_id, row.month, row.referral_source)
        for name in COUNTS:
            if getattr(row, name):
                result[(*key, name)] = getattr(row, name)
    return result


def test_monthly_rollup_follows_every_write_path(db, keys):
    agency = make.agency(db, keys)
    other = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    # Opened: in several months, at month edges, two sources, two MDTs.
    late = open_case(db, agency, intake=date(2026, 9, 30), source="school")
    edge = open_case(db, agency, intake=date(2026, 10, 1))
    recent = open_case(db, agency, intake=TODAY - timedelta(days=3))
    open_case(db, other, intake=date(2026, 10, 31), source="school")
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    # Convened at a held meeting: late for one, in time for the other.
    meeting = held_meeting(db, agency, coordinator, [late, edge], day=date(2026, 10, 14))
    for row in meetings.agenda(db, meeting, agency):
        meetings.mark_reviewed(db, meeting, row.item, actor=coordinator, at=AT)
    db.flush()
    assert (late.first_mdt_date, edge.first_mdt_date) == (date(2026, 10, 14),) * 2
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    # Closed before its first MDT inside its window: left out, then back when reopened.
    casework.close_case(db, recent, reason="Moved away", actor=None, at=AT, today=TODAY)
    db.flush()
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    assert month_rows(db)[(agency.id, date(2026, 10, 1), "hotline", "closed_before_mdt")] == 1
    casework.reopen_case(db, recent, reason="Came back", actor=None, at=AT)
    db.flush()
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    # Closed without a meeting after its deadline: late, not left out.
    casework.close_case(
        db, recent, reason="Moved away", actor=None, at=AT, today=TODAY + timedelta(days=20)
    )
    db.flush()
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    assert (agency.id, date(2026, 10, 1), "hotline", "closed_before_mdt") not in month_rows(db)
    # The first MDT moved earlier: late becomes in time, in both tallies.
    convening.set_first_mdt(db, late, late.intake_date + timedelta(days=5))
    db.flush()
    assert month_rows(db) == months_from_days(db)
    assert day_rows(db) == days_from_cases(db)
    september = month_rows(db)
    assert september[(agency.id, date(2026, 9, 1), "school", "convened_in_time")] == 1
    assert (agency.id, date(2026, 9, 1), "school", "convened_late") not in september


def left_out(case) -> bool:
    """Closed before its first MDT, by its deadline: out of the rate and of the wait."""
    return (
        case.closed_on is not None
        and case.first_mdt_date is None
        and case.closed_on <= case.convening_due
    )


def days_from_cases(db) -> dict:
    """The daily tally recounted straight from mdt_case: what its rows must hold."""
    totals: Counter = Counter()
    for c in db.exec(select(MdtCase)).all():
        key = (c.coordinating_agency_id, c.intake_date, c.referral_source)
        totals[(*key, "opened")] += 1
        if c.first_mdt_date is not None:
            in_time = c.first_mdt_date <= c.convening_due
            totals[(*key, "convened_in_time" if in_time else "convened_late")] += 1
        totals[(*key, "closed_before_mdt")] += left_out(c)
    return {key: value for key, value in totals.items() if value}


def day_rows(db) -> dict:
    result = {}
    for row in db.exec(select(ConveningTally)).all():
        key = (row.coordinating_agency_id, row.intake_date, row.referral_source)
        for name in COUNTS:
            if getattr(row, name):
                result[(*key, name)] = getattr(row, name)
    return result


def waiting_from_cases(db) -> dict:
    """Cases with no first MDT, counted straight from mdt_case: what the waiting tally
    must hold (open or closed, but for those closed by their deadline)."""
    rows = db.exec(
        select(
            MdtCase.coordinating_agency_id,
            MdtCase.referral_source,
            MdtCase.intake_date,
            MdtCase.convening_due,
            func.count(),
        )
        .where(
            MdtCase.first_mdt_date.is_(None),
            or_(MdtCase.closed_on.is_(None), MdtCase.closed_on > MdtCase.convening_due),
        )
        .group_by(
            MdtCase.coordinating_agency_id,
            MdtCase.referral_source,
            MdtCase.intake_date,
            MdtCase.convening_due,
        )
    ).all()
    return {tuple(key): count for *key, count in rows}


def waiting_rows(db) -> dict:
    """The waiting tally without its emptied rows (a row stays at 0 once its cases met)."""
    return {
        (r.coordinating_agency_id, r.referral_source, r.intake_date, r.convening_due): r.waiting
        for r in db.exec(select(ConveningWaiting)).all()
        if r.waiting
    }


def test_waiting_tally_follows_every_write_path(db, keys):
    agency = make.agency(db, keys)
    other = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    # Opened: two on the same day and source share a row; another window, another deadline.
    twin_a = open_case(db, agency, intake=TODAY - timedelta(days=5))
    twin_b = open_case(db, agency, intake=TODAY - timedelta(days=5))
    longer = open_case(db, agency, intake=TODAY - timedelta(days=5), window=21)
    school = open_case(db, agency, intake=TODAY - timedelta(days=2), source="school")
    open_case(db, other, intake=TODAY - timedelta(days=5))
    assert waiting_rows(db) == waiting_from_cases(db)
    assert (
        waiting_rows(db)[
            (agency.id, "hotline", TODAY - timedelta(days=5), TODAY + timedelta(days=9))
        ]
        == 2
    )
    # Convened at a held meeting: the first stamp ends the wait.
    meeting = held_meeting(db, agency, coordinator, [twin_a, longer], day=TODAY - timedelta(days=1))
    for row in meetings.agenda(db, meeting, agency):
        meetings.mark_reviewed(db, meeting, row.item, actor=coordinator, at=AT)
    db.flush()
    assert twin_a.first_mdt_date == longer.first_mdt_date == TODAY - timedelta(days=1)
    assert waiting_rows(db) == waiting_from_cases(db)
    # Reviewed again at a later meeting: first-MDT date unchanged, nothing to count.
    later = held_meeting(db, agency, coordinator, [twin_a], day=TODAY)
    for row in meetings.agenda(db, later, agency):
        meetings.mark_reviewed(db, later, row.item, actor=coordinator, at=AT)
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    # Moved earlier: still convened, so no change to the wait.
    convening.set_first_mdt(db, twin_a, TODAY - timedelta(days=3))
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    # Closed and reopened, convened or not: closed before its first MDT inside its window,
    # a case waits no more until it is reopened; convened, it was not waiting.
    casework.close_case(db, school, reason="Moved away", actor=None, at=AT, today=TODAY)
    casework.close_case(db, twin_a, reason="Done", actor=None, at=AT, today=TODAY)
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    assert (agency.id, "school", school.intake_date, school.convening_due) not in waiting_rows(db)
    casework.reopen_case(db, school, reason="Came back", actor=None, at=AT)
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    assert waiting_rows(db)[(agency.id, "school", school.intake_date, school.convening_due)] == 1
    # Closed after its deadline without a meeting: it was missed, and stays in the tally.
    late_day = school.convening_due + timedelta(days=1)
    casework.close_case(db, school, reason="Moved away", actor=None, at=AT, today=late_day)
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    assert waiting_rows(db)[(agency.id, "school", school.intake_date, school.convening_due)] == 1
    # Convened directly by the service while closed (left out): the wait ends all the same.
    casework.close_case(db, twin_b, reason="Moved away", actor=None, at=AT, today=TODAY)
    convening.set_first_mdt(db, twin_b, TODAY)
    db.flush()
    assert waiting_rows(db) == waiting_from_cases(db)
    assert day_rows(db) == days_from_cases(db)
    assert (agency.id, "hotline", TODAY - timedelta(days=5), TODAY + timedelta(days=9)) not in (
        waiting_rows(db)
    )


def rate_from_cases(db, agency, today: date, days: int) -> dict[str, tuple[int, int, int]]:
    """{source: (convened in time, decided, closed before a first MDT)} straight from the
    cases, for comparison."""
    since = today - timedelta(days=days)
    rows = db.exec(
        select(MdtCase).where(
            MdtCase.coordinating_agency_id == agency.id,
            MdtCase.intake_date >= since,
            MdtCase.intake_date <= today,
        )
    ).all()
    result: dict[str, list[int]] = {}
    for c in rows:
        counts = result.setdefault(c.referral_source, [0, 0, 0])
        if left_out(c):
            counts[2] += 1
        elif c.first_mdt_date is not None or c.convening_due < today:
            counts[1] += 1
            counts[0] += bool(c.first_mdt_date and c.first_mdt_date <= c.convening_due)
    return {source: tuple(counts) for source, counts in result.items()}


def test_compliance_from_the_tallies_equals_the_cases_on_every_day(db, keys):
    """Window starts at every position in a month (read from either side), today at month
    starts and ends, a window shorter than a month, a source whose only case lies just
    before a window, and cases with intake after the day asked about (today's month row
    holds them, the rate must not)."""
    rng = random.Random(6)
    agency = make.agency(db, keys)
    first = date(2025, 8, 1)
    for _ in range(120):
        intake = first + timedelta(days=rng.randrange((TODAY - first).days + 1))
        case = open_case(db, agency, intake=intake, source=rng.choice(SOURCES))
        if rng.random() < 0.7:
            day = intake + timedelta(days=rng.randint(1, 30))
            convening.set_first_mdt(db, case, min(day, TODAY))
        if rng.random() < 0.3:  # closed, convened or not, inside the window or after it
            day = min(intake + timedelta(days=rng.randint(0, 30)), TODAY)
            casework.close_case(db, case, reason="Closed", actor=None, at=AT, today=day)
            if rng.random() < 0.3:
                casework.reopen_case(db, case, reason="Back", actor=None, at=AT)
    open_case(db, agency, intake=date(2025, 9, 2), source="health_provider")
    db.flush()
    days = [date(2026, 8, 29) + timedelta(days=n) for n in range(66)]
    days += [date(2026, 2, 28), date(2026, 3, 1), date(2025, 12, 31), date(2026, 1, 1)]
    for windows in ((30, 90, 365), (7, 30, 365)):
        for today in days:
            table = convening.compliance(db, agency, today=today, windows=windows)
            widest = rate_from_cases(db, agency, today, 365)
            assert [label for label, _ in table.by_source] == sorted(
                convening.source_label(s) for s in widest
            ), today
            for window in windows:
                expected = rate_from_cases(db, agency, today, window)
                got = {
                    label: (r.convened_in_time, r.decided, r.closed_before_mdt)
                    for label, r in ((label, rates[window]) for label, rates in table.by_source)
                }
                for source in widest:
                    counts = expected.get(source, (0, 0, 0))
                    assert got[convening.source_label(source)] == counts, (today, window)
                overall = table.overall[window]
                summed = tuple(map(sum, zip(*expected.values(), strict=True))) or (0, 0, 0)
                assert (
                    overall.convened_in_time,
                    overall.decided,
                    overall.closed_before_mdt,
                ) == summed, today


def _tallies_moved(db, change) -> list[str]:
    """The tally tables `change()` updates, in the order it updates them."""
    with counted(db) as statements:
        change()
    moved = [re.match(r"UPDATE (\w+)", s) for s in statements]
    return [m[1] for m in moved if m and m[1].startswith("convening_")]


def test_every_change_takes_the_tallys_rows_before_the_waiting_row(db, keys):
    """The rows are shared by the cases of one agency, source and intake date: a case
    opened while another of the same day is closed, or reviewed for the first time, took
    them in opposite orders (the close and the review the waiting row first), which on
    PostgreSQL deadlocks and throws one of the two away."""
    agency = make.agency(db, keys)
    tally, month, waiting = "convening_tally", "convening_tally_month", "convening_waiting"
    opened = open_case(db, agency, intake=TODAY)
    assert _tallies_moved(db, lambda: open_case(db, agency, intake=TODAY)) == [
        tally,
        month,
        waiting,
    ]
    assert _tallies_moved(db, lambda: convening.count_closed(db, opened, on=TODAY)) == [
        tally,
        month,
        waiting,
    ]
    reviewed = open_case(db, agency, intake=TODAY)
    assert _tallies_moved(db, lambda: convening.set_first_mdt(db, reviewed, TODAY)) == [
        tally,
        month,
        waiting,
    ]
