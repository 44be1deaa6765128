"""The case summary's timeline: intake, deadline, first MDT and the case's meetings."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.models import Role
from portal.services import case_summary as summary
from portal.services import meetings

import factories as make

NY = ZoneInfo("America/New_York")


def schedule(db, agency, coordinator, case, day):
    return meetings.schedule_meeting(
        db,
        agency,
        day=day.isoformat(),
        clock="10:00",
        place="Room 1",
        case_ids=[case.public_id],
        actor=coordinator,
        at=datetime(2026, 10, 1, tzinfo=UTC),
        tz=NY,
    )


def test_timeline_shows_meetings_in_order_with_their_state_and_the_first_mdt(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = make.mdt_case(db, agency, intake=date(2026, 10, 20))
    held = schedule(db, agency, coordinator, case, date(2026, 11, 5))
    cancelled = schedule(db, agency, coordinator, case, date(2026, 11, 9))
    schedule(db, agency, coordinator, case, date(2026, 11, 20))  # upcoming
    schedule(db, agency, coordinator, case, date(2026, 11, 12))  # past, not marked held
    meetings.hold_meeting(db, held, actor=coordinator, at=make.AT, today=date(2026, 11, 5))
    (row,) = meetings.agenda(db, held, agency)
    meetings.mark_reviewed(db, held, row.item, actor=coordinator, at=make.AT)
    meetings.cancel_meeting(db, cancelled, reason="Snow", actor=coordinator, at=make.AT)
    db.flush()
    today = date(2026, 11, 15)
    timeline = summary.overview(db, case, window_days=14, today=today).timeline
    assert [(t.on.isoformat(), t.what) for t in timeline] == [
        ("2026-10-20", "Intake (abuse report received)"),
        ("2026-11-03", "MDT convening due (intake + 14 days)"),
        ("2026-11-05", "First MDT review — after the deadline"),
        ("2026-11-05", "MDT meeting (held, case reviewed)"),
        ("2026-11-09", "MDT meeting (cancelled)"),
        ("2026-11-12", "MDT meeting (not marked held)"),
        ("2026-11-20", "MDT meeting (upcoming)"),
    ]
    assert timeline[-1].state == "upcoming"


def test_a_case_without_meetings_shows_no_first_mdt(db, keys):
    agency = make.agency(db, keys)
    case = make.mdt_case(db, agency, intake=date(2026, 10, 20))
    timeline = summary.overview(db, case, window_days=14, today=date(2026, 10, 21)).timeline
    assert [t.what for t in timeline][-1].startswith("MDT convening due")
    assert len(timeline) == 2 and timeline[1].on == date(2026, 10, 20) + timedelta(days=14)
