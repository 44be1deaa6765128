"""Survivor-mentor services against both databases: assignment, caseload, the log and its
edit window, upcoming dates and the program lead's reports."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from portal.disclosure.sources import AccompanimentLog, SourceCache, Wanted
from portal.errors import Forbidden, Invalid, NotFound
from portal.models import (
    Accompaniment,
    AccompanimentAmendment,
    AccompanimentKind,
    AuditEntry,
    Discipline,
    MdtCase,
    MentorAssignment,
    Outcome,
    PlaceType,
    Role,
)
from portal.sections import catalogue
from portal.services import (
    cases,
    mentor_appointments,
    mentor_assignments,
    mentor_caseload,
    mentor_program,
    mentor_reports,
    mentoring,
)
from portal.web import mentor_chart, mentor_forms

import factories as make

TZ = ZoneInfo("America/New_York")
AT = make.AT  # 2026-11-02 15:00 UTC
TODAY = AT.astimezone(TZ).date()


@dataclass
class World:
    coordinating: object
    coordinator: mentor_program.Assigner
    program: object
    lead: mentor_program.Assigner
    mentor: object
    other_mentor: object
    other_program: object
    other_lead: mentor_program.Assigner
    stranger_mentor: object  # a mentor of the other program
    case: object
    second_case: object


def assigner(user, agency, *roles):
    return mentor_program.Assigner(user, agency, frozenset(r.value for r in roles))


@pytest.fixture
def world(db, keys):
    coordinating = make.agency(db, keys)
    program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    other_program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    return World(
        coordinating=coordinating,
        coordinator=assigner(
            make.user(db, coordinating, Role.MDT_COORDINATOR), coordinating, Role.MDT_COORDINATOR
        ),
        program=program,
        lead=assigner(make.user(db, program, Role.AGENCY_LEAD), program, Role.AGENCY_LEAD),
        mentor=make.user(db, program, Role.SURVIVOR_MENTOR),
        other_mentor=make.user(db, program, Role.SURVIVOR_MENTOR),
        other_program=other_program,
        other_lead=assigner(
            make.user(db, other_program, Role.AGENCY_LEAD), other_program, Role.AGENCY_LEAD
        ),
        stranger_mentor=make.user(db, other_program, Role.SURVIVOR_MENTOR),
        case=make.mdt_case(db, coordinating, intake=date(2026, 10, 20)),
        second_case=make.mdt_case(db, coordinating, intake=date(2026, 10, 25)),
    )


def assign(db, w, case, mentor, *, by=None, at=AT, reason=None):
    made = mentor_assignments.assign_mentor(
        db,
        case,
        mentor_public_id=mentor.public_id,
        reason=reason,
        viewer=by or w.coordinator,
        at=at,
    )
    db.flush()
    return made.assignment


ENTRY = {
    "occurred_on": "2026-11-01",
    "kind": "court_appearance",
    "duration_minutes": "90",
    "place_type": "courthouse",
    "outcome": "went_ahead",
    "follow_up_needed": "",
    "follow_up": "",
    "notes": "Synthetic note: waited together.",
}


def log(db, case, mentor, *, at=AT, today=TODAY, **changes):
    """Log an entry as the log form would: its fields read by the web layer first."""
    given = mentor_forms.read_accompaniment({**ENTRY, **changes}, today=today)
    entry = mentoring.log_accompaniment(db, case, given=given, actor=mentor, at=at)
    db.flush()
    return entry


def correct(db, entry, fields, *, actor, at, today=TODAY, reason=None):
    """Correct an entry as the edit form would: a reason asked for once its window passed."""
    given, reason = mentor_forms.read_correction(
        {**fields, "reason": reason},
        today=today,
        reason_required=not mentoring.editable(entry, at),
    )
    return mentoring.correct_accompaniment(
        db, entry, given=given, reason=reason, actor=actor, at=at
    )


def add_date(db, case, mentor, fields, *, at=AT):
    given = mentor_forms.read_appointment(fields, tz=TZ, now=at)
    return mentor_appointments.add_appointment(db, case, given=given, actor=mentor, at=at)


def count(db, model) -> int:
    return db.exec(select(func.count(model.id))).one()


def tags(db) -> list[str]:
    return list(db.exec(select(AuditEntry.tag).order_by(AuditEntry.id)).all())


# --- assignment -------------------------------------------------------------------------


def test_reassignment_keeps_who_from_to_when_and_why(db, world):
    w = world
    first = assign(db, w, w.case, w.mentor)
    later = AT + timedelta(days=2)
    with pytest.raises(Invalid) as caught:
        assign(db, w, w.case, w.other_mentor, at=later)  # a reassignment needs a reason
    assert "reason" in caught.value.errors
    second = assign(db, w, w.case, w.other_mentor, by=w.lead, at=later, reason="Mentor on leave")
    assert first.ended_at == later and first.end_reason == "Mentor on leave"
    assert second.previous_mentor_id == w.mentor.id and second.assigned_by_id == w.lead.user.id
    current = db.exec(
        select(MentorAssignment).where(
            MentorAssignment.case_id == w.case.id, MentorAssignment.ended_at.is_(None)
        )
    ).all()
    assert [a.mentor_id for a in current] == [w.other_mentor.id]
    history = mentor_assignments.assignment_history(db, w.case)
    assert history[0].from_mentor == w.mentor.display_name
    assert history[0].why == "Mentor on leave" and history[0].at == later
    assert history[-1].from_mentor is None and history[-1].by == w.coordinator.user.display_name
    assert "mentoring:assignment:reassigned" in tags(db)


def test_another_programs_changes_read_as_one_unnamed_row_to_a_lead_not_told_of_it(db, keys, world):
    w = world  # P1 (program), then P3, then P2 (other_program), whose lead is told of neither
    third = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    assign(db, w, w.case, w.mentor)
    assign(
        db, w, w.case, make.user(db, third, Role.SURVIVOR_MENTOR), at=AT + timedelta(1), reason="a"
    )
    assign(db, w, w.case, w.stranger_mentor, at=AT + timedelta(2), reason="b")
    shown = {w.coordinating.id, w.other_program.id}
    told = mentor_assignments.told_history(mentor_assignments.assignment_history(db, w.case), shown)
    assert [r.untold for r in told] == [False, True]
    own, others = told
    assert own.from_untold and own.from_mentor is None and own.to_agency == w.other_program.name
    assert own.why == "b" and own.by == w.coordinator.user.display_name
    assert others == mentor_assignments.HistoryRow(None, None, None, None, None, None, untold=True)
    status = mentor_assignments.told_status(
        mentor_assignments.mentor_status(db, w.case, tz=TZ), shown
    )
    assert status.mentor_agency == w.other_program.name
    assert status.first_untold and status.first_assigned_at is None
    assert status.by_first_assessment is False  # the case's, told as it is


def test_assigning_the_same_mentor_again_is_refused(db, world):
    assign(db, world, world.case, world.mentor)
    with pytest.raises(Invalid):
        assign(db, world, world.case, world.mentor, reason="again")


def test_by_first_assessment_uses_intake_plus_grace(db, world):
    w = world  # intake 2026-10-20; grace 3 days: 2026-10-23 counts, 2026-10-24 does not
    assign(db, w, w.case, w.mentor, at=datetime(2026, 10, 23, 20, 0, tzinfo=TZ))
    assign(db, w, w.second_case, w.mentor, at=datetime(2026, 10, 29, 9, 0, tzinfo=TZ))
    assert mentor_assignments.mentor_status(db, w.case, tz=TZ).by_first_assessment is True
    assert mentor_assignments.mentor_status(db, w.second_case, tz=TZ).by_first_assessment is False
    rows = {
        r.reference: r for r in mentor_assignments.assignment_overview(db, w.coordinator, tz=TZ)
    }
    assert rows[w.case.reference].by_first_assessment
    assert not rows[w.second_case.reference].by_first_assessment


def test_first_assessment_counts_the_first_mentor_not_the_current_one(db, world):
    w = world
    assign(db, w, w.case, w.mentor, at=datetime(2026, 10, 21, 9, 0, tzinfo=TZ))
    assign(db, w, w.case, w.other_mentor, at=AT, reason="change")
    assert mentor_assignments.mentor_status(db, w.case, tz=TZ).by_first_assessment is True


def test_only_survivor_mentors_of_a_mentor_program_can_be_assigned(db, keys, world):
    w = world
    advocate_there = make.user(db, w.program, Role.ADVOCATE)
    advocacy = make.agency(db, keys)
    mentor_elsewhere = make.user(db, advocacy, Role.SURVIVOR_MENTOR)
    for wrong in (advocate_there, mentor_elsewhere):
        with pytest.raises(Invalid) as caught:
            assign(db, w, w.case, wrong)
        assert caught.value.errors == {"mentor": "Choose a mentor from the list."}
    assert count(db, MentorAssignment) == 0


def test_program_lead_assigns_only_their_own_mentors(db, world):
    w = world
    cases.link_client(db, w.case, w.program, None, actor=None, at=AT)
    case = mentor_assignments.access_case_for_assignment(db, w.lead, w.case.public_id)
    with pytest.raises(Invalid):
        assign(db, w, case, w.stranger_mentor, by=w.lead)
    assign(db, w, case, w.mentor, by=w.lead)
    choices = {c.public_id for c in mentor_program.mentor_choices(db, w.lead)}
    assert choices == {w.mentor.public_id, w.other_mentor.public_id}
    everyone = {c.public_id for c in mentor_program.mentor_choices(db, w.coordinator)}
    assert w.stranger_mentor.public_id in everyone


def test_another_programs_lead_cannot_reach_the_case_or_replace_its_mentor(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    with pytest.raises(NotFound):
        mentor_assignments.access_case_for_assignment(db, w.other_lead, w.case.public_id)
    # Even when the other program is linked to the case, it cannot replace this mentor.
    cases.link_client(db, w.case, w.other_program, None, actor=None, at=AT)
    case = mentor_assignments.access_case_for_assignment(db, w.other_lead, w.case.public_id)
    with pytest.raises(Forbidden):
        assign(db, w, case, w.stranger_mentor, by=w.other_lead, reason="mine now")


def test_assignment_links_the_program_to_the_case_and_lists_unassigned(db, world):
    w = world
    assert {
        r.reference
        for r in mentor_assignments.assignment_overview(
            db, w.coordinator, tz=TZ, unassigned_only=True
        )
    } == {w.case.reference, w.second_case.reference}
    assign(db, w, w.case, w.mentor)
    assert cases.access_case(db, w.program, w.case.public_id) == w.case
    assert mentor_assignments.count_unassigned(db, w.coordinator) == 1
    mentor_assignments.end_assignment(
        db, w.case, reason="Survivor moved away", viewer=w.coordinator, at=AT
    )
    assert mentor_assignments.count_unassigned(db, w.coordinator) == 2
    assert "mentoring:assignment:ended" in tags(db)


def test_the_dashboard_counts_unassigned_cases_no_further_than_its_cap(db, world):
    w = world
    assert mentor_assignments.count_unassigned(db, w.coordinator, cap=1) == 1
    assert mentor_assignments.count_unassigned(db, w.coordinator, cap=5) == 2
    assign(db, w, w.case, w.mentor)
    assert mentor_assignments.count_unassigned(db, w.coordinator, cap=1) == 1
    assign(db, w, w.second_case, w.other_mentor)
    assert mentor_assignments.count_unassigned(db, w.coordinator, cap=1) == 0


# --- caseload and visibility ------------------------------------------------------------


def test_a_mentor_sees_only_their_own_caseload(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    assign(db, w, w.second_case, w.other_mentor)
    mine = mentor_caseload.caseload(db, w.mentor, now=AT, today=TODAY)
    assert [r.reference for r in mine] == [w.case.reference]
    with pytest.raises(NotFound):
        mentor_caseload.access_caseload_case(db, w.mentor, w.second_case.public_id)
    # After a reassignment the former mentor no longer holds the case.
    assign(db, w, w.case, w.other_mentor, reason="handover", at=AT + timedelta(hours=1))
    assert mentor_caseload.caseload(db, w.mentor, now=AT, today=TODAY) == []
    with pytest.raises(NotFound):
        mentor_caseload.access_caseload_case(db, w.mentor, w.case.public_id)


def test_caseload_shows_next_date_and_days_since_last_contact(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    log(db, w.case, w.mentor, occurred_on="2026-10-25")
    log(db, w.case, w.mentor, occurred_on="2026-10-28")
    for day, kind in (("2026-11-20", "medical"), ("2026-11-10", "court_appearance")):
        add_date(
            db,
            w.case,
            w.mentor,
            {"date": day, "time": "10:00", "kind": kind, "place_type": "courthouse"},
        )
    (row,) = mentor_caseload.caseload(db, w.mentor, now=AT, today=TODAY)
    assert (
        row.last_contact == date(2026, 10, 28)
        and row.days_since_contact == (TODAY - date(2026, 10, 28)).days
    )
    assert row.next_at.astimezone(TZ) == datetime(2026, 11, 10, 10, 0, tzinfo=TZ)
    assert row.next_kind == "court_appearance"


def test_upcoming_for_mentor_is_their_window_of_live_dates(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    assign(db, w, w.second_case, w.other_mentor)

    def add(case, mentor, day):
        return add_date(
            db,
            case,
            mentor,
            {"date": day, "time": "09:30", "kind": "medical", "place_type": "hospital_clinic"},
        )

    inside = add(w.case, w.mentor, "2026-11-05")
    cancelled = add(w.case, w.mentor, "2026-11-06")
    add(w.case, w.mentor, "2026-12-20")  # after the window
    add(w.second_case, w.other_mentor, "2026-11-05")  # someone else's case
    mentor_appointments.cancel_appointment(db, w.mentor, cancelled.public_id, at=AT)
    rows = mentor_appointments.upcoming_for_mentor(
        db, w.mentor, start=AT, end=AT + timedelta(days=30)
    )
    assert [r.public_id for r in rows] == [inside.public_id]
    assert rows[0].case_reference == w.case.reference
    with pytest.raises(NotFound):
        mentor_appointments.cancel_appointment(db, w.other_mentor, inside.public_id, at=AT)


def test_appointment_dates_are_checked(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    with pytest.raises(Invalid) as caught:
        add_date(
            db,
            w.case,
            w.mentor,
            {"date": "2026-10-01", "time": "25:00", "kind": "tea", "place_type": ""},
        )
    assert set(caught.value.errors) == {"date", "time", "kind", "place_type"}


# --- the log ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "minutes"),
    [
        ("90", 90),
        ("1:30", 90),
        ("1h30", 90),
        ("1.5h", 90),
        ("2 h 15 min", 135),
        ("45m", 45),
        ("24h", 1440),
    ],
)
def test_durations_people_type(raw, minutes):
    assert mentor_forms.duration_minutes(raw) == minutes


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-30", "cannot be negative"),
        ("-1:00", "cannot be negative"),
        ("0", "at least 1 minute"),
        ("1441", "over 24 hours"),
        ("25h", "over 24 hours"),
        ("99999", "over 24 hours"),
        ("a while", "in minutes"),
        ("", "how long"),
    ],
)
def test_bad_durations_say_what_is_wrong(raw, message):
    with pytest.raises(Invalid) as caught:
        mentor_forms.duration_minutes(raw)
    assert message in caught.value.errors["duration_minutes"]


def test_bad_input_names_every_field_and_saves_nothing(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    before_entries, before_audit = count(db, Accompaniment), len(tags(db))
    with pytest.raises(Invalid) as caught:
        log(
            db,
            w.case,
            w.mentor,
            occurred_on=(TODAY + timedelta(days=2)).isoformat(),
            kind="picnic",
            duration_minutes="-15",
            place_type="123 Real Street",
            outcome="",
        )
    errors = caught.value.errors
    assert set(errors) == {"occurred_on", "kind", "duration_minutes", "place_type", "outcome"}
    assert "future" in errors["occurred_on"]
    assert errors["kind"] == "Choose a kind of accompaniment from the list."
    assert "negative" in errors["duration_minutes"]
    assert count(db, Accompaniment) == before_entries and len(tags(db)) == before_audit


def test_date_window(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    log(db, w.case, w.mentor, occurred_on=(TODAY + timedelta(days=1)).isoformat())  # grace
    with pytest.raises(Invalid):
        log(db, w.case, w.mentor, occurred_on=(TODAY - timedelta(days=400)).isoformat())
    with pytest.raises(Invalid):
        log(db, w.case, w.mentor, occurred_on="not a date")


def test_edit_inside_24_hours_changes_the_entry(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = log(db, w.case, w.mentor)
    at = AT + timedelta(hours=23, minutes=59)
    correct(db, entry, {**ENTRY, "duration_minutes": "120"}, actor=w.mentor, at=at)
    assert entry.duration_minutes == 120 and count(db, AccompanimentAmendment) == 0
    assert tags(db)[-1] == "mentoring:accompaniment:edited"


def test_after_24_hours_a_correction_is_an_amendment_and_the_original_stays(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = log(db, w.case, w.mentor)
    at = AT + timedelta(hours=24, minutes=1)
    with pytest.raises(Invalid) as caught:  # a correction needs its reason
        correct(db, entry, {**ENTRY, "duration_minutes": "120"}, actor=w.mentor, at=at)
    assert "reason" in caught.value.errors and entry.duration_minutes == 90
    with pytest.raises(Forbidden):
        mentoring.delete_accompaniment(db, entry, actor=w.mentor, at=at)
    correct(
        db,
        entry,
        {**ENTRY, "duration_minutes": "120"},
        reason="Typed the wrong time",
        actor=w.mentor,
        at=at,
    )
    db.flush()
    versions = mentoring.entry_versions(db, entry)
    assert [v.values["duration_minutes"] for v in versions] == [90, 120]
    assert versions[0].label == "As first written" and versions[1].reason == "Typed the wrong time"
    assert tags(db)[-1] == "mentoring:accompaniment:amended"
    # The lead of the program sees it; the other program's lead does not.
    lead_viewer = w.lead
    assert mentoring.access_program_entry(db, lead_viewer, entry.public_id) == entry
    with pytest.raises(NotFound):
        mentoring.access_program_entry(db, w.other_lead, entry.public_id)


def test_delete_inside_the_window_keeps_the_row_but_removes_it_everywhere(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = log(db, w.case, w.mentor)
    mentoring.delete_accompaniment(
        db, entry, actor=w.mentor, at=AT + timedelta(hours=23, minutes=59)
    )
    db.flush()
    assert entry.deleted_at is not None
    assert mentoring.program_entries(db, w.program) == []
    report = mentor_reports.build_report(
        db,
        w.program,
        mentor_reports.Period(date(2026, 10, 1), date(2026, 11, 30), 14),
        today=TODAY,
        tz=UTC,
    )
    assert report.total_accompaniments == 0
    with pytest.raises(NotFound):
        mentoring.access_own_entry(db, w.mentor, entry.public_id)
    assert tags(db)[-1] == "mentoring:accompaniment:deleted"


def test_only_the_author_may_change_an_entry(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = log(db, w.case, w.mentor)
    with pytest.raises(NotFound):
        mentoring.access_own_entry(db, w.other_mentor, entry.public_id)
    with pytest.raises(NotFound):
        correct(db, entry, ENTRY, actor=w.other_mentor, at=AT)


# --- reports ----------------------------------------------------------------------------

FIXTURE = [
    # (mentor, case, date, kind, minutes)
    ("mentor", "case", "2026-08-31", "court_appearance", 60),  # before the period
    ("mentor", "case", "2026-09-01", "court_appearance", 90),  # first day
    ("mentor", "case", "2026-09-30", "medical", 45),
    ("mentor", "case", "2026-10-01", "medical", 30),
    ("other_mentor", "second_case", "2026-10-15", "school", 120),
    ("other_mentor", "second_case", "2026-10-31", "court_appearance", 240),  # last day
    ("other_mentor", "second_case", "2026-11-01", "school", 15),  # after the period
]


def test_report_totals_equal_the_fixture_entries_inside_the_period(db, world):
    w = world
    assign(db, w, w.case, w.mentor, at=datetime(2026, 8, 20, 12, 0, tzinfo=TZ))
    assign(db, w, w.second_case, w.other_mentor, at=datetime(2026, 8, 20, 12, 0, tzinfo=TZ))
    for who, case, day, kind, minutes in FIXTURE:
        log(
            db,
            getattr(w, case),
            getattr(w, who),
            occurred_on=day,
            kind=kind,
            duration_minutes=str(minutes),
        )
    # Noise that must never count: another program's entry, and a deleted one.
    assign(db, w, w.case, w.stranger_mentor, reason="x", at=AT + timedelta(seconds=1))
    log(db, w.case, w.stranger_mentor, occurred_on="2026-10-10", duration_minutes="600")
    gone = log(db, w.second_case, w.other_mentor, occurred_on="2026-10-10")
    mentoring.delete_accompaniment(db, gone, actor=w.other_mentor, at=AT)
    db.flush()

    start, end = date(2026, 9, 1), date(2026, 10, 31)
    inside = [f for f in FIXTURE if start.isoformat() <= f[2] <= end.isoformat()]
    period = mentor_reports.Period(start, end, 14)
    report = mentor_reports.build_report(db, w.program, period, today=TODAY, tz=UTC)

    assert report.total_accompaniments == len(inside) == 5
    assert report.total_minutes == sum(f[4] for f in inside)
    by_mentor = {line.mentor_public_id: line for line in report.by_mentor}
    for who in ("mentor", "other_mentor"):
        mine = [f for f in inside if f[0] == who]
        line = by_mentor[getattr(w, who).public_id]
        assert (line.accompaniments, line.minutes) == (len(mine), sum(f[4] for f in mine))
    by_kind = {line.kind: (line.accompaniments, line.minutes) for line in report.by_kind}
    expected = {}
    for _, _, _, kind, minutes in inside:
        n, m = expected.get(kind, (0, 0))
        expected[kind] = (n + 1, m + minutes)
    assert by_kind == expected
    assert sum(line.accompaniments for line in report.by_mentor_kind) == len(inside)
    monthly = {(m.year, m.month, m.kind): m.accompaniments for m in report.monthly}
    assert monthly == {
        (2026, 9, "court_appearance"): 1,
        (2026, 9, "medical"): 1,
        (2026, 10, "medical"): 1,
        (2026, 10, "school"): 1,
        (2026, 10, "court_appearance"): 1,
    }
    # The other program's report holds only its own entry.
    theirs = mentor_reports.build_report(db, w.other_program, period, today=TODAY, tz=UTC)
    assert (theirs.total_accompaniments, theirs.total_minutes) == (1, 600)


def test_amended_values_are_what_reports_count(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = log(db, w.case, w.mentor, occurred_on="2026-10-30")
    correct(
        db,
        entry,
        {**ENTRY, "occurred_on": "2026-10-30", "duration_minutes": "30"},
        reason="wrong length",
        actor=w.mentor,
        at=AT + timedelta(days=2),
    )
    db.flush()
    period = mentor_reports.Period(date(2026, 10, 1), date(2026, 10, 31), 14)
    assert (
        mentor_reports.build_report(db, w.program, period, today=TODAY, tz=UTC).total_minutes == 30
    )


def test_cases_per_mentor_and_no_contact(db, world, keys):
    w = world
    third = make.mdt_case(db, w.coordinating, intake=date(2026, 10, 30))
    assign(db, w, w.case, w.mentor, at=datetime(2026, 10, 1, 12, tzinfo=TZ))
    assign(db, w, w.second_case, w.mentor, at=datetime(2026, 10, 1, 12, tzinfo=TZ))
    assign(db, w, third, w.other_mentor, at=datetime(2026, 10, 31, 12, tzinfo=TZ))
    log(db, w.case, w.mentor, occurred_on="2026-10-30")  # recent contact
    log(db, w.second_case, w.mentor, occurred_on="2026-10-05")  # stale contact
    caseloads = {c.mentor_public_id: c.open_cases for c in mentor_reports.caseloads(db, w.program)}
    assert caseloads == {w.mentor.public_id: 2, w.other_mentor.public_id: 1}
    stale = mentor_reports.no_contact(db, w.program, days=14, today=TODAY, tz=UTC)
    # second_case: last contact 28 days ago; third: assigned 2 days ago, not yet overdue.
    assert [(line.case_reference, line.days) for line in stale] == [
        (w.second_case.reference, (TODAY - date(2026, 10, 5)).days)
    ]
    never = mentor_reports.no_contact(db, w.program, days=1, today=TODAY, tz=UTC)
    assert {line.case_reference for line in never} == {
        w.second_case.reference,
        third.reference,
        w.case.reference,
    }


def test_period_parsing_reports_bad_values():
    with pytest.raises(Invalid) as caught:
        mentor_forms.report_period({"start": "2026-10-10", "end": "2026-10-01"}, today=TODAY)
    assert "end" in caught.value.errors
    with pytest.raises(Invalid) as caught:
        mentor_forms.report_period({"start": "soon", "days": "-3"}, today=TODAY)
    assert set(caught.value.errors) == {"start", "days"}
    default = mentor_forms.report_period({}, today=TODAY)
    assert default.end == TODAY and default.start == date(2026, 9, 1)


def test_chart_stacks_each_month_to_its_total():
    rows = [
        mentor_reports.MonthKind(2026, 9, "court_appearance", 3),
        mentor_reports.MonthKind(2026, 9, "medical", 1),
        mentor_reports.MonthKind(2026, 11, "school", 2),
    ]
    chart = mentor_chart.monthly_chart(rows, date(2026, 9, 1), date(2026, 11, 30))
    assert [m.label for m in chart.months] == ["Sep 26", "Oct 26", "Nov 26"]
    assert len(chart.segments) == 3
    september = [s for s in chart.segments if s.title.startswith("Sep")]
    november = [s for s in chart.segments if s.title.startswith("Nov")]
    # Heights are proportional to the counts: 4 in September, 2 in November.
    assert sum(s.height for s in september) == pytest.approx(
        2 * sum(s.height for s in november), abs=0.2
    )
    assert {item.label for item in chart.legend} == {"Court appearance", "Medical", "School"}
    assert mentor_chart.monthly_chart([], date(2026, 9, 1), date(2026, 9, 30)).empty


def test_the_section_for_the_disclosure_point_holds_only_the_owners_entries(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    log(db, w.case, w.mentor, occurred_on="2026-10-30", follow_up="Call the clinic")
    assign(db, w, w.case, w.stranger_mentor, reason="x", at=AT + timedelta(seconds=1))
    log(db, w.case, w.stranger_mentor, notes="Other program's own note")
    section = catalogue().get("mentor_accompaniment")
    source = AccompanimentLog()

    def lines_for(case_ids):
        wanted = Wanted(w.program.id, 0, section, tuple(case_ids))
        found = source.load(db, wanted, keys=None, cache=SourceCache())
        return found.rows[0].value.splitlines() if found.rows else []

    lines = lines_for([w.case.id])
    assert len(lines) == 1 and lines[0].startswith("2026-10-30: Court appearance, 1 h 30 min")
    assert "follow-up: Call the clinic" in lines[0]
    assert "Synthetic note" not in lines[0]  # the mentor's notes stay in the program
    assert "Other program" not in "".join(lines)
    assert lines_for([]) == []


def test_the_one_case_check_looks_up_that_case_and_never_lists_the_programs(db, world):
    # Listing the program's links and assignments made the check grow with the program.
    one = select(MdtCase.id).where(mentor_assignments._assignable_cases(world.lead, one_case=True))
    sql = str(one.compile(dialect=db.get_bind().dialect))
    assert sql.count("EXISTS (SELECT") == 2 and " IN (SELECT" not in sql


# --- the services take typed inputs -----------------------------------------------------


def typed_entry(**changes) -> mentoring.AccompanimentInput:
    values = dict(
        occurred_on=date(2026, 11, 1),
        kind=AccompanimentKind.MEDICAL,
        duration_minutes=45,
        place_type=PlaceType.HOSPITAL_CLINIC,
        outcome=Outcome.WENT_AHEAD,
    )
    return mentoring.AccompanimentInput(**{**values, **changes})


def test_a_follow_up_written_is_a_follow_up_needed(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = mentoring.log_accompaniment(
        db, w.case, given=typed_entry(follow_up="Call the clinic"), actor=w.mentor, at=AT
    )
    db.flush()
    assert entry.follow_up_needed is True and entry.kind == "medical"
    assert entry.place_type == "hospital_clinic" and entry.notes is None


def test_a_correction_after_the_window_without_a_reason_changes_nothing(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    entry = mentoring.log_accompaniment(db, w.case, given=typed_entry(), actor=w.mentor, at=AT)
    db.flush()
    later = AT + timedelta(hours=25)
    audit_before = len(tags(db))
    for reason in (None, ""):
        with pytest.raises(Invalid) as caught:
            mentoring.correct_accompaniment(
                db,
                entry,
                given=typed_entry(duration_minutes=60),
                reason=reason,
                actor=w.mentor,
                at=later,
            )
        assert caught.value.errors == {"reason": "Reason for the correction is required."}
    assert entry.duration_minutes == 45 and count(db, AccompanimentAmendment) == 0
    assert len(tags(db)) == audit_before


def test_an_appointment_is_stored_in_utc_from_the_mdts_zone(db, world):
    w = world
    assign(db, w, w.case, w.mentor)
    made = mentor_appointments.add_appointment(
        db,
        w.case,
        given=mentor_appointments.AppointmentInput(
            starts_at=datetime(2026, 11, 10, 9, 30, tzinfo=TZ),
            kind=AccompanimentKind.COURT_APPEARANCE,
            place_type=PlaceType.COURTHOUSE,
        ),
        actor=w.mentor,
        at=AT,
    )
    assert made.starts_at == datetime(2026, 11, 10, 14, 30, tzinfo=UTC)
    assert (made.kind, made.place_type) == ("court_appearance", "courthouse")
    with pytest.raises(ValueError, match="time zone"):
        mentor_appointments.AppointmentInput(
            starts_at=datetime(2026, 11, 10, 9, 30),
            kind=AccompanimentKind.COURT_APPEARANCE,
            place_type=PlaceType.COURTHOUSE,
        )
