"""MDT meetings as a review found them (agenda, minutes, attendance, calendars): the minutes
reach the coordinating agency's own staff only as its policy allows their role, audited.

Each test is named after a defect a review found; each failed before it was fixed."""

from __future__ import annotations

import re
from datetime import timedelta

from form_markup import Page
from sqlmodel import select
from test_workflow_pages import NY, TODAY, a_case, sign_in

from portal.models import AgencyKind, AuditEntry, Discipline, Role
from portal.models.workflow import AgendaItem
from portal.services import cases, casework, meetings

import factories as make
from team_helpers import _release

MINUTES = "SYNTHETIC-MINUTES-TEXT"


def scheduled_meeting(db, agency, coordinator, case_ids, *, day=TODAY, at=make.AT):
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day=day.isoformat(),
        clock="10:00",
        place="Room 1",
        case_ids=case_ids,
        actor=coordinator,
        at=at - timedelta(days=1),
        tz=NY,
    )
    db.flush()
    return meeting


def held_meeting(db, agency, coordinator, case_ids, *, day=TODAY, at=make.AT):
    meeting = scheduled_meeting(db, agency, coordinator, case_ids, day=day, at=at)
    meetings.hold_meeting(db, meeting, actor=coordinator, at=at, today=day)
    db.flush()
    return meeting


def _minutes_entries(db, agency):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id, AuditEntry.section_key == "mdt_minutes"
        )
    ).all()


def _form_fields(html: str, action_ends: str) -> dict:
    """The hidden fields of the page's form whose action ends so, as a browser posts them."""
    form = re.search(
        r'<form[^>]*action="[^"]*' + re.escape(action_ends) + r'"[^>]*>(.*?)</form>', html, re.S
    ).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def _coordinator_with_minutes(db, keys):
    """A coordinating agency serving its own client on the case (so its own disclosure
    point can answer for the minutes), a held meeting and minutes on the case."""
    agency = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency)
    person = make.client_record(db, agency, keys)
    cases.link_client(db, case, agency, person, actor=None, at=make.AT, confirmed=True)
    meeting = held_meeting(db, agency, coordinator, [case.public_id])
    item = meetings.agenda(db, meeting, agency)[0].item
    meetings.record_minutes(db, meeting, item, MINUTES, actor=coordinator, at=make.AT)
    db.flush()
    return agency, coordinator, case, meeting, item


# ------------------------------------------------------------------ 1. leaks


def test_meeting_page_shows_minutes_to_own_staff_whose_role_the_policy_withholds_them_from(
    client, db, keys
):
    """The owner's policy applies to its own staff too (DESIGN: need-to-know inside an
    agency). The default policy gives `mdt_minutes` to no agency lead; the disclosure point
    withholds them from the lead on the case summary, but the meeting page reads
    AgendaItem.minutes straight from the table for anyone of the coordinating agency."""
    agency, _coordinator, case, meeting, _item = _coordinator_with_minutes(db, keys)
    sign_in(client, db, agency, Role.AGENCY_LEAD)

    summary = client.get(f"/cases/{case.public_id}/summary")
    assert summary.status_code == 200
    assert MINUTES not in summary.text  # the point: "policy does not release ... agency lead"
    withheld = [e for e in _minutes_entries(db, agency) if e.tag == "disclosure:section:withheld"]
    assert withheld and "agency lead" in withheld[-1].detail

    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200
    assert MINUTES not in page.text, (
        "the meeting page shows the agency lead minutes that the owner's own disclosure "
        "point withholds from that role (need-to-know bypassed)"
    )


