"""The 14-day convening clock and what is built on it (case opening, closing and reopening,
the dashboard's figures, the case history, the calendar feed) as a review found them.

Each test is named after what should happen; each failed on the code the review read.
Synthetic data only."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, func, select
from test_meetings_review_findings import _form_fields
from test_workflow_pages import NY, TODAY, a_case, sign_in

from portal.audit import AuditTag
from portal.federation import membership
from portal.models import AuditEntry, MdtCase, Role
from portal.models.workflow import CaseEvent, CaseEventKind, ConveningWaiting
from portal.services import case_history, cases, casework, convening, meetings

import factories as make
from databases import migrated_engine, require_postgres
from federation_helpers import elsewhere, here


def scheduled(db, agency, coordinator, cases, *, day, at=make.AT):
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day=day.isoformat(),
        clock="10:00",
        place="Room 1",
        case_ids=[c.public_id for c in cases],
        actor=coordinator,
        at=at,
        tz=NY,
    )
    db.flush()
    return meeting


# ------------------------------------------------------------------ figures


def test_a_case_with_a_meeting_inside_its_window_is_not_counted_scheduled_after_its_deadline(
    db, keys
):
    # Before: a case on a meeting inside its window and on a later one too was counted in
    # "1 scheduled after their deadline", while its row showed the meeting in time and no
    # warning: the coordinator hunts for a late case the list does not show.
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, intake=TODAY - timedelta(days=2))  # due TODAY + 12
    scheduled(db, agency, coordinator, [case], day=TODAY + timedelta(days=5))
    scheduled(db, agency, coordinator, [case], day=TODAY + timedelta(days=20))
    (row,) = convening.awaiting_first_mdt(db, agency, today=TODAY)
    assert row.next_meeting == TODAY + timedelta(days=5) and not row.scheduled_late
    counts = convening.clock_counts(db, agency, today=TODAY)
    assert counts.scheduled_late == 0, (
        "counted as scheduled after its deadline though it meets inside its window"
    )


def test_a_convening_rate_with_a_case_missed_never_reads_100_percent():
    # Before: 199 of 200 cases convened in time was shown as "100%" (99.5 rounded up), the
    # figure an MDT reports to its accreditor and funders, while one survivor waited
    # past the two weeks.
    assert convening.Rate(convened_in_time=199, decided=200).percent != 100


def test_the_next_meeting_of_a_waiting_case_is_one_still_to_come(db, keys):
    # Before: a meeting whose day has passed but which was never started (still
    # "scheduled") was shown as the case's "Next meeting", a date in the past, and the
    # one meeting really ahead, after the deadline, got no "after the deadline" warning:
    # the coordinator reads that the case is lined up in time when it is not.
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, intake=TODAY - timedelta(days=10))  # due TODAY + 4
    scheduled(
        db,
        agency,
        coordinator,
        [case],
        day=TODAY - timedelta(days=2),
        at=make.AT - timedelta(days=5),
    )
    scheduled(db, agency, coordinator, [case], day=TODAY + timedelta(days=8))
    (row,) = convening.awaiting_first_mdt(db, agency, today=TODAY)
    assert row.next_meeting == TODAY + timedelta(days=8), (
        f"next meeting shown as {row.next_meeting}, a day already past"
    )
    assert row.scheduled_late


def test_a_case_marked_reviewed_twice_at_once_is_counted_convened_once(tmp_path, keys):
    # Before: two "mark reviewed" posts for one case at once (a double click on the
    # confirmation, or two meetings' items) each read the case as not yet convened, so
    # each ended its wait and each counted it convened in time: the rate read 2 of 1
    # (200 %) and the waiting tally went below zero, for good. PostgreSQL: each request
    # reads the case before the other's commit.
    require_postgres()
    with migrated_engine("postgresql", tmp_path) as engine:
        with Session(engine, expire_on_commit=False) as db:
            agency = make.agency(db, keys)
            coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
            case = a_case(db, agency, intake=TODAY - timedelta(days=5))
            meeting = scheduled(db, agency, coordinator, [case], day=TODAY)
            meetings.hold_meeting(db, meeting, actor=coordinator, at=make.AT, today=TODAY)
            db.commit()
            agency_id, meeting_id, case_id = agency.id, meeting.id, case.id

        def begin(session):
            """What each request reads before it writes: the meeting, the item, the case."""
            from portal.models import Agency
            from portal.models.workflow import Meeting

            here = session.get(Agency, agency_id)
            held = session.get(Meeting, meeting_id)
            item = meetings.agenda(session, held, here)[0].item
            read = session.get(MdtCase, case_id)  # not yet convened, as each request reads it
            return held, item, read

        first, second = Session(engine), Session(engine)
        try:
            one, two = begin(first), begin(second)
            # Each request has read the case (held, as a request holds what it read) before
            # the other commits: the interleaving two posts at once can take.
            meetings.mark_reviewed(first, *one[:2], actor=None, at=make.AT)
            first.commit()
            meetings.mark_reviewed(second, *two[:2], actor=None, at=make.AT)
            second.commit()
        finally:
            first.close()
            second.close()

        with Session(engine) as db:
            from portal.models import Agency

            agency = db.get(Agency, agency_id)
            rate = convening.compliance(db, agency, today=TODAY).overall[30]
            waiting = db.exec(
                select(func.sum(ConveningWaiting.waiting)).where(
                    ConveningWaiting.coordinating_agency_id == agency_id
                )
            ).one()
            assert (rate.convened_in_time, rate.decided) == (1, 1), rate
            assert waiting == 0, f"waiting tally reads {waiting} for no case waiting"


# ------------------------------------------------------------------ opening a case


def test_the_open_case_form_posted_twice_opens_one_case(client, db, keys):
    # Before: a double click on "Open case" (or a browser's resubmit) opened two MDT cases
    # for one intake: two references, two 14-day clocks, and since the rate counts every
    # case opened, closing the duplicate still counts it as a case never convened.
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get("/cases/new")
    data = {
        **_form_fields(page.text, "/cases"),
        "intake_date": (TODAY - timedelta(days=1)).isoformat(),
        "referral_source": "school",
    }
    first = client.post("/cases", data=data)
    again = client.post("/cases", data=data)
    assert first.status_code == 303
    opened = db.exec(
        select(MdtCase.reference).where(MdtCase.coordinating_agency_id == agency.id)
    ).all()
    assert len(opened) == 1, (
        f"one form opened {len(opened)} cases {opened} (second POST: {again.status_code})"
    )


# ------------------------------------------------------------------ the case history


def test_marking_a_case_reviewed_posted_twice_is_one_review_in_its_history(client, db, keys):
    # Before: the "mark reviewed" form posted again (a double click, a resubmit after a
    # slow answer) was taken again: the case's history said it was reviewed twice at the
    # one meeting, and the coordinator's log held two reviews of it.
    agency = make.agency(db, keys)
    coordinator, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, intake=TODAY - timedelta(days=5))
    meeting = scheduled(db, agency, coordinator, [case], day=TODAY)
    meetings.hold_meeting(db, meeting, actor=coordinator, at=make.AT, today=TODAY)
    item = meetings.agenda(db, meeting, agency)[0].item
    url = f"/meetings/{meeting.public_id}/items/{item.public_id}/reviewed"
    assert client.post(url, data={"csrf_token": token}).status_code == 303
    client.post(url, data={"csrf_token": token})
    reviews = [row for row in case_history.history(db, case) if row.kind == CaseEventKind.REVIEWED]
    logged = db.exec(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.tag == str(AuditTag.CASE_REVIEWED),
            AuditEntry.subject == case.reference,
        )
    ).one()
    assert (len(reviews), logged) == (1, 1), (
        f"one review at one meeting: {len(reviews)} in the history, {logged} in the log"
    )


def test_an_agency_named_when_the_case_is_opened_is_in_its_history_as_added(client, db, keys):
    # Before: agencies chosen on the intake form were linked with no history event, while
    # one added later reads "X added to the case": the case's history (and the printed
    # packet's timeline) did not say how or when the agency came onto the case, and only
    # showed it confirming a record later.
    agency = make.agency(db, keys)
    partner = make.agency(db, keys, name="Intake Partner (synthetic)")
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    opened = client.post(
        "/cases",
        data={
            "csrf_token": token,
            "intake_date": TODAY.isoformat(),
            "referral_source": "school",
            "agencies": [partner.public_id],
        },
    )
    assert opened.status_code == 303
    case = db.exec(select(MdtCase).where(MdtCase.coordinating_agency_id == agency.id)).one()
    added = db.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.AGENCY_ADDED
        )
    ).all()
    assert [e.reason for e in added] == [partner.name], "the partner's joining is not recorded"


# ------------------------------------------------------------------ the node overview


def test_the_node_overview_lists_only_the_agencies_this_node_hosts(client, db, keys):
    # Before: every roster member hosted on another node was listed under "Agencies on
    # this node", with no staff and "0 — add one" lead in red, linked to a page that is a
    # 404 (it is managed on its own node): the administrator is told to give a lead here
    # to an agency this node does not run.
    cac = make.agency(db, keys, name="Overview CAC (synthetic)")
    welfare = elsewhere("Overview Welfare Elsewhere (synthetic)", node="http://127.0.0.1:9101")
    entries = membership.entries_json([here(db, cac), welfare.member])
    membership.sign_roster(db, cac, entries, node="http://127.0.0.1:9100", keys=keys, at=make.AT)
    db.flush()
    sign_in(client, db, cac, Role.ADMINISTRATOR)
    page = client.get("/")
    assert page.status_code == 200 and "Agencies on this node" in page.text
    assert "Overview CAC (synthetic)" in page.text
    assert "Overview Welfare Elsewhere (synthetic)" not in page.text, (
        "an agency hosted on another node is listed as one of this node's, to be given a lead"
    )


def test_the_node_overview_counts_as_signed_in_only_who_finished_signing_in(db, keys):
    # Before: a session that had given the password but not yet the second factor (a
    # colleague mid-sign-in, or whoever guessed the password and is stuck at the code)
    # was counted under "Signed in now", the figure the administrator reads before ending
    # a person's sessions.
    from portal.auth import sessions

    agency = make.agency(db, keys)
    person = make.user(db, agency, Role.CASE_MANAGER)
    sessions.begin(
        db, person, stage=sessions.Stage.PASSWORD, at=make.AT, address=None, user_agent=None
    )
    db.flush()
    assert _overview_line(db, agency).signed_in == 0, "half a sign-in is counted as signed in"


def test_the_node_overview_counts_people_signed_in_not_their_sessions(db, keys):
    # Before: "Signed in now" counted sessions: an agency of 3 active staff showed 17 and
    # 30, each person's browsers and devices counted apart.
    from portal.auth import sessions

    agency = make.agency(db, keys)
    person = make.user(db, agency, Role.CASE_MANAGER)
    for _ in range(3):  # a desk, a phone, a second browser
        sessions.begin(
            db, person, stage=sessions.Stage.FULL, at=make.AT, address=None, user_agent=None
        )
    db.flush()
    assert _overview_line(db, agency).signed_in == 1


def _overview_line(db, agency):
    """The administrator's line for `agency`, as the node overview makes it now."""
    from portal.services import node_overview

    (line,) = [
        line
        for line in node_overview.agency_lines(
            db, now=make.AT, idle=timedelta(minutes=30), absolute=timedelta(hours=12)
        )
        if line.agency.id == agency.id
    ]
    return line


