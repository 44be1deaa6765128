"""Pages as a UX review at 360 and 1280 px left them: what a coordinator or a lead could not
read without opening something else, or read only in an engineer's words. Each test is
named after what should hold and failed before its fix. Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

from page_text import page_text
from test_workflow_pages import NY, TODAY, sign_in

from portal.models import Role
from portal.services import meetings

import factories as make


def test_the_meetings_list_says_when_each_meeting_starts(client, db, keys):
    """/meetings listed each meeting by its date alone ("2026-11-03"): when it starts was
    only on the meeting's own page."""
    agency = make.agency(db, keys)
    coordinator, _ = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    meetings.schedule_meeting(
        db,
        agency,
        day=(TODAY + timedelta(days=1)).isoformat(),
        clock="14:30",
        place="Room 1 (synthetic)",
        actor=coordinator,
        at=make.AT,
        tz=NY,
    )
    db.flush()
    page = client.get("/meetings")
    assert page.status_code == 200
    # The weekday style of every appointment's start (render.TIME_STYLES), in the MDT's zone.
    assert "Tue 03 Nov 2026, 14:30 EST" in page_text(page.text)
