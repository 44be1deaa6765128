"""Pages as a review in Chromium found them (every demo role, 360 and 1280 px): each test
is named after what should happen and failed on the code the review read. Synthetic data
only."""

from __future__ import annotations

from test_workflow_pages import sign_in

from portal.models import Role

import factories as make


def test_the_meeting_form_names_the_mdt_time_zone_in_words(client, db, keys):
    # Before: "In the MDT's time zone (America/New_York)." under the date, the zone's code,
    # where every page's footer says "America/New York (EST)".
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get("/meetings/new").text
    assert "America/New_York" not in page
    assert "In the MDT&#39;s time zone (America/New York, EST)." in page
