"""The MDT workflow through HTTP: intake, meetings, tasks, calendars, the 404 rule."""

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import icalendar
from page_text import page_text
from sqlmodel import func, select

from portal.errors import NotFound
from portal.models import AgencyKind, MdtCase, Role, StaffRole
from portal.models.workflow import Meeting
from portal.services import calendar, cases, casework, meetings, tasks

import factories as make
from team_helpers import joining_release

TODAY = date(2026, 11, 2)  # the clock fixture's day in New York
NY = ZoneInfo("America/New_York")


def sign_in(client, db, agency, *roles):
    user = make.user(db, agency, *roles)
    make.login(client, user.username)
    return user, make.csrf_of_page(client)


def a_case(db, agency, partners=(), intake=TODAY):
    case = cases.open_case(
        db,
        agency,
        intake_date=intake,
        referral_source="hotline",
        actor=None,
        at=make.AT,
        today=TODAY,
        agencies=list(partners),
    )
    db.flush()
    return case


def scheduled_on_the_page(client, token, cases, *, day=TODAY, time="10:00"):
    """The coordinator schedules a meeting of these cases through the page: its answer
    (303 to the meeting's page)."""
    return client.post(
        "/meetings",
        data={
            "csrf_token": token,
            "date": day.isoformat(),
            "time": time,
            "place": "Room 4 (synthetic)",
            "case_ids": [case.public_id for case in cases],
        },
    )


