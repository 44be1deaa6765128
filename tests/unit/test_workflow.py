"""The MDT workflow's domain: the convening clock, compliance, meetings, tasks, calendars."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlmodel import func, select

from portal.auth.permissions import ROLE_PERMISSIONS, Permission
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import AuditEntry, MdtCase, Role
from portal.models.workflow import Meeting, MeetingStatus, Task, TaskChange, TaskStatus
from portal.services import calendar, case_history, cases, casework, convening, meetings, tasks

import factories as make
from team_helpers import joining_release

NY = ZoneInfo("America/New_York")
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 11, 2)


def open_case(db, agency, *, intake, source="hotline", partners=(), window=14):
    case = cases.open_case(
        db,
        agency,
        intake_date=intake,
        referral_source=source,
        actor=None,
        at=AT,
        today=TODAY,
        window_days=window,
        agencies=list(partners),
    )
    db.flush()
    return case


def held_meeting(db, agency, coordinator, case_list, *, day=TODAY):
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


# ---------------------------------------------------------------- the clock


@pytest.mark.parametrize(
    ("intake", "due"),
    [
        (date(2026, 1, 25), date(2026, 2, 8)),  # month end
        (date(2026, 12, 25), date(2027, 1, 8)),  # year end
        (date(2028, 2, 20), date(2028, 3, 5)),  # leap year: 29 February counts
        (date(2027, 2, 20), date(2027, 3, 6)),  # not a leap year
        (date(2028, 2, 29), date(2028, 3, 14)),  # intake on the leap day
        (date(2026, 10, 25), date(2026, 11, 8)),  # across the end of daylight saving
    ],
)
def test_convening_deadline_is_intake_plus_fourteen_calendar_days(intake, due):
    assert cases.convening_deadline(intake, 14) == due


def test_the_window_is_a_setting(db, keys):
    agency = make.agency(db, keys)
    case = open_case(db, agency, intake=date(2026, 10, 30), window=10)
    assert case.convening_due == date(2026, 11, 9)


def test_today_is_the_calendar_date_in_the_mdt_zone():
    late_evening_in_new_york = datetime(2026, 11, 3, 3, 30, tzinfo=UTC)
    assert convening.local_today(late_evening_in_new_york, NY) == date(2026, 11, 2)
    assert convening.local_today(late_evening_in_new_york, ZoneInfo("Asia/Tokyo")) == date(
        2026, 11, 3
    )
    assert convening.local_today(late_evening_in_new_york, ZoneInfo("UTC")) == date(2026, 11, 3)


def test_meeting_times_are_local_to_the_mdt_across_daylight_saving():
    before, _ = meetings.parse_start("2026-10-31", "10:00", tz=NY)  # EDT, UTC-4
    after, day = meetings.parse_start("2026-11-02", "10:00", tz=NY)  # EST, UTC-5
    assert before == datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    assert after == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert day == date(2026, 11, 2)


def test_days_left_counts_calendar_days_over_a_leap_day():
    assert convening.days_left(date(2028, 3, 1), date(2028, 2, 28)) == 2


# ---------------------------------------------------------------- the dashboard figures


def test_awaiting_first_mdt_sorted_by_days_left_with_warnings(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    overdue = open_case(db, agency, intake=TODAY - timedelta(days=17))
    due_today = open_case(db, agency, intake=TODAY - timedelta(days=14))
    later = open_case(db, agency, intake=TODAY - timedelta(days=2))
    soon = open_case(db, agency, intake=TODAY - timedelta(days=12))
    # due_today goes on a meeting two days after its deadline
    meetings.schedule_meeting(
        db,
        agency,
        day=(TODAY + timedelta(days=2)).isoformat(),
        clock="09:00",
        place="Room 2",
        case_ids=[due_today.public_id],
        actor=coordinator,
        at=AT,
        tz=NY,
    )
    other = make.agency(db, keys)
    open_case(db, other, intake=TODAY - timedelta(days=30))  # not this MDT's

    rows = convening.awaiting_first_mdt(db, agency, today=TODAY)
    assert [r.reference for r in rows] == [
        overdue.reference,
        due_today.reference,
        soon.reference,
        later.reference,
    ]
    assert rows[0].overdue and rows[0].days_left == -3
    assert rows[1].due_today and rows[1].scheduled_late
    counts = convening.clock_counts(db, agency, today=TODAY)
    assert (counts.awaiting, counts.overdue, counts.due_today, counts.due_soon) == (4, 1, 1, 1)
    assert counts.scheduled_late == 1


def test_compliance_rate_from_known_fixtures(db, keys):
    agency = make.agency(db, keys)
    fixtures = [
        # (days before today, source, first MDT days after intake or None)
        (40, "hotline", 10),  # in time
        (40, "hotline", 20),  # late
        (50, "school", None),  # overdue: decided, not in time
        (5, "school", None),  # still inside its window: not counted
        (100, "school", 14),  # in time, on the deadline day, only in the 365-day window
        (400, "hotline", 3),  # outside every window
        (20, "school", 12),  # in time, in every window
    ]
    for days_ago, source, convened in fixtures:
        case = open_case(db, agency, intake=TODAY - timedelta(days=days_ago), source=source)
        if convened is not None:
            convening.set_first_mdt(db, case, case.intake_date + timedelta(days=convened))
    other = make.agency(db, keys)
    open_case(db, other, intake=TODAY - timedelta(days=40))  # another MDT's case
    db.flush()

    table = convening.compliance(db, agency, today=TODAY)
    overall = {days: (r.convened_in_time, r.decided) for days, r in table.overall.items()}
    assert overall == {30: (1, 1), 90: (2, 4), 365: (3, 5)}
    assert table.overall[90].percent == 50 and table.overall[365].percent == 60
    by_source = {
        source: {d: (r.convened_in_time, r.decided) for d, r in rates.items()}
        for source, rates in table.by_source
    }
    assert by_source["hotline"] == {30: (0, 0), 90: (1, 2), 365: (1, 2)}
    assert by_source["school"] == {30: (1, 1), 90: (1, 2), 365: (2, 3)}
    assert table.by_source and table.overall[30].percent == 100
    for days in (30, 90, 365):
        assert overall[days] == direct_rate(db, agency, days)


def direct_rate(db, agency, days):
    """The rate straight from the cases, to check the tally against."""
    since = TODAY - timedelta(days=days)
    rows = db.exec(
        select(MdtCase).where(
            MdtCase.coordinating_agency_id == agency.id,
            MdtCase.intake_date >= since,
            MdtCase.intake_date <= TODAY,
        )
    ).all()
    # Closed before a first MDT by the deadline: nothing was missed, so not counted.
    counted = [
        c
        for c in rows
        if c.first_mdt_date is not None or c.closed_on is None or c.closed_on > c.convening_due
    ]
    decided = [c for c in counted if c.first_mdt_date is not None or c.convening_due < TODAY]
    good = [c for c in decided if c.first_mdt_date and c.first_mdt_date <= c.convening_due]
    return len(good), len(decided)


def closed(db, case, *, on):
    casework.close_case(db, case, reason="Moved away", actor=None, at=AT, today=on)
    db.flush()


def rate(db, agency, days=30, *, today=TODAY):
    r = convening.compliance(db, agency, today=today).overall[days]
    return r.convened_in_time, r.decided, r.closed_before_mdt


def test_a_case_closed_before_its_first_mdt_inside_its_window_is_not_counted(db, keys):
    # Before: a case closed days after intake (the survivor moved away) counted as late
    # once its deadline passed, and the team's figure fell for a meeting nobody missed.
    agency = make.agency(db, keys)
    in_time = open_case(db, agency, intake=TODAY - timedelta(days=25))
    convening.set_first_mdt(db, in_time, in_time.intake_date + timedelta(days=6))
    moved_away = open_case(db, agency, intake=TODAY - timedelta(days=25))
    closed(db, moved_away, on=moved_away.intake_date + timedelta(days=3))
    on_the_deadline = open_case(db, agency, intake=TODAY - timedelta(days=20))
    closed(db, on_the_deadline, on=on_the_deadline.convening_due)
    declined = open_case(db, agency, intake=TODAY - timedelta(days=4))  # still inside its window
    closed(db, declined, on=TODAY)
    assert rate(db, agency) == (1, 1, 3)
    assert convening.compliance(db, agency, today=TODAY).overall[30].percent == 100
    assert rate(db, agency)[:2] == direct_rate(db, agency, 30)
    # And once the declined case's deadline has passed it is still not counted.
    later = TODAY + timedelta(days=20)
    assert rate(db, agency, 90, today=later) == (1, 1, 3)
    # The page says it once for windows alike: here only the declined case is that recent.
    assert convening.compliance(db, agency, today=TODAY).left_out == [(3, [30, 90, 365])]
    assert convening.compliance(db, agency, today=later).left_out == [(1, [30]), (3, [90, 365])]


def test_a_case_closed_without_a_meeting_after_its_deadline_counts_as_late(db, keys):
    agency = make.agency(db, keys)
    missed = open_case(db, agency, intake=TODAY - timedelta(days=25))
    closed(db, missed, on=missed.convening_due + timedelta(days=1))
    assert rate(db, agency) == (0, 1, 0)
    assert rate(db, agency)[:2] == direct_rate(db, agency, 30)


def test_a_reopened_case_counts_again_as_its_dates_say(db, keys):
    agency = make.agency(db, keys)
    passed = open_case(db, agency, intake=TODAY - timedelta(days=25))  # due eleven days ago
    still_open = open_case(db, agency, intake=TODAY - timedelta(days=4))  # due in ten days
    closed(db, passed, on=passed.intake_date + timedelta(days=2))
    closed(db, still_open, on=TODAY)
    assert rate(db, agency) == (0, 0, 2)
    for case in (passed, still_open):
        casework.reopen_case(db, case, reason="Came back", actor=None, at=AT)
    db.flush()
    assert passed.closed_on is None
    # The window that passed while it was closed was missed: late. The other is pending.
    assert rate(db, agency) == (0, 1, 0)
    assert convening.count_awaiting(db, agency) == 2
    # Convened inside its window after all: in time.
    convening.set_first_mdt(db, still_open, TODAY + timedelta(days=2))
    assert rate(db, agency, today=TODAY + timedelta(days=2)) == (1, 2, 0)
    assert rate(db, agency)[:2] == direct_rate(db, agency, 30)


def test_a_case_left_out_then_reviewed_counts_by_its_meeting(db, keys):
    # Put on an agenda, closed before the meeting was marked reviewed: the review gives it
    # a first MDT date, and that decides how it counts.
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = open_case(db, agency, intake=TODAY - timedelta(days=6))
    meeting = held_meeting(db, agency, coordinator, [case], day=TODAY - timedelta(days=1))
    closed(db, case, on=TODAY)
    assert rate(db, agency) == (0, 0, 1)
    meetings.mark_reviewed(
        db, meeting, meetings.agenda(db, meeting, agency)[0].item, actor=coordinator, at=AT
    )
    db.flush()
    assert rate(db, agency) == (1, 1, 0)


def test_tally_follows_a_first_mdt_moved_earlier(db, keys):
    agency = make.agency(db, keys)
    case = open_case(db, agency, intake=TODAY - timedelta(days=30))
    convening.set_first_mdt(db, case, case.intake_date + timedelta(days=20))  # late
    assert convening.compliance(db, agency, today=TODAY).overall[90].convened_in_time == 0
    convening.set_first_mdt(db, case, case.intake_date + timedelta(days=9))  # earlier meeting
    table = convening.compliance(db, agency, today=TODAY)
    for days in (30, 90, 365):
        rate = table.overall[days]
        assert (rate.convened_in_time, rate.decided) == direct_rate(db, agency, days)
    assert table.overall[90].percent == 100


def test_marking_reviewed_stamps_first_mdt_date_once(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = open_case(db, agency, intake=TODAY - timedelta(days=10))
    first = held_meeting(db, agency, coordinator, [case], day=TODAY)
    item = meetings.agenda(db, first, agency)[0].item
    meetings.mark_reviewed(db, first, item, actor=coordinator, at=AT)
    assert case.first_mdt_date == TODAY and case.last_review_date == TODAY
    casework.set_cadence(db, case, "30", actor=coordinator, at=AT, today=TODAY)
    assert case.next_review_date == TODAY + timedelta(days=30)
    assert convening.compliance(db, agency, today=TODAY).overall[30].convened_in_time == 1
    later_day = TODAY + timedelta(days=7)
    second = held_meeting(db, agency, coordinator, [case], day=later_day)
    meetings.mark_reviewed(
        db, second, meetings.agenda(db, second, agency)[0].item, actor=coordinator, at=AT
    )
    assert case.first_mdt_date == TODAY  # unchanged
    assert case.last_review_date == later_day
    assert case.next_review_date == later_day + timedelta(days=30)
    assert convening.due_for_review(db, agency, today=later_day + timedelta(days=25))


def test_cases_without_review_in_n_days(db, keys):
    agency = make.agency(db, keys)
    stale = open_case(db, agency, intake=TODAY - timedelta(days=50))
    fresh = open_case(db, agency, intake=TODAY - timedelta(days=50))
    fresh.last_review_date = TODAY - timedelta(days=3)
    db.add(fresh)
    db.flush()
    count, rows = convening.without_review(db, agency, today=TODAY, days=30)
    assert count == 1 and rows[0].reference == stale.reference


def test_clock_counts_only_open_cases_without_a_first_mdt(db, keys):
    """The counts read the partial index ix_mdt_case_unconvened: closed and convened
    cases stay out, whatever their deadline."""
    agency = make.agency(db, keys)
    overdue = open_case(db, agency, intake=TODAY - timedelta(days=20))
    open_case(db, agency, intake=TODAY - timedelta(days=16))  # due two days ago: overdue
    open_case(db, agency, intake=TODAY - timedelta(days=13))  # due tomorrow: soon
    closed = open_case(db, agency, intake=TODAY - timedelta(days=30))
    casework.close_case(db, closed, reason="Moved away", actor=None, at=AT, today=TODAY)
    convened = open_case(db, agency, intake=TODAY - timedelta(days=25))
    convening.set_first_mdt(db, convened, convened.intake_date + timedelta(days=5))
    db.flush()
    counts = convening.clock_counts(db, agency, today=TODAY)
    assert (counts.awaiting, counts.overdue, counts.due_today, counts.due_soon) == (3, 2, 0, 1)
    rows = convening.awaiting_first_mdt(db, agency, today=TODAY, limit=2)
    assert len(rows) == 2 and rows[0].reference == overdue.reference


def test_compliance_windows_in_any_order_give_the_same_rates(db, keys):
    agency = make.agency(db, keys)
    for days_ago, convened in [(10, 5), (40, 20), (200, 3), (60, None), (3, None)]:
        case = open_case(db, agency, intake=TODAY - timedelta(days=days_ago))
        if convened is not None:
            convening.set_first_mdt(db, case, case.intake_date + timedelta(days=convened))
    pending = open_case(db, agency, intake=TODAY - timedelta(days=2))  # closed, still waiting
    casework.close_case(db, pending, reason="Duplicate", actor=None, at=AT, today=TODAY)
    db.flush()
    table = convening.compliance(db, agency, today=TODAY, windows=(365, 30, 90))
    assert table.windows == (365, 30, 90)
    for days in (30, 90, 365):
        rate = table.overall[days]
        assert (rate.convened_in_time, rate.decided) == direct_rate(db, agency, days)
    assert direct_rate(db, agency, 30) == (1, 1) and direct_rate(db, agency, 365) == (2, 4)


def test_without_review_lists_never_reviewed_oldest_first_then_reviewed_long_ago(db, keys):
    agency = make.agency(db, keys)
    newer = open_case(db, agency, intake=TODAY - timedelta(days=40))
    older = open_case(db, agency, intake=TODAY - timedelta(days=70))
    reviewed = open_case(db, agency, intake=TODAY - timedelta(days=100))
    reviewed.last_review_date = TODAY - timedelta(days=45)
    db.add(reviewed)
    closed = open_case(db, agency, intake=TODAY - timedelta(days=90))
    casework.close_case(db, closed, reason="Services complete", actor=None, at=AT, today=TODAY)
    db.flush()
    count, rows = convening.without_review(db, agency, today=TODAY, days=30)
    assert count == 3
    assert [r.reference for r in rows] == [older.reference, newer.reference, reviewed.reference]


def test_close_and_reopen_keep_history_with_reasons(db, keys):
    agency = make.agency(db, keys)
    case = open_case(db, agency, intake=TODAY)
    with pytest.raises(Invalid):
        casework.close_case(db, case, reason="  ", actor=None, at=AT, today=TODAY)
    casework.close_case(db, case, reason="Services complete", actor=None, at=AT, today=TODAY)
    casework.reopen_case(db, case, reason="New disclosure", actor=None, at=AT)
    kinds = [(h.kind, h.reason) for h in case_history.history(db, case)]
    assert kinds == [
        ("opened", None),
        ("closed", "Services complete"),
        ("reopened", "New disclosure"),
    ]


# ---------------------------------------------------------------- bad input changes nothing


def test_a_meeting_in_the_past_is_refused(db, keys):
    agency = make.agency(db, keys)
    before = db.exec(select(func.count()).select_from(Meeting)).one()
    with pytest.raises(Invalid) as error:
        meetings.schedule_meeting(
            db,
            agency,
            day="2026-11-01",
            clock="10:00",
            place="Room",
            actor=None,
            at=AT,
            tz=NY,
        )
    assert "past" in error.value.errors["date"]
    assert db.exec(select(func.count()).select_from(Meeting)).one() == before


def test_a_task_due_before_it_was_created_is_refused(db, keys):
    agency = make.agency(db, keys)
    case = open_case(db, agency, intake=TODAY)
    with pytest.raises(Invalid) as error:
        tasks.create_task(
            db,
            case,
            title="Call back",
            assignee=f"agency:{agency.public_id}",
            due_date=(TODAY - timedelta(days=1)).isoformat(),
            offered=None,
            actor=None,
            at=AT,
            today=TODAY,
        )
    assert "before" in error.value.errors["due_date"]
    assert db.exec(select(func.count()).select_from(Task).where(Task.case_id == case.id)).one() == 0


def test_an_agenda_case_from_another_mdt_is_refused(db, keys):
    agency, other = make.agency(db, keys), make.agency(db, keys)
    theirs = open_case(db, other, intake=TODAY)
    count = db.exec(select(func.count()).select_from(Meeting)).one()
    with pytest.raises(Invalid) as error:
        meetings.schedule_meeting(
            db,
            agency,
            day="2026-11-05",
            clock="10:00",
            place="Room",
            case_ids=[theirs.public_id],
            actor=None,
            at=AT,
            tz=NY,
        )
    assert "your MDT" in error.value.errors["case_ids"]
    db.rollback()  # the guard rolls the request back; nothing of it remains
    assert db.exec(select(func.count()).select_from(Meeting)).one() == count


def test_a_client_cannot_be_linked_to_two_open_cases(db, keys):
    coordinating, partner = make.agency(db, keys), make.agency(db, keys)
    client = make.client_record(db, partner, keys)
    joining_release(db, keys, partner, client, coordinating)
    first = open_case(db, coordinating, intake=TODAY, partners=[partner])
    second = open_case(db, coordinating, intake=TODAY, partners=[partner])
    casework.confirm_link(
        db, first, partner, client_reference=client.reference, actor=None, at=AT, keys=keys
    )
    with pytest.raises(Conflict) as error:
        casework.confirm_link(
            db,
            second,
            partner,
            client_reference=client.reference,
            actor=None,
            at=AT,
            keys=keys,
        )
    assert first.reference in error.value.errors["client_reference"]
    assert casework.own_link(db, second, partner).client_id is None
    # once the first case is closed the client can join another
    casework.close_case(db, first, reason="done", actor=None, at=AT, today=TODAY)
    casework.confirm_link(
        db, second, partner, client_reference=client.reference, actor=None, at=AT, keys=keys
    )
    with pytest.raises(Conflict):
        casework.reopen_case(db, first, reason="again", actor=None, at=AT)


def test_a_client_joins_a_case_only_under_a_release_naming_the_coordinator(db, keys):
    """Issue 14, participation under consent: without a release in effect that names the
    coordinating agency for MDT case review, the link is refused and nothing is written."""
    coordinating, partner, other = (make.agency(db, keys) for _ in range(3))
    client = make.client_record(db, partner, keys)
    case = open_case(db, coordinating, intake=TODAY, partners=[partner])
    joining_release(db, keys, partner, client, other)  # names someone else
    with pytest.raises(Invalid) as error:
        casework.confirm_link(
            db,
            case,
            partner,
            client_reference=client.reference,
            actor=None,
            at=AT,
            keys=keys,
        )
    assert coordinating.name in error.value.errors["client_reference"]
    assert casework.own_link(db, case, partner).confirmed_at is None
    row = joining_release(db, keys, partner, client, coordinating)
    link = casework.confirm_link(
        db,
        case,
        partner,
        client_reference=client.reference,
        actor=None,
        at=AT,
        keys=keys,
    )
    assert link.confirmed_at is not None
    confirmed = db.exec(select(AuditEntry).where(AuditEntry.tag == "mdt:case:link_confirmed")).one()
    assert row.public_id in confirmed.detail


# ---------------------------------------------------------------- tasks


def test_tasks_are_seen_only_by_agencies_taking_part(db, keys):
    coordinating, partner, outsider = (make.agency(db, keys) for _ in range(3))
    worker = make.user(db, partner, Role.CASE_MANAGER)
    stranger = make.user(db, outsider, Role.CASE_MANAGER)
    case = open_case(db, coordinating, intake=TODAY, partners=[partner])
    task = tasks.create_task(
        db,
        case,
        title="Arrange interpreter",
        assignee=f"user:{worker.public_id}",
        due_date="2026-11-10",
        offered=None,
        actor=None,
        at=AT,
        today=TODAY,
    )
    assert tasks.access_task(db, partner, task.public_id)[0] is task
    with pytest.raises(NotFound):
        tasks.access_task(db, outsider, task.public_id)
    with pytest.raises(NotFound):
        cases.access_case(db, outsider, case.public_id)
    assert [r.public_id for r in tasks.task_list(db, worker, partner, tasks.TaskFilter())] == [
        task.public_id
    ]
    assert tasks.task_list(db, stranger, outsider, tasks.TaskFilter(scope="agency")) == []
    with pytest.raises(Invalid):  # nor can a task be given to them
        tasks.create_task(
            db,
            case,
            title="x",
            assignee=f"user:{stranger.public_id}",
            due_date="2026-11-10",
            offered=None,
            actor=None,
            at=AT,
            today=TODAY,
        )


def test_task_lists_put_overdue_first_and_filter(db, keys):
    agency = make.agency(db, keys)
    me = make.user(db, agency, Role.ADVOCATE)
    case = open_case(db, agency, intake=TODAY)
    made = {}
    for title, due in (("later", "2026-11-20"), ("soon", "2026-11-04"), ("now", "2026-11-02")):
        made[title] = tasks.create_task(
            db,
            case,
            title=title,
            assignee=f"user:{me.public_id}",
            due_date=due,
            offered=None,
            actor=None,
            at=AT,
            today=TODAY,
        )
    tomorrow = TODAY + timedelta(days=5)  # "now" and "soon" are overdue by then
    # The list holds no text of the tasks (their owner's disclosure point gives it): they
    # are told apart here by id.
    named = {task.public_id: title for title, task in made.items()}
    rows = tasks.task_list(db, me, agency, tasks.TaskFilter())
    assert [named[r.public_id] for r in rows] == ["now", "soon", "later"]
    assert all(r.title is None for r in rows)
    assert tomorrow > rows[0].due_date
    tasks.change_status(db, made["now"], "done", actor=me, at=AT)
    assert [named[r.public_id] for r in tasks.task_list(db, me, agency, tasks.TaskFilter())] == [
        "soon",
        "later",
    ]
    done = tasks.task_list(db, me, agency, tasks.TaskFilter(status="done"))
    assert [named[r.public_id] for r in done] == ["now"]
    ranged = tasks.task_list(
        db, me, agency, tasks.TaskFilter(due_from=date(2026, 11, 3), due_to=date(2026, 11, 10))
    )
    assert [named[r.public_id] for r in ranged] == ["soon"]
    by_case = tasks.task_list(db, me, agency, tasks.TaskFilter(case_reference="MDT-1999-0001"))
    assert by_case == []


def test_every_status_change_is_kept_with_who_and_when(db, keys):
    agency = make.agency(db, keys)
    me = make.user(db, agency, Role.ADVOCATE)
    case = open_case(db, agency, intake=TODAY)
    task = tasks.create_task(
        db,
        case,
        title="t",
        assignee=f"agency:{agency.public_id}",
        due_date="2026-11-09",
        offered=None,
        actor=me,
        at=AT,
        today=TODAY,
    )
    with pytest.raises(Invalid) as error:
        tasks.change_status(db, task, TaskStatus.BLOCKED, reason="", actor=me, at=AT)
    assert "blocked" in error.value.errors["reason"]
    tasks.change_status(db, task, TaskStatus.IN_PROGRESS, actor=me, at=AT)
    tasks.change_status(db, task, TaskStatus.BLOCKED, reason="Waiting on court", actor=me, at=AT)
    tasks.add_comment(db, task, "Called the clerk", actor=me, at=AT)
    db.flush()
    kept = db.exec(select(TaskChange).where(TaskChange.task_id == task.id).order_by(TaskChange.id))
    fields = [(c.field, c.old_value, c.new_value, c.actor_id) for c in kept]
    assert fields == [
        ("created", None, "t", me.id),
        ("status", "open", "in_progress", me.id),
        ("status", "in_progress", "blocked", me.id),
        ("blocked_reason", None, "Waiting on court", me.id),
    ]
    assert task.blocked_reason == "Waiting on court"
    assert (
        db.exec(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.subject == task.public_id)
        ).one()
        == 4
    )
    assert db.exec(select(func.count()).select_from(TaskChange)).one() >= 4


# ---------------------------------------------------------------- calendars


def _meeting_and_task(db, agency, coordinator, case, *, title: str):
    """A meeting on 5 November with the case on its agenda, and the coordinator's task on
    it due on the 9th: what a coordinator's feed carries."""
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day="2026-11-05",
        clock="10:00",
        place="Room 3",
        case_ids=[case.public_id],
        actor=coordinator,
        at=AT,
        tz=NY,
    )
    task = tasks.create_task(
        db,
        case,
        title=title,
        assignee=f"user:{coordinator.public_id}",
        due_date="2026-11-09",
        offered=None,
        actor=coordinator,
        at=AT,
        today=TODAY,
    )
    return meeting, task


