"""Attendance names people on staff when the meeting began: one deactivated before it is
neither offered nor recorded; one deactivated since still attended it."""

from datetime import timedelta

import pytest
from sqlmodel import func, select
from test_workflow import TODAY, held_meeting

from portal.errors import Invalid
from portal.models import Role
from portal.models.workflow import Attendance
from portal.services import cases, meetings, mentor_program, staff

import factories as make


def deactivate(db, agency, lead, person, *, at):
    viewer = mentor_program.Assigner(lead, agency, frozenset({"agency_lead"}))
    staff.deactivate(db, person, viewer=viewer, at=at)
    db.flush()


@pytest.fixture
def team(db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    left_before = make.user(db, agency, Role.ADVOCATE)
    left_since = make.user(db, agency, Role.ADVOCATE)
    case = cases.open_case(
        db,
        agency,
        intake_date=TODAY - timedelta(days=3),
        referral_source="hotline",
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    meeting = held_meeting(db, agency, coordinator, [case], day=TODAY - timedelta(days=1))
    deactivate(db, agency, lead, left_before, at=meeting.starts_at - timedelta(days=1))
    deactivate(db, agency, lead, left_since, at=meeting.starts_at + timedelta(hours=4))
    return dict(meeting=meeting, coordinator=coordinator, before=left_before, since=left_since)


def attended(db, meeting) -> int:
    count = select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting.id)
    return db.exec(count).one()


def test_someone_deactivated_before_the_meeting_is_not_recorded_nor_offered(db, team):
    meeting, before = team["meeting"], team["before"]
    for write in (meetings.update_attendance, meetings.record_attendance):
        kwargs = {"shown": [before.public_id]} if write is meetings.update_attendance else {}
        with pytest.raises(Invalid) as error:
            write(
                db,
                meeting,
                [team["coordinator"].public_id, before.public_id],
                actor=team["coordinator"],
                at=make.AT,
                **kwargs,
            )
        assert before.display_name in error.value.errors["attendees"]
        assert "deactivated before" in error.value.errors["attendees"]
        assert attended(db, meeting) == 0
    offered = {person.id for person, _agency in meetings.invitable_staff(db, meeting)}
    assert before.id not in offered


def test_someone_deactivated_since_the_meeting_is_still_recorded_and_offered(db, team):
    meeting, since = team["meeting"], team["since"]
    offered = {person.id for person, _agency in meetings.invitable_staff(db, meeting)}
    assert {since.id, team["coordinator"].id} <= offered
    meetings.update_attendance(
        db,
        meeting,
        [since.public_id],
        shown=[since.public_id],
        actor=team["coordinator"],
        at=make.AT,
    )
    db.flush()
    assert attended(db, meeting) == 1
