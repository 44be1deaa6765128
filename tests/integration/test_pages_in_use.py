"""The pages as people use them (issue 17): attendance kept, filters kept, asking first."""

import re
from datetime import timedelta

from sqlmodel import select
from test_workflow_pages import TODAY, a_case, make_tz, sign_in

from portal.models import Role
from portal.models.workflow import Attendance
from portal.services import meetings, tasks

import factories as make


def _held_meeting(db, agency, coordinator, case):
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day="2026-11-02",
        clock="10:00",
        place="Room",
        case_ids=[case.public_id],
        actor=coordinator,
        at=make.AT,
        tz=make_tz(),
    )
    meetings.hold_meeting(db, meeting, actor=coordinator, at=make.AT, today=TODAY)
    db.flush()
    return meeting


def _attended(db, meeting) -> set[int]:
    rows = db.exec(select(Attendance).where(Attendance.meeting_id == meeting.id)).all()
    return {row.user_id for row in rows}


def test_attendance_saved_unchanged_keeps_who_was_recorded(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    coordinator, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    advocate = make.user(db, partner, Role.ADVOCATE)
    clinician = make.user(db, partner, Role.CLINICIAN)
    case = a_case(db, agency, [partner])
    meeting = _held_meeting(db, agency, coordinator, case)
    meetings.record_attendance(
        db, meeting, [coordinator.public_id, advocate.public_id], actor=coordinator, at=make.AT
    )
    db.flush()
    url = f"/meetings/{meeting.public_id}"

    page = client.get(url).text
    # the boxes start as recorded: ticked for those who came, not for the others
    box = r'<input type="checkbox" name="attendees" value="{}"([^>]*)>'
    assert "checked" in re.search(box.format(advocate.public_id), page).group(1)
    assert "checked" in re.search(box.format(coordinator.public_id), page).group(1)
    assert "checked" not in re.search(box.format(clinician.public_id), page).group(1)

    # the form sent back as the page offers it: every box shown, the ticked ones ticked
    shown = re.findall(r'name="shown" value="([^"]+)"', page)
    ticked = [
        value
        for value, attrs in re.findall(r'name="attendees" value="([^"]+)"([^>]*)>', page)
        if "checked" in attrs
    ]
    saved = client.post(
        url + "/attendance", data={"csrf_token": token, "shown": shown, "attendees": ticked}
    )
    assert saved.status_code == 303
    assert _attended(db, meeting) == {coordinator.id, advocate.id}

    # ticking one more adds them; unticking one takes only that one off
    client.post(
        url + "/attendance",
        data={
            "csrf_token": token,
            "shown": shown,
            "attendees": [advocate.public_id, clinician.public_id],
        },
    )
    assert _attended(db, meeting) == {advocate.id, clinician.id}

    # a form that did not list someone (an older page, an agency since uninvited) keeps them
    client.post(
        url + "/attendance",
        data={"csrf_token": token, "shown": [clinician.public_id], "attendees": []},
    )
    assert _attended(db, meeting) == {advocate.id}


def test_a_status_change_comes_back_to_the_filtered_list(client, db, keys):
    agency = make.agency(db, keys)
    me, token = sign_in(client, db, agency, Role.ADVOCATE)
    case = a_case(db, agency)
    task = tasks.create_task(
        db,
        case,
        title="Filtered",
        assignee=f"user:{me.public_id}",
        due_date="2026-11-05",
        offered=None,
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    listing = client.get(f"/tasks?scope=mine&case={case.reference}&status=all")
    back = re.search(r'name="back" value="([^"]+)"', listing.text).group(1)
    assert back.replace("&amp;", "&") == f"/tasks?scope=mine&case={case.reference}&status=all"
    moved = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": token, "status": "done", "back": back.replace("&amp;", "&")},
    )
    assert moved.headers["location"] == f"/tasks?scope=mine&case={case.reference}&status=all"
    # never anywhere but the task list
    elsewhere = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": token, "status": "open", "back": "https://elsewhere.example/"},
    )
    assert elsewhere.headers["location"] == f"/tasks/{task.public_id}"
    # every filter field sits in its own wrapper with its label
    for name in ("f-case", "f-status", "f-from", "f-to"):
        assert re.search(rf'<div class="field[^"]*">\s*<label for="{name}">', listing.text), name