def test_minutes_are_released_to_a_partner_on_one_survivors_release_though_they_are_about_every_survivor_on_the_case(  # noqa: E501
    client, db, keys
):
    """Minutes are an MDT record kept per case (the source loads them by case), like
    decisions and tasks, which ask the consent of every survivor on the case
    (scope = "case"). `mdt_minutes` has no scope, so only the coordinator's own client's
    release is asked: a partner reads the minutes of a case whose other survivor (served by
    another agency) never released anything, while the decisions of the very same agenda
    item stay withheld from it for that reason."""
    coord = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    shelter = make.agency(db, keys, discipline=Discipline.SHELTER, name="Shelter S (synthetic)")
    unit = make.agency(
        db,
        keys,
        kind=AgencyKind.SYSTEM,
        discipline=Discipline.LAW_ENFORCEMENT,
        name="Unit P (synthetic)",
    )
    coordinator = make.user(db, coord, Role.MDT_COORDINATOR, Role.ADVOCATE)
    case = a_case(db, coord)
    for agency in (coord, shelter, unit):
        person = make.client_record(db, agency, keys)
        cases.link_client(db, case, agency, person, actor=None, at=make.AT, confirmed=True)
        if agency is coord:
            # The coordinator's survivor releases minutes and decisions to the unit; the
            # shelter's survivor releases nothing to anyone.
            _release(db, keys, coord, person, coordinator, [unit], ["mdt_minutes", "mdt_decisions"])
    meeting = held_meeting(db, coord, coordinator, [case.public_id])
    item = meetings.agenda(db, meeting, coord)[0].item
    meetings.record_minutes(db, meeting, item, MINUTES, actor=coordinator, at=make.AT)
    meetings.record_decision(
        db,
        meeting,
        item,
        recommendation="Other",
        text="SYNTHETIC-DECISION-NOTE",
        actor=coordinator,
        at=make.AT,
    )
    db.flush()
    sign_in(client, db, unit, Role.INVESTIGATOR)

    case_page = client.get(f"/cases/{case.public_id}")
    assert "SYNTHETIC-DECISION-NOTE" not in case_page.text  # scope "case": withheld
    summary = client.get(f"/cases/{case.public_id}/summary")
    assert summary.status_code == 200
    assert MINUTES not in summary.text, (
        "the minutes of the case reached a system-based partner under one survivor's "
        "release, though another survivor on the case released nothing (the decisions of "
        "the same agenda item are withheld for that very reason)"
    )


def test_a_meetings_free_text_cancellation_reason_is_shown_to_every_invited_agency(
    client, db, keys
):
    """The reschedule reasons are shown to the coordinating agency only, but the
    cancellation reason (the coordinator's free text, often about a case) is printed to
    every invited agency, including one whose only case is another survivor's, without any
    disclosure point deciding."""
    coord = make.agency(db, keys)
    ours = make.agency(db, keys, name="Our Shelter (synthetic)")
    coordinator = make.user(db, coord, Role.MDT_COORDINATOR)
    their_case, our_case = a_case(db, coord), a_case(db, coord, [ours])
    meeting = scheduled_meeting(
        db, coord, coordinator, [their_case.public_id, our_case.public_id], day=TODAY
    )
    reason = f"SYNTHETIC: survivor on {their_case.reference} was hospitalised"
    meetings.cancel_meeting(db, meeting, reason=reason, actor=coordinator, at=make.AT)
    db.flush()
    sign_in(client, db, ours, Role.ADVOCATE)
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200 and our_case.reference in page.text
    assert their_case.reference not in page.text, (
        "a partner invited for its own case reads the coordinator's free-text cancellation "
        f"reason, which names {their_case.reference}, a case it takes no part in"
    )


# ------------------------------------------------------------------ 2. audit


def test_minutes_read_on_the_meeting_page_leave_no_audit_entry(client, db, keys):
    """Every read of survivor content is audited; the case summary writes a `released
    mdt_minutes` entry for the coordinator's own staff, and the decisions on the meeting
    page come through the point (audited). The minutes on the same page are read from the
    table and leave nothing in the log."""
    agency, _coordinator, _case, meeting, _item = _coordinator_with_minutes(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    before = len(_minutes_entries(db, agency))
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200 and MINUTES in page.text
    after = len(_minutes_entries(db, agency))
    assert after > before, "the minutes were shown on the meeting page and nothing was audited"


# ------------------------------------------------------------------ 3. data / 5. behaviour


def test_a_case_added_to_a_meeting_held_before_its_intake_is_marked_convened_before_intake(
    client, db, keys
):
    """The agenda stays open after a meeting is held (only a cancelled meeting refuses a
    case), and marking a case reviewed stamps the meeting's date as its first MDT. A case
    opened today, added to a meeting held twelve days ago, is recorded as convened twelve
    days before its intake, and the dashboard counts it convened within the window."""
    agency = make.agency(db, keys)
    coordinator, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    held_on = TODAY - timedelta(days=12)
    meeting = held_meeting(
        db, agency, coordinator, [], day=held_on, at=make.AT - timedelta(days=12)
    )
    case = a_case(db, agency, intake=TODAY)
    added = client.post(
        f"/meetings/{meeting.public_id}/agenda",
        data={"csrf_token": token, "case_ids": [case.public_id]},
    )
    item = db.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id)).first()
    if item is not None:
        client.post(
            f"/meetings/{meeting.public_id}/items/{item.public_id}/reviewed",
            data={"csrf_token": token},
        )
    db.refresh(case)
    assert case.first_mdt_date is None or case.first_mdt_date >= case.intake_date, (
        f"case opened {case.intake_date} recorded as first convened {case.first_mdt_date} "
        f"(agenda add answered {added.status_code}): a meeting held before the case existed"
    )


