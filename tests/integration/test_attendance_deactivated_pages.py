"""The attendance form through HTTP: someone deactivated before the meeting is not offered,
and a post naming them is refused with the reason, nothing recorded."""

import re
from datetime import timedelta

from sqlmodel import func, select
from test_pages_in_use import _held_meeting
from test_workflow_pages import a_case, sign_in

from portal.models import Role
from portal.models.workflow import Attendance
from portal.services import mentor_program, staff

import factories as make


def test_the_form_offers_and_records_no_one_deactivated_before_the_meeting(client, db, keys):
    agency = make.agency(db, keys)
    coordinator, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    gone = make.user(db, agency, Role.ADVOCATE)
    gone.display_name = "Synthetic Former Advocate"
    meeting = _held_meeting(db, agency, coordinator, a_case(db, agency))
    staff.deactivate(
        db,
        gone,
        viewer=mentor_program.Assigner(lead, agency, frozenset({"agency_lead"})),
        at=meeting.starts_at - timedelta(days=2),
    )
    db.flush()
    url = f"/meetings/{meeting.public_id}"
    page = client.get(url).text
    offered = re.findall(r'name="attendees" value="([^"]+)"', page)
    assert coordinator.public_id in offered and gone.public_id not in offered
    answer = client.post(
        url + "/attendance",
        data={"csrf_token": token, "shown": offered, "attendees": [gone.public_id]},
    )
    assert answer.status_code == 400
    assert "Synthetic Former Advocate was no longer on staff when this meeting began" in (
        answer.text
    )
    count = select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting.id)
    assert db.exec(count).one() == 0