def test_closing_a_case_asks_first_and_names_what_happens(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, [partner])
    page = client.get(f"/cases/{case.public_id}")
    # the case page offers a link to a page that asks, not a button that acts
    assert f'href="/cases/{case.public_id}/close"' in page.text
    assert f'action="/cases/{case.public_id}/close"' not in page.text
    asking = client.get(f"/cases/{case.public_id}/close")
    assert asking.status_code == 200
    assert "What will happen" in asking.text and "reopen it later" in asking.text
    assert f'action="/cases/{case.public_id}/close"' in asking.text
    empty = client.post(f"/cases/{case.public_id}/close", data={"csrf_token": token})
    assert empty.status_code == 400 and "What will happen" in empty.text
    assert 'aria-invalid="true"' in empty.text and "error-summary" in empty.text
    db.refresh(case)
    assert case.status == "open"


def test_cancelling_a_meeting_asks_first(client, db, keys):
    agency = make.agency(db, keys)
    coordinator, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, intake=TODAY - timedelta(days=1))
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day="2026-11-03",
        clock="10:00",
        place="Room",
        case_ids=[case.public_id],
        actor=coordinator,
        at=make.AT,
        tz=make_tz(),
    )
    db.flush()
    url = f"/meetings/{meeting.public_id}"
    asking = client.get(url + "/cancel")
    assert asking.status_code == 200 and case.reference in asking.text
    refused = client.post(url + "/cancel", data={"csrf_token": token})
    assert refused.status_code == 400 and 'id="cancel_reason-error"' in refused.text
    done = client.post(url + "/cancel", data={"csrf_token": token, "cancel_reason": "Snow"})
    assert done.status_code == 303
    db.refresh(meeting)
    assert meeting.status == "cancelled"


def test_the_audit_log_reads_in_words_one_request_one_row():
    from datetime import datetime
    from types import SimpleNamespace

    from portal.audit import AuditTag
    from portal.services.audit_log import group_rows
    from portal.web.audit_words import EVENT_WORDS, event_words, gate_words, role_words

    at = datetime(2026, 11, 2, 15, 0, 0)

    def row(seq, tag, decision=None, user="u-7", case="MDT-2026-0001", micro=0):
        entry = SimpleNamespace(
            seq=seq,
            tag=tag,
            decision=decision,
            actor_user_ref=user,
            actor_agency_ref="a-2",
            actor_user_id=None,
            actor_agency_id=None,
            case_ref=case,
            subject=case,
            purpose="mdt_case_review",
            at=at + timedelta(microseconds=micro),
        )
        return SimpleNamespace(entry=entry)

    released, withheld = "disclosure:section:released", "disclosure:section:withheld"
    received = "disclosure:section:received"
    rows = [
        row(10, "auth:session:signed_out"),
        row(9, released, "released"),
        row(8, withheld, "withheld"),
        row(7, withheld, "withheld"),  # one request: one instant, one viewer, one case
        row(6, withheld, "withheld", micro=1),  # a moment later: another request
        row(5, released, "released", case="MDT-2026-0002"),  # another case
        row(4, released, "released", user="u-8", case="MDT-2026-0002"),  # another viewer
        row(3, received, "released", user="u-8", case="MDT-2026-0002"),  # what came back
        row(2, received, "released", user="u-8", case="MDT-2026-0002"),
    ]
    groups = group_rows(rows)
    assert [len(g.rows) for g in groups] == [1, 3, 1, 1, 3]
    assert (groups[1].released, groups[1].withheld, groups[1].seqs) == (1, 2, (7, 9))
    # The viewer's own agency's decision and its receipts of the same view: one row.
    assert (groups[4].released, groups[4].received, groups[4].family) == (1, 2, "viewed")
    # Every event the portal writes has words of its own; an unknown one never shows a code.
    assert set(AuditTag) <= set(EVENT_WORDS)
    assert not [w for w in EVENT_WORDS.values() if "_" in w or re.search(r"\w:\w", w)]
    assert event_words(withheld) == "section withheld from a viewer"
    assert ":" not in event_words("some:new_thing:happened")
    assert gate_words("no_consent") == "no consent" and gate_words("policy") == "disclosure policy"
    assert role_words("case_manager,mdt_coordinator") == "case manager, MDT coordinator"
