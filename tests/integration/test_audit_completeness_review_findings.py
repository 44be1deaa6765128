"""Audit completeness, as a review found it: every read of survivor content is in the owning
agency's log with the facts a lead searches by (which case, which section), so that "who
saw what of ours" finds it. Each test is named after a defect the review found and failed
before it was fixed. Synthetic, obviously fictional data only."""

from __future__ import annotations

from sqlmodel import select
from starlette.testclient import TestClient
from test_meetings_review_findings import MINUTES, _coordinator_with_minutes
from test_workflow_pages import sign_in

from portal.models import AuditEntry, Role

import factories as make


def _lead(client, db, agency, username: str) -> TestClient:
    """A browser of its own, signed in as a lead of `agency`."""
    lead = make.user(db, agency, Role.AGENCY_LEAD, username=username)
    browser = TestClient(client.app, follow_redirects=False)
    browser.__enter__()
    make.login(browser, lead.username)
    return browser


def _results(html: str) -> str:
    """The rows of the log page's results table."""
    return html.split("<tbody>")[1].split("</tbody>")[0]


# 1. Reads of minutes are logged without their case ----------------------------------------


def test_the_coordinators_own_read_of_minutes_is_not_found_by_a_search_of_the_log_for_the_case(
    client, db, keys
):
    """A coordinator's staff member opens the meeting page and reads the minutes of a case.
    The read is in the coordinating agency's log (`meetings.read_minutes`), but written with
    no case (`own.record_reads` wrote case_ref None; the case went only into the subject):
    the lead's log shows the read with an empty Case column, and a search of the log for
    the case, which is how a lead answers "who read the minutes of MDT-...", leaves it out."""
    agency, _coordinator, case, meeting, _item = _coordinator_with_minutes(db, keys)
    reader, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200 and MINUTES in page.text
    reads = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.section_key == "mdt_minutes",
            AuditEntry.actor_user_ref == reader.public_id,
        )
    ).all()
    assert reads, "the minutes read left no entry at all"
    assert [e.case_ref for e in reads] == [case.reference], (
        f"the read of {case.reference}'s minutes is logged against case "
        f"{[e.case_ref for e in reads]}"
    )
    lead = _lead(client, db, agency, "synthetic.minutes.lead")
    found = lead.get(f"/audit?case_ref={case.reference}&section=mdt_minutes")
    assert found.status_code == 200
    assert reader.display_name in _results(found.text), (
        f"a search of the log for {case.reference}'s minutes does not show who read them"
    )
