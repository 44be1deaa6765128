"""Pages as a review in Chromium found them (every demo role, 360 and 1280 px): each test
is named after what should happen and failed on the code the review read. Synthetic data
only."""

from __future__ import annotations

from test_workflow_pages import a_case, sign_in

from portal.models import Role
from portal.services import cases

import factories as make


def test_the_meeting_form_names_the_mdt_time_zone_in_words(client, db, keys):
    # Before: "In the MDT's time zone (America/New_York)." under the date, the zone's code,
    # where every page's footer says "America/New York (EST)".
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get("/meetings/new").text
    assert "America/New_York" not in page
    assert "In the MDT&#39;s time zone (America/New York, EST)." in page


def test_the_task_assignee_list_names_the_coordinating_agency_once(client, db, keys):
    # Before: where the coordinating agency had linked its own client record, the case
    # page's and the task page's "Assignee" listed it, and each of its staff, twice: it
    # took part once as coordinator and once by its link.
    agency = make.agency(db, keys)
    partner = make.agency(db, keys, name="Shelter House (synthetic)")
    case = a_case(db, agency, [partner])
    own = make.client_record(db, agency, keys)
    cases.link_client(db, case, agency, own, actor=None, at=make.AT, confirmed=True)
    user, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get(f"/cases/{case.public_id}").text
    assert page.count(f'value="agency:{agency.public_id}"') == 1
    assert page.count(f'value="user:{user.public_id}"') == 1
    assert page.count(f'value="agency:{partner.public_id}"') == 1
