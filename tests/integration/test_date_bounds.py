"""Dates people type are held to a window the domain can use (refused with the field named),
a release's term to the node's limit; dates stored before either rule are still shown."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from portal.errors import Invalid
from portal.models import AgencyKind, Role
from portal.models.workflow import Task
from portal.services import calendar, releases, tasks
from portal.web import release_forms

import factories as make

TZ = ZoneInfo("America/New_York")


def _coordinator(client, db, keys):
    agency = make.agency(db, keys)
    user = make.user(db, agency, Role.MDT_COORDINATOR, Role.AGENCY_LEAD, username="coord")
    case = make.mdt_case(db, agency)
    make.login(client, "coord")
    return user, case


def test_a_task_due_in_year_9999_is_refused_naming_the_field(client, db, keys):
    user, case = _coordinator(client, db, keys)
    token = make.csrf_of_page(client, f"/cases/{case.public_id}")
    response = client.post(
        f"/cases/{case.public_id}/tasks",
        data={
            "csrf_token": token,
            "title": "Book the interpreter",
            "assignee": f"user:{user.public_id}",
            "due_date": "9999-12-31",
            "priority": "normal",
        },
    )
    assert response.status_code == 400
    assert "Due date must be between 2016-11-02 and 2036-11-02" in response.text


def test_a_task_stored_due_in_9999_still_shows_and_the_feed_still_serves(client, db, keys):
    user, case = _coordinator(client, db, keys)
    task = tasks.create_task(
        db,
        case,
        title="Follow up (synthetic)",
        assignee=f"user:{user.public_id}",
        due_date="2026-12-01",
        offered=None,
        actor=user,
        at=make.AT,
        today=make.AT.date(),
    )
    db.flush()
    db.get(Task, task.id).due_date = date(9999, 12, 31)  # as accepted before the window
    token = calendar.issue_feed(db, user, at=make.AT)
    db.flush()
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200 and "DTSTART;VALUE=DATE:99991231" in feed.text
    assert client.get(f"/tasks/{task.public_id}").status_code == 200
    assert client.get("/tasks").status_code == 200
    assert client.get(f"/cases/{case.public_id}").status_code == 200


def test_audit_search_past_the_window_is_a_400_naming_the_field_not_a_500(client, db, keys):
    _coordinator(client, db, keys)
    page = client.get("/audit", params={"date_to": "9999-12-31"})
    assert page.status_code == 400 and "To must be between" in page.text
    export = client.get("/audit/export.csv", params={"date_to": "9999-12-31"})
    assert export.status_code == 400


def test_a_release_longer_than_the_term_limit_is_refused_naming_the_end_date(db, keys):
    owner = make.agency(db, keys)
    partner = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    client_row = make.client_record(db, owner, keys)
    witness = make.user(db, owner, Role.ADVOCATE)
    form = {
        "recipients": [partner.public_id],
        "sections": ["safety_plan"],
        "purpose": "referral",
        "effective_date": "2026-11-02",
        "expiry_kind": "date",
        "end_date": "2027-11-03",  # a year and a day
        "language": "en",
    }
    rules = releases.MinorSigning(tz=TZ)
    draft = dict(db=db, client=client_row, tz=TZ, keys=keys, rules=rules, actor=witness, at=make.AT)
    with pytest.raises(Invalid) as refused:
        release_forms.draft_from_form(form=form, max_term_days=365, **draft)
    assert "at most 365 days" in refused.value.errors["end_date"]
    with pytest.raises(Invalid) as far:
        release_forms.draft_from_form(form={**form, "end_date": "9999-12-31"}, **draft)
    assert "End date must be between" in far.value.errors["end_date"]
    assert release_forms.draft_from_form(form={**form, "end_date": "2027-11-02"}, **draft)