# ------------------------------------------------------------------ reopening


def _waits_on_a_lock(engine, pid: int) -> bool:
    with engine.connect() as probe:
        return bool(
            probe.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
        )


def test_two_closed_cases_of_one_survivor_reopened_at_once_leave_one_open(tmp_path, keys):
    # Before: two coordinating agencies each reopening a closed case of the same survivor
    # at the same moment each found no other open case (the other's reopening not yet
    # committed) and both cases opened: one survivor in two open cases, two 14-day
    # clocks, two agendas, which reopen_case and confirm_link exist to prevent.
    require_postgres()
    with migrated_engine("postgresql", tmp_path) as engine:
        with Session(engine, expire_on_commit=False) as db:
            first_cac = make.agency(db, keys, name="First CAC R1 (synthetic)")
            second_cac = make.agency(db, keys, name="Second CAC R1 (synthetic)")
            shelter = make.agency(db, keys, name="Shelter R1 (synthetic)")
            survivor = make.client_record(db, shelter, keys)
            ids = []
            for coordinating in (first_cac, second_cac):
                case = make.mdt_case(db, coordinating)
                cases.link_client(
                    db, case, shelter, survivor, actor=None, at=make.AT, confirmed=True
                )
                casework.close_case(
                    db, case, reason="Synthetic: closed", actor=None, at=make.AT, today=TODAY
                )
                db.flush()
                ids.append(case.id)
            db.commit()

        first, second = Session(engine), Session(engine)
        outcome = {}

        def reopen_second():
            try:
                casework.reopen_case(
                    second, second.get(MdtCase, ids[1]), reason="Back", actor=None, at=make.AT
                )
                second.commit()
                outcome["second"] = "reopened"
            except Exception as error:  # refused (409) or stopped by the database: not open
                second.rollback()
                outcome["second"] = repr(error)

        try:
            casework.reopen_case(
                first, first.get(MdtCase, ids[0]), reason="Back", actor=None, at=make.AT
            )
            first.flush()  # the first reopening is written, not yet committed
            pid = second.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            worker = threading.Thread(target=reopen_second)
            worker.start()
            # The second runs until it is done or waits for the first (a fix may lock).
            while worker.is_alive() and not _waits_on_a_lock(engine, pid):
                time.sleep(0.01)
            first.commit()
            worker.join(timeout=60)
        finally:
            first.close()
            second.close()

        with Session(engine) as db:
            statuses = [db.get(MdtCase, case_id).status for case_id in ids]
        assert statuses.count("open") == 1, (
            f"one survivor is in {statuses.count('open')} open cases ({outcome})"
        )