def test_feed_parses_has_stable_uids_and_no_client_names(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    client = make.client_record(db, agency, keys, given="Zephyrine", family="Uniquename")
    case = open_case(db, agency, intake=TODAY)
    cases_link = casework.own_link(db, case, agency)
    assert cases_link is None  # the coordinating agency needs no link of its own
    meeting, task = _meeting_and_task(
        db, agency, coordinator, case, title=f"Visit {client.reference} Zephyrine"
    )
    token = calendar.issue_feed(db, coordinator, at=AT)
    db.flush()
    assert calendar.user_for_token(db, token) is coordinator

    first = calendar.feed_ics(db, coordinator, at=AT)
    second = calendar.feed_ics(db, coordinator, at=AT + timedelta(hours=1))
    parsed = icalendar.Calendar.from_ical(first)
    events = {str(e["UID"]): e for e in parsed.walk("VEVENT")}
    assert set(events) == {calendar.meeting_uid(meeting), calendar.task_uid(task)}
    assert {str(e["UID"]) for e in icalendar.Calendar.from_ical(second).walk("VEVENT")} == set(
        events
    )
    meeting_event = events[calendar.meeting_uid(meeting)]
    assert meeting_event.decoded("DTSTART") == datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
    assert case.reference in str(meeting_event["DESCRIPTION"])
    assert events[calendar.task_uid(task)].decoded("DTSTART") == date(2026, 11, 9)
    assert b"Zephyrine" not in first and b"Uniquename" not in first

    meetings.reschedule_meeting(
        db,
        meeting,
        day="2026-11-06",
        clock="11:00",
        reason="room",
        actor=coordinator,
        at=AT,
        tz=NY,
    )
    moved = icalendar.Calendar.from_ical(
        calendar.meeting_ics(db, meeting, agency_id=agency.id, at=AT)
    )
    event = next(iter(moved.walk("VEVENT")))
    assert str(event["UID"]) == calendar.meeting_uid(meeting) and int(event["SEQUENCE"]) == 1

    calendar.revoke_feed(db, coordinator, at=AT)
    db.flush()
    with pytest.raises(NotFound):
        calendar.user_for_token(db, token)
    assert calendar.user_for_token(db, calendar.issue_feed(db, coordinator, at=AT))


def test_a_feed_carries_each_kind_only_while_its_owner_may_read_it(db, keys, monkeypatch):
    """Meetings under MEETING_READ, tasks under TASK_READ, read from the owner's roles
    when the feed is served. Every role holds both today but the administrator, so the
    table is narrowed here to take one from a coordinator while leaving the other."""
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = open_case(db, agency, intake=TODAY)
    meeting, task = _meeting_and_task(db, agency, coordinator, case, title="Synthetic task")
    token = calendar.issue_feed(db, coordinator, at=AT)
    db.flush()

    def uids() -> set[str]:
        feed = icalendar.Calendar.from_ical(calendar.feed_ics(db, coordinator, at=AT))
        return {str(e["UID"]) for e in feed.walk("VEVENT")}

    assert uids() == {calendar.meeting_uid(meeting), calendar.task_uid(task)}
    without = ROLE_PERMISSIONS[Permission.MEETING_READ] - {Role.MDT_COORDINATOR}
    monkeypatch.setitem(ROLE_PERMISSIONS, Permission.MEETING_READ, without)
    assert uids() == {calendar.task_uid(task)}
    assert calendar.user_for_token(db, token) is coordinator  # tasks still: the feed serves
    without = ROLE_PERMISSIONS[Permission.TASK_READ] - {Role.MDT_COORDINATOR}
    monkeypatch.setitem(ROLE_PERMISSIONS, Permission.TASK_READ, without)
    assert uids() == set()
    with pytest.raises(NotFound):
        calendar.user_for_token(db, token)
    with pytest.raises(Forbidden):
        calendar.issue_feed(db, coordinator, at=AT)
    assert calendar.active_feed(db, coordinator) is not None  # a refusal revokes nothing


def test_meeting_visibility_follows_invitation(db, keys):
    agency, partner, outsider = (make.agency(db, keys) for _ in range(3))
    case = open_case(db, agency, intake=TODAY, partners=[partner])
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day="2026-11-05",
        clock="10:00",
        place="Room",
        case_ids=[case.public_id],
        actor=None,
        at=AT,
        tz=NY,
    )
    assert meetings.access_meeting(db, partner, meeting.public_id) is meeting
    with pytest.raises(NotFound):
        meetings.access_meeting(db, outsider, meeting.public_id)
    with pytest.raises(NotFound):
        meetings.access_managed_meeting(db, partner, meeting.public_id)
    assert meeting.status == MeetingStatus.SCHEDULED