def test_coordinator_opens_a_case_at_intake(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    form = client.get("/cases/new")
    assert form.status_code == 200
    assert 'name="csrf_token" value=""' not in form.text  # every form carries the token
    response = client.post(
        "/cases",
        data={
            "csrf_token": token,
            "intake_date": "2026-10-30",
            "referral_source": "school",
            "agencies": [partner.public_id],
        },
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Convene by 2026-11-13" in page_text(page.text) and "11 days left" in page.text
    assert partner.name in page.text and "awaiting the agency" in page.text


def test_bad_intake_keeps_values_and_writes_nothing(client, db, keys):
    agency = make.agency(db, keys)
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    before = db.exec(select(func.count()).select_from(MdtCase)).one()
    response = client.post(
        "/cases",
        data={"csrf_token": token, "intake_date": "2027-01-01", "referral_source": "nope"},
    )
    assert response.status_code == 400
    assert "cannot be in the future" in response.text or "Choose a referral" in response.text
    assert 'value="2027-01-01"' in response.text
    assert db.exec(select(func.count()).select_from(MdtCase)).one() == before


def test_non_participating_agency_gets_404_for_case_task_and_meeting(client, db, keys):
    coordinating, outsider = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, coordinating)
    task = tasks.create_task(
        db,
        case,
        title="Private task",
        assignee=f"agency:{coordinating.public_id}",
        due_date="2026-11-10",
        offered=None,
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    meeting = meetings.schedule_meeting(
        db,
        coordinating,
        day="2026-11-05",
        clock="10:00",
        place="Room",
        case_ids=[case.public_id],
        actor=None,
        at=make.AT,
        tz=make_tz(),
    )
    db.flush()
    _, token = sign_in(client, db, outsider, Role.CASE_MANAGER)
    for path in (
        f"/cases/{case.public_id}",
        f"/cases/{case.public_id}/packet",
        f"/tasks/{task.public_id}",
        f"/meetings/{meeting.public_id}",
        f"/meetings/{meeting.public_id}/calendar.ics",
    ):
        assert client.get(path).status_code == 404, path
    changed = client.post(
        f"/tasks/{task.public_id}/status", data={"csrf_token": token, "status": "done"}
    )
    assert changed.status_code == 404
    assert "Private task" not in client.get("/tasks?scope=agency").text
    db.refresh(task)
    assert task.status == "open"


def make_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def test_meeting_in_the_past_is_400_beside_the_field(client, db, keys):
    agency = make.agency(db, keys)
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    before = db.exec(select(func.count()).select_from(Meeting)).one()
    response = client.post(
        "/meetings",
        data={"csrf_token": token, "date": "2026-10-01", "time": "10:00", "place": "Room"},
    )
    assert response.status_code == 400 and "cannot be in the past" in response.text
    assert db.exec(select(func.count()).select_from(Meeting)).one() == before


def test_agenda_case_of_another_mdt_is_refused(client, db, keys):
    agency, other = make.agency(db, keys), make.agency(db, keys)
    theirs = a_case(db, other)
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    before = db.exec(select(func.count()).select_from(Meeting)).one()
    response = client.post(
        "/meetings",
        data={
            "csrf_token": token,
            "date": "2026-11-05",
            "time": "10:00",
            "place": "Room",
            "case_ids": [theirs.public_id],
        },
    )
    assert response.status_code == 400 and "cases of your MDT" in response.text
    assert db.exec(select(func.count()).select_from(Meeting)).one() == before


def test_duplicate_client_link_is_409(client, db, keys):
    coordinating, partner = make.agency(db, keys), make.agency(db, keys)
    record = make.client_record(db, partner, keys)
    joining_release(db, keys, partner, record, coordinating)
    first, second = a_case(db, coordinating, [partner]), a_case(db, coordinating, [partner])
    _, token = sign_in(client, db, partner, Role.CASE_MANAGER)
    ok = client.post(
        f"/cases/{first.public_id}/link",
        data={"csrf_token": token, "client_reference": record.reference},
    )
    assert ok.status_code == 303
    clash = client.post(
        f"/cases/{second.public_id}/link",
        data={"csrf_token": token, "client_reference": record.reference},
    )
    assert clash.status_code == 409 and first.reference in clash.text


def test_held_meeting_decision_task_and_dashboard(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    worker = make.user(db, partner, Role.ADVOCATE)
    case = a_case(db, agency, [partner], intake=TODAY - timedelta(days=5))
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    dashboard = client.get("/")
    assert "Awaiting first MDT" in dashboard.text and case.reference in dashboard.text
    created = client.post(
        "/meetings",
        data={
            "csrf_token": token,
            "date": "2026-11-02",
            "time": "10:00",
            "place": "Room 4",
            "case_ids": [case.public_id],
        },
    )
    assert created.status_code == 303
    meeting_url = created.headers["location"]
    # Starting the meeting and marking a case reviewed cannot be undone: each asks first.
    asked = client.get(meeting_url + "/hold")
    assert asked.status_code == 200
    assert "It can no longer be rescheduled or cancelled." in asked.text
    assert f'action="{meeting_url}/hold"' in asked.text
    assert client.post(meeting_url + "/hold", data={"csrf_token": token}).status_code == 303
    assert client.get(meeting_url + "/hold").headers.get("location") == meeting_url
    meeting = db.exec(select(Meeting).where(Meeting.public_id == meeting_url.split("/")[-1])).one()
    item = meetings.agenda(db, meeting, agency)[0].item
    base = f"{meeting_url}/items/{item.public_id}"
    review_asked = client.get(base + "/reviewed")
    assert review_asked.status_code == 200
    assert "2026-11-02 becomes its first MDT date" in review_asked.text
    assert f'action="{base}/reviewed"' in review_asked.text
    assert (
        client.post(
            base + "/decisions",
            data={"csrf_token": token, "recommendation": "Safety planning", "text": "Agreed"},
        ).status_code
        == 303
    )
    bad = client.post(
        base + "/decisions", data={"csrf_token": token, "recommendation": "Astrology"}
    )
    assert bad.status_code == 400
    assert client.post(base + "/reviewed", data={"csrf_token": token}).status_code == 303
    assert client.get(base + "/reviewed").headers.get("location") == meeting_url
    task_made = client.post(
        f"/cases/{case.public_id}/tasks",
        data={
            "csrf_token": token,
            "title": "Find a bed",
            "assignee": f"user:{worker.public_id}",
            "due_date": "2026-11-09",
            "priority": "high",
            "back": meeting_url,
        },
    )
    assert task_made.status_code == 303 and task_made.headers["location"] == meeting_url
    page = client.get(meeting_url)
    assert "Safety planning" in page.text and "reviewed" in page.text
    assert 'name="csrf_token" value=""' not in page.text
    dashboard = client.get("/")
    assert "100%" in dashboard.text  # convened within the window
    ics = client.get(meeting_url + "/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert icalendar.Calendar.from_ical(ics.content).walk("VEVENT")

    # the assignee sees it in their list
    client.post("/logout", data={"csrf_token": token})
    make.login(client, worker.username)
    listing = client.get("/tasks")
    assert case.reference in listing.text
    # No survivor is linked to the case yet, so nothing any survivor agreed to covers the
    # task's text (issue 14): the assignee sees that it exists, its due date and status.
    assert "Find a bed" not in listing.text
    assert f"A task from {agency.name}, details withheld" in listing.text
    assert "2026-11-09" in listing.text


def test_inline_status_change_with_and_without_htmx(client, db, keys):
    agency = make.agency(db, keys)
    me, token = sign_in(client, db, agency, Role.ADVOCATE)
    case = a_case(db, agency)
    task = tasks.create_task(
        db,
        case,
        title="Inline",
        assignee=f"user:{me.public_id}",
        due_date="2026-11-05",
        offered=None,
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    fragment = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": token, "status": "in_progress"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith("<tr")
    assert fragment.headers["vary"] == "HX-Request"
    blocked = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": token, "status": "blocked"},
        headers={"HX-Request": "true"},
    )
    assert blocked.status_code == 400 and "blocked on" in blocked.text
    plain = client.post(
        f"/tasks/{task.public_id}/status",
        data={"csrf_token": token, "status": "done", "back": "/tasks?scope=mine"},
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/tasks?scope=mine"
    db.refresh(task)
    assert task.status == "done"
    assert "Inline" in client.get(f"/tasks/{task.public_id}").text


def test_task_list_filters_reject_bad_dates(client, db, keys):
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.ADVOCATE)
    response = client.get("/tasks?due_from=yesterday")
    assert response.status_code == 400 and "must be a date" in response.text


def test_a_task_range_that_ends_before_it_starts_says_so(client, db, keys):
    # Before: "Due to" before "Due from" answered 200 "No tasks match.", as if there were
    # none; the audit log's filter says the range is wrong. Through htmx (the filter form)
    # a refusal has the whole page loaded, which shows the message beside its field.
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.ADVOCATE)
    wrong = "/tasks?due_from=2026-12-10&due_to=2026-12-01"
    response = client.get(wrong)
    assert response.status_code == 400
    assert "The end of the range is before its start." in page_text(response.text)
    assert 'value="2026-12-10"' in response.text and 'value="2026-12-01"' in response.text
    through_htmx = client.get(wrong, headers={"HX-Request": "true"})
    assert through_htmx.status_code == 400 and through_htmx.headers["HX-Redirect"] == wrong


def test_calendar_feed_issue_fetch_and_revoke(client, db, keys):
    agency = make.agency(db, keys)
    me, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    issued = client.post("/account/calendar-feed", data={"csrf_token": token})
    assert issued.status_code == 200
    url = issued.text.split('<code class="secret">')[1].split("</code>")[0]
    path = url.replace("http://testserver", "")
    client.cookies.clear()  # a calendar app has no session
    feed = client.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert icalendar.Calendar.from_ical(feed.content)["PRODID"]
    make.login(client, me.username)
    token = make.csrf_of_page(client, "/account")
    assert "Calendar feed" in client.get("/account").text
    client.post("/account/calendar-feed/revoke", data={"csrf_token": token})
    assert client.get(path).status_code == 404
    assert client.get("/calendar/not-a-token").status_code == 404


# -- the calendar feed holds only what its owner's roles let them read ----------------
# The token stands in for the owner signed in: an administrator (no MEETING_READ, no
# TASK_READ) gets no survivor's case by it, and a feed follows the owner's roles now.

PLACE, VIDEO = "Synthetic Room 7", "https://video.example/synthetic-room"


def _meeting_world(db, keys, clock):
    home = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    coordinator = make.user(db, home, Role.MDT_COORDINATOR)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    case = make.mdt_case(db, home)
    meeting = meetings.schedule_meeting(
        db,
        home,
        day=(clock() + timedelta(days=2)).astimezone(NY).date().isoformat(),
        clock="10:00",
        place=PLACE,
        video_url=VIDEO,
        case_ids=[case.public_id],
        actor=coordinator,
        at=clock(),
        tz=NY,
    )
    db.flush()
    return home, coordinator, admin, case, meeting


def _feed_path(issued) -> str:
    assert issued.status_code == 200
    return re.search(r"https?://testserver(/calendar/[A-Za-z0-9_-]+)", issued.text).group(1)


def _issue_feed(client, user) -> str:
    make.login(client, user.username)
    path = _feed_path(
        client.post(
            "/account/calendar-feed", data={"csrf_token": make.csrf_of_page(client, "/account")}
        )
    )
    client.cookies.clear()  # a calendar app has no session
    return path


def _leaked(text: str, case) -> list[str]:
    return [s for s in (case.reference, PLACE, "synthetic-room") if s in text]


def test_an_administrator_is_neither_offered_nor_issued_a_calendar_feed(client, db, keys, clock):
    _, _, admin, case, meeting = _meeting_world(db, keys, clock)
    make.login(client, admin.username)
    assert client.get(f"/meetings/{meeting.public_id}").status_code == 403  # not theirs
    account = client.get("/account")
    assert account.status_code == 200 and "/account/calendar-feed" not in account.text
    token = make.csrf_of_page(client, "/account")
    issued = client.post("/account/calendar-feed", data={"csrf_token": token})
    assert issued.status_code == 403 and "no feed address was made" in issued.text
    assert "/calendar/" not in issued.text and _leaked(issued.text, case) == []
    assert calendar.active_feed(db, admin) is None


def test_a_coordinators_calendar_feed_lists_the_meetings_of_their_cases(client, db, keys, clock):
    _, coordinator, _, case, meeting = _meeting_world(db, keys, clock)
    feed = client.get(_issue_feed(client, coordinator))
    assert feed.status_code == 200 and calendar.meeting_uid(meeting) in feed.text
    assert _leaked(feed.text, case) == [case.reference, PLACE, "synthetic-room"]


def test_a_feed_whose_owner_lost_meeting_read_lists_no_meeting(client, db, keys, clock):
    """Checked when the feed is served: the roles it was issued under may be gone."""
    _home, coordinator, _admin, case, meeting = _meeting_world(db, keys, clock)
    path = f"/calendar/{calendar.issue_feed(db, coordinator, at=clock())}"
    db.flush()
    assert calendar.meeting_uid(meeting) in client.get(path).text
    # Its owner now holds only a role that reads no meetings (the administrator's, which the
    # pages never give to staff: set here as the node's operator might have).
    for held in db.exec(select(StaffRole).where(StaffRole.user_id == coordinator.id)).all():
        held.role = Role.ADMINISTRATOR.value
        db.add(held)
    db.flush()
    feed = client.get(path)
    unknown = client.get("/calendar/" + "x" * len(path.removeprefix("/calendar/")))
    # The same answer as for a token never issued: nothing says why.
    assert feed.status_code == unknown.status_code == 404 and feed.text == unknown.text
    assert _leaked(feed.text, case) == []


def test_a_feed_of_an_agency_switched_off_lists_nothing(client, db, keys, clock):
    """A feed checked its owner's account but not their agency: an agency switched off (its
    staff can no longer sign in) kept serving its staff's calendars."""
    home, coordinator, _admin, case, meeting = _meeting_world(db, keys, clock)
    path = f"/calendar/{calendar.issue_feed(db, coordinator, at=clock())}"
    db.flush()
    assert calendar.meeting_uid(meeting) in client.get(path).text
    home.is_active = False
    db.add(home)
    db.flush()
    feed = client.get(path)
    assert feed.status_code == 404 and _leaked(feed.text, case) == []


def test_review_packet_carries_viewer_time_and_notice(client, db, keys):
    agency = make.agency(db, keys)
    user, _ = sign_in(client, db, agency, Role.CASE_MANAGER)
    case = a_case(db, agency)
    page = client.get(f"/cases/{case.public_id}/packet")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "DO NOT REDISTRIBUTE" in page.text and user.display_name in page.text
    assert agency.name in page.text and "added here by the disclosure issue" not in page.text


def test_review_packet_summary_comes_through_the_disclosure_point(client, db, keys, clock):
    from disclosure_helpers import SECRET_NOTE, release, world, write

    from portal.models import AuditEntry
    from portal.sections import catalogue

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    write(db, keys, w, "mental_health", {"summary": "NOT-RELEASED-NOTE"})
    release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    make.login(client, w.partner_staff.username)

    def decided(agency):
        return db.exec(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.agency_id == agency.id,
                AuditEntry.tag.in_(["disclosure:section:released", "disclosure:section:withheld"]),
            )
        ).one()

    before = decided(w.owner), decided(w.partner)
    page = client.get(f"/cases/{w.case.public_id}/packet")
    assert page.status_code == 200 and "DO NOT REDISTRIBUTE" in page.text
    assert SECRET_NOTE in page.text and "NOT-RELEASED-NOTE" not in page.text
    assert 'data-section="mental_health" data-gate="no_consent"' in page.text
    # one audited decision per section shown, in each owner's own log
    owner_sections = len(catalogue().for_discipline(w.owner.discipline))
    partner_sections = len(catalogue().for_discipline(w.partner.discipline))
    assert decided(w.owner) == before[0] + owner_sections
    # ...and the coordinating agency's decisions (issue 14), decided in its own log too,
    # all but the parts whose whole its case manager reads (the next hearing is in the legal
    # section, the goals in the care plan); each line that tells of another section and
    # that its own case manager may read (the needs assessment's substance use and mental
    # health, the legal section's immigration proceeding) is audited under that section too
    parts = [s.key for s in catalogue().for_discipline(w.partner.discipline) if s.part_of]
    assert parts == ["next_hearing", "care_plan_goals"]
    assert decided(w.partner) == before[1] + partner_sections - len(parts) + 1 + 3


def test_close_needs_a_reason_and_only_the_coordinator(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    case = a_case(db, agency, [partner])
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    empty = client.post(f"/cases/{case.public_id}/close", data={"csrf_token": token})
    # Before: "Reason is required.", which told no one what the reason is for.
    assert empty.status_code == 400 and "Say why, in a few words" in page_text(empty.text)
    closed = client.post(
        f"/cases/{case.public_id}/close", data={"csrf_token": token, "reason": "done"}
    )
    assert closed.status_code == 303
    db.refresh(case)
    assert case.status == "closed"
    # a partner's coordinator cannot close another MDT's case: the same 404
    client.post("/logout", data={"csrf_token": token})
    _, token = sign_in(client, db, partner, Role.MDT_COORDINATOR)
    refused = client.post(
        f"/cases/{case.public_id}/reopen", data={"csrf_token": token, "reason": "mine now"}
    )
    assert refused.status_code == 404


def a_survivor_in_two_cases(db, keys, *, first_takes_part_in_other: bool, kind=None):
    """A closed case of the first CAC's, and another open case (the second CAC's) that the
    same survivor of the shelter's is in (`kind`: the shelter's, community by default)."""
    first = make.agency(db, keys, name="First CAC (synthetic)")
    second = make.agency(db, keys, name="Second CAC (synthetic)")
    shelter = make.agency(
        db, keys, name="Shelter (synthetic)", **({"kind": kind} if kind is not None else {})
    )
    coordinator = make.user(db, first, Role.MDT_COORDINATOR)
    survivor = make.client_record(db, shelter, keys)
    old = make.mdt_case(db, first)
    cases.link_client(db, old, shelter, survivor, actor=None, at=make.AT, confirmed=True)
    casework.close_case(
        db, old, reason="Synthetic: closed", actor=coordinator, at=make.AT, today=TODAY
    )
    other = make.mdt_case(db, second)  # another coordinating agency's case
    cases.link_client(db, other, shelter, survivor, actor=None, at=make.AT, confirmed=True)
    if first_takes_part_in_other:
        cases.link_client(db, other, first, None, actor=None, at=make.AT)
    db.flush()
    return first, coordinator, old, other


def reopen(client, coordinator, case):
    make.login(client, coordinator.username)
    url = f"/cases/{case.public_id}"
    token = make.csrf_of_page(client, url)
    return client.post(f"{url}/reopen", data={"csrf_token": token, "reason": "Synthetic"})


def test_a_refused_reopening_names_no_case_the_coordinator_takes_no_part_in(client, db, keys):
    first, coordinator, old, other = a_survivor_in_two_cases(
        db, keys, first_takes_part_in_other=False
    )
    try:  # the first CAC takes no part in the other case: it may not even open it
        cases.access_case(db, first, other.public_id)
        raise AssertionError("precondition: the first CAC can see the other case")
    except NotFound:
        pass
    answer = reopen(client, coordinator, old)
    assert answer.status_code == 409
    assert other.reference not in answer.text, (
        f"the refusal names {other.reference}, a case the first CAC takes no part in"
    )
    assert "already in another open case" in answer.text
    db.refresh(old)
    assert old.status == "closed"


def test_a_refused_reopening_names_the_other_case_to_a_coordinator_taking_part(client, db, keys):
    # The clashing client is a system-based agency's: its taking part is not its own to tell
    # (a community-based agency's is: test_workflow_cases_told.py).
    first, coordinator, old, other = a_survivor_in_two_cases(
        db, keys, first_takes_part_in_other=True, kind=AgencyKind.SYSTEM
    )
    assert cases.access_case(db, first, other.public_id) == other
    answer = reopen(client, coordinator, old)
    assert answer.status_code == 409
    assert f"already in open case {other.reference}" in answer.text


def test_partners_do_not_read_the_minutes_on_the_meeting_page(client, db, keys):
    agency, partner = make.agency(db, keys), make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, [partner])
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
    item = meetings.agenda(db, meeting, agency)[0].item
    meetings.record_minutes(
        db, meeting, item, "Owner-only minute text", actor=coordinator, at=make.AT
    )
    db.flush()
    sign_in(client, db, partner, Role.CASE_MANAGER)
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200 and case.reference in page.text
    assert "Owner-only minute text" not in page.text and "disclosure point" in page.text


def test_my_tasks_is_paged(client, db, keys):
    agency = make.agency(db, keys)
    me, _ = sign_in(client, db, agency, Role.ADVOCATE)
    case = a_case(db, agency)
    for number in range(tasks.PAGE_SIZE + 5):
        tasks.create_task(
            db,
            case,
            title=f"Paged task {number:02d}",
            assignee=f"user:{me.public_id}",
            due_date=(TODAY + timedelta(days=number)).isoformat(),
            offered=None,
            actor=None,
            at=make.AT,
            today=TODAY,
        )
    db.flush()

    def titles(html):
        return set(re.findall(r"Paged task \d\d", html))

    first = client.get("/tasks?scope=mine").text
    assert len(titles(first)) == tasks.PAGE_SIZE and "Paged task 00" in first
    assert "page=2" in first and "Page 1" in first
    second = client.get("/tasks?scope=mine&page=2").text
    assert len(titles(second)) == 5 and "Paged task 29" in second
    assert "page=1" in second and "page=3" not in second
    assert client.get("/tasks?scope=mine&page=abc").status_code == 200


def test_a_partner_sees_only_the_agencies_of_its_own_cases_on_a_meeting(client, db, keys):
    """Issue 12, finding 5: the invitation list and attendance told a partner which other
    agencies serve the other survivors on the agenda."""
    coordinating = make.agency(db, keys, name="Coordinating Agency (synthetic)")
    ours = make.agency(db, keys, name="Our Shelter (synthetic)")
    theirs = make.agency(db, keys, name="Unrelated Clinic (synthetic)")
    our_case, their_case = make.mdt_case(db, coordinating), make.mdt_case(db, coordinating)
    for case, agency in ((our_case, ours), (their_case, theirs)):
        person = make.client_record(db, agency, keys)
        cases.link_client(db, case, agency, person, actor=None, at=make.AT, confirmed=True)
    meeting = meetings.schedule_meeting(
        db,
        coordinating,
        day="2026-11-05",
        clock="10:00",
        place="Room",
        case_ids=[our_case.public_id, their_case.public_id],
        actor=None,
        at=make.AT,
        tz=make_tz(),
    )
    db.flush()
    sign_in(client, db, ours, Role.ADVOCATE)
    page = client.get(f"/meetings/{meeting.public_id}")
    assert page.status_code == 200
    invited = re.search(r'id="invited-h".*?</ul>', page.text, re.S).group(0)
    assert "Our Shelter" in invited and "Unrelated Clinic" not in page.text
    client.cookies.clear()
    sign_in(client, db, coordinating, Role.MDT_COORDINATOR)
    assert "Unrelated Clinic" in client.get(f"/meetings/{meeting.public_id}").text