# ------------------------------------------------------------------ words


def test_a_case_one_day_past_its_deadline_reads_one_day_overdue(client, db, keys):
    # Before: the meeting form's agenda said "(1 days overdue)".
    agency = make.agency(db, keys)
    a_case(db, agency, intake=TODAY - timedelta(days=15))  # due yesterday
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get("/meetings/new").text
    assert "(1 day overdue)" in page and "1 days" not in page


def test_the_case_page_names_its_referral_source_in_words(client, db, keys):
    # Before: the case page read "referred by self" where the form said "self-referral".
    agency = make.agency(db, keys)
    case = cases.open_case(
        db,
        agency,
        intake_date=TODAY,
        referral_source="self",
        actor=None,
        at=make.AT,
        today=TODAY,
    )
    db.flush()
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    page = client.get(f"/cases/{case.public_id}").text
    assert "referral: self-referral" in page and "referred by self" not in page


def test_the_dashboard_leaves_out_cases_closed_before_their_first_mdt_and_says_how_many(
    client, db, keys
):
    # Before: a case closed two days after intake (the survivor moved away) counted as
    # late once its deadline passed: the figure read 50% for a team that missed nothing,
    # and the page did not say that any case had been closed before a meeting.
    agency = make.agency(db, keys)
    convened = a_case(db, agency, intake=TODAY - timedelta(days=20))
    convening.set_first_mdt(db, convened, convened.intake_date + timedelta(days=7))
    moved_away = a_case(db, agency, intake=TODAY - timedelta(days=20))
    casework.close_case(
        db,
        moved_away,
        reason="Synthetic: moved out of state",
        actor=None,
        at=make.AT,
        today=moved_away.intake_date + timedelta(days=2),
    )
    declined = a_case(db, agency, intake=TODAY - timedelta(days=3))
    db.flush()
    _, token = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    closed = client.post(
        f"/cases/{declined.public_id}/close",
        data={"csrf_token": token, "reason": "Synthetic: referral declined"},
    )
    assert closed.status_code == 303
    db.refresh(declined)
    assert declined.closed_on == TODAY  # the coordinator's day in the MDT's zone
    page = client.get("/").text
    assert '100% <span class="count">(1/1)</span>' in page and "50%" not in page
    assert "2 cases closed before their first MDT are not counted over 30, 90 and 365 days." in page