def test_recommendation_types_are_an_editable_list(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = open_case(db, agency, intake=TODAY)
    meeting = held_meeting(db, agency, coordinator, [case])
    item = meetings.agenda(db, meeting, agency)[0].item
    added = meetings.add_recommendation_type(
        db, agency, "Housing navigation", actor=coordinator, at=AT
    )
    with pytest.raises(Conflict):
        meetings.add_recommendation_type(db, agency, "Housing navigation", actor=None, at=AT)
    decision = meetings.record_decision(
        db, meeting, item, recommendation="Housing navigation", text="", actor=None, at=AT
    )
    assert decision.recommendation == "Housing navigation"
    meetings.set_recommendation_active(db, agency, added.id, False, actor=None, at=AT)
    with pytest.raises(Invalid):
        meetings.record_decision(
            db, meeting, item, recommendation="Housing navigation", text="", actor=None, at=AT
        )


def test_case_count_can_stop_at_a_cap(db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    for _ in range(3):
        open_case(db, agency, intake=TODAY, partners=[partner])
    open_case(db, partner, intake=TODAY)
    assert cases.count_cases_for_agency(db, agency) == 3
    assert cases.count_cases_for_agency(db, agency, cap=2) == 2
    assert cases.count_cases_for_agency(db, partner) == 4
    assert cases.count_cases_for_agency(db, partner, cap=2) == 2
    assert [r.reference for r in cases.cases_for_agency(db, partner, window_days=14, limit=2)]


def test_a_meeting_entered_as_it_begins_is_not_in_the_past(db, keys):
    agency = make.agency(db, keys)
    local = AT.astimezone(NY)
    for minutes_ago, allowed in ((5, True), (11, False)):
        start = local - timedelta(minutes=minutes_ago)
        call = lambda start=start: meetings.schedule_meeting(  # noqa: E731
            db,
            agency,
            day=start.date().isoformat(),
            clock=start.strftime("%H:%M"),
            place="Room",
            actor=None,
            at=AT,
            tz=NY,
        )
        if allowed:
            call()
        else:
            with pytest.raises(Invalid):
                call()


def test_editing_a_due_date_reads_the_creation_day_in_the_mdt_zone(db, keys):
    agency = make.agency(db, keys)
    case = make.mdt_case(db, agency, intake=date(2026, 10, 30))
    evening = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 21:00 on 2 November in New York
    task = tasks.create_task(
        db,
        case,
        title="Call back",
        assignee=f"agency:{agency.public_id}",
        due_date="2026-11-04",
        offered=None,
        actor=None,
        at=evening,
        today=date(2026, 11, 2),
    )
    edit = dict(
        assignee=f"agency:{agency.public_id}",
        due_date="2026-11-02",
        priority="normal",
        offered=None,
        actor=None,
        at=evening,
    )
    with pytest.raises(Invalid):
        tasks.update_task(db, task, case, **edit)  # read in UTC, 2 November is before
    tasks.update_task(db, task, case, **edit, tz=NY)  # the day it was created, locally
    assert task.due_date == date(2026, 11, 2)