def test_the_agenda_form_offers_no_case_already_on_the_agenda(client, db, keys):
    """The meeting page's "Add a case to the agenda" offered every open case of the MDT,
    those already on this agenda too; choosing one answered that it is already there."""
    agency = make.agency(db, keys)
    coordinator, _token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    on_it, off_it = a_case(db, agency), a_case(db, agency)
    meeting = scheduled_meeting(db, agency, coordinator, [on_it.public_id])
    page = Page(client.get(f"/meetings/{meeting.public_id}").text)
    offered = {e.get("value") for e in page.by_id["agenda-case"].descendants() if e.tag == "option"}
    assert offered == {off_it.public_id}, offered


def test_an_agency_added_to_a_case_is_not_invited_to_the_meetings_already_discussing_it(
    client, db, keys
):
    """Every agency of a case is invited to the meeting that discusses it — but only when
    the case is put on the agenda. An agency added to the case afterwards never sees the
    meeting (list, page, calendar), and its staff's attendance is refused."""
    coord = make.agency(db, keys)
    late = make.agency(db, keys, kind=AgencyKind.SYSTEM, name="Late Unit (synthetic)")
    coordinator = make.user(db, coord, Role.MDT_COORDINATOR)
    case = a_case(db, coord)
    meeting = scheduled_meeting(db, coord, coordinator, [case.public_id], day=TODAY)
    casework.add_agency(db, case, late.public_id, actor=coordinator, at=make.AT)
    db.flush()
    sign_in(client, db, late, Role.INVESTIGATOR)
    linked = f"/meetings/{meeting.public_id}" in client.get(f"/cases/{case.public_id}").text
    shown = client.get(f"/meetings/{meeting.public_id}")
    listed = meeting.public_id in client.get("/meetings").text
    assert shown.status_code == 200 and listed, (
        f"{late.name} takes part in {case.reference}, which is on the meeting's agenda, but "
        f"the meeting answers it {shown.status_code} and its list {'shows' if listed else 'omits'} "
        f"it (while its case page {'links' if linked else 'does not link'} it): an agency "
        "added to a case is never invited to the meetings already discussing it"
    )


def test_saving_minutes_from_an_older_page_silently_overwrites_newer_minutes(client, db, keys):
    """Minutes have no version and no check: two coordinators with the page open, the
    second save replaces the first without a word, and the earlier minutes are gone for
    good (no history keeps them, while the accounting says they were disclosed)."""
    agency, _coordinator, _case, meeting, item = _coordinator_with_minutes(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get(f"/meetings/{meeting.public_id}")
    assert MINUTES in page.text  # the form this coordinator edits holds the first text
    other = make.user(db, agency, Role.MDT_COORDINATOR)
    meetings.record_minutes(
        db, meeting, item, MINUTES + " and SYNTHETIC-LATER-ADDITION", actor=other, at=make.AT
    )
    db.flush()
    saved = client.post(
        f"/meetings/{meeting.public_id}/items/{item.public_id}/minutes",
        data={**_form_fields(page.text, "/minutes"), "minutes": MINUTES + " (edited)"},
    )
    db.refresh(item)
    assert "SYNTHETIC-LATER-ADDITION" in (item.minutes or "") or saved.status_code == 409, (
        f"answered {saved.status_code}; a colleague's newer minutes were overwritten "
        "without warning and no copy of them is kept"
    )
