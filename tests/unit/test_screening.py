"""Screening, the 24–48 hour risk screen, safety plans and mandated reports (issue 20)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from disclosure_helpers import SECRET_NOTE, release, world
from sqlmodel import func, select

from portal.audit import AuditTag
from portal.disclosure import Released, Withheld
from portal.errors import Conflict, Invalid
from portal.models import (
    AgencyKind,
    AuditEntry,
    Client,
    CompelledBasis,
    CompelledDisclosure,
    Discipline,
    Role,
)
from portal.models.screening import HouseholdRelation, MandatedReport, ReportRecipient
from portal.models.workflow import CaseEvent, CaseEventKind
from portal.requester import Requester
from portal.services import (
    compelled_disclosures,
    mandated_reports,
    risk_screens,
    safety_plans,
    screening_panel,
    screenings,
    section_versions,
    sections,
)
from portal.services.case_summary import owner_block
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

NY = ZoneInfo("America/New_York")


def local(*parts) -> datetime:
    return datetime(*parts, tzinfo=NY)


def coordinating(agency) -> Requester:
    """The agency's MDT coordinator, whose dashboard shows the screening panel."""
    return Requester.of(None, agency, {Role.MDT_COORDINATOR})


def form(when: datetime, *, band="clear_concern", age="minor", action="mdt_referral", **more):
    values = {
        "tool": "cse_it",
        "tool_version": "2.0",
        "screened_at": f"{when.astimezone(NY):%Y-%m-%dT%H:%M}",
        "trigger": "indicator",
        "band": band,
        "age_group": age,
        "action": action,
        "action_reason": "",
        "notes": SECRET_NOTE,
    }
    values.update(more)
    return values


def read(fields: dict, *, at: datetime) -> screenings.ScreeningInput:
    """The form's fields as the web layer reads them, at the moment of the request."""
    return screening_forms.read_screening(fields, tz=NY, now=at)


def screen(db, keys, client, actor, when, *, at=None, finalise=True, window=48, **more):
    at = at or when
    given = read(form(when, **more), at=at)
    made = screenings.start(
        db, client, given=given, actor=actor, keys=keys, at=at, minors=MinorSigning()
    )
    if finalise:
        screenings.finalise(db, made, actor=actor, keys=keys, tz=NY, window_hours=window, at=at)
    db.flush()
    return made


def report(db, made, *, actor, at, **fields):
    """A mandated report as the screening page's form sends it, read by the web layer."""
    client = db.get(Client, made.client_id)
    given = screening_forms.read_mandated_report(
        fields, reporters=mandated_reports.reporters(db, client), tz=NY, now=at
    )
    return mandated_reports.record_report(db, made, given=given, actor=actor, tz=NY, at=at)


@pytest.fixture
def owned(db, keys):
    agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
    staff = make.user(db, agency, Role.ADVOCATE, Role.MDT_COORDINATOR)
    client = make.client_record(db, agency, keys, birth=make.MINOR_BIRTH)
    return agency, staff, client


# -- the clock -------------------------------------------------------------------------


def test_the_clock_is_due_at_exactly_24_hours_and_late_only_after_48(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    assert clock.due_at == identified + timedelta(hours=48)
    second = timedelta(seconds=1)
    assert risk_screens.status(clock, identified + timedelta(hours=24) - second) == "open"
    assert risk_screens.status(clock, identified + timedelta(hours=24)) == "due"
    assert risk_screens.status(clock, identified + timedelta(hours=48)) == "due"
    assert risk_screens.status(clock, identified + timedelta(hours=48) + second) == "overdue"


def test_the_window_is_a_setting_fixed_when_the_clock_starts(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    screen(db, keys, client, staff, identified, window=24)
    clock = risk_screens.open_clock(db, client)
    assert (clock.window_hours, clock.due_at) == (24, identified + timedelta(hours=24))
    assert risk_screens.status(clock, identified + timedelta(hours=24)) == "due"
    assert risk_screens.status(clock, identified + timedelta(hours=24, seconds=1)) == "overdue"


def test_across_midnight_the_deadline_falls_on_the_local_date_two_days_on(db, keys, owned):
    agency, staff, client = owned
    identified = local(2026, 11, 2, 23, 30)  # 04:30 UTC on the 3rd
    screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    assert clock.due_at.astimezone(NY) == local(2026, 11, 4, 23, 30)
    # On the 4th in the MDT's zone (already the 5th in UTC at 23:00 local) it is due today.
    evening = local(2026, 11, 4, 23, 0)
    counts = risk_screens.counts(db, agency.id, now=evening, tz=NY)
    assert (counts.running, counts.due, counts.due_today, counts.overdue) == (1, 1, 1, 0)
    after_midnight = local(2026, 11, 5, 0, 0)
    counts = risk_screens.counts(db, agency.id, now=after_midnight, tz=NY)
    assert (counts.due_today, counts.overdue) == (0, 1)


def test_a_daylight_saving_change_neither_shortens_nor_lengthens_the_window(db, keys, owned):
    _, staff, client = owned
    # 20:00 EST on the Saturday before the spring change (02:00 on Sunday 8 March 2026).
    identified = local(2026, 3, 7, 20, 0)
    screen(db, keys, client, staff, identified, at=identified)
    clock = risk_screens.open_clock(db, client)
    assert clock.due_at - clock.identified_at == timedelta(hours=48)
    # Forty-eight hours lived: 21:00 on the Monday by the local clock, not 20:00.
    assert clock.due_at.astimezone(NY) == local(2026, 3, 9, 21, 0)
    assert risk_screens.status(clock, local(2026, 3, 9, 20, 30)) == "due"
    assert risk_screens.status(clock, local(2026, 3, 9, 21, 0, 1)) == "overdue"
    # 24 hours lived is 21:00 on the Sunday by the local clock.
    assert risk_screens.status(clock, local(2026, 3, 8, 20, 30)) == "open"
    assert risk_screens.status(clock, local(2026, 3, 8, 21, 0)) == "due"


def test_autumn_change_at_exactly_48_hours(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 10, 31, 12, 0)  # EDT; the clocks go back at 02:00 on 1 November
    screen(db, keys, client, staff, identified, at=identified)
    clock = risk_screens.open_clock(db, client)
    assert clock.due_at.astimezone(NY) == local(2026, 11, 2, 11, 0)
    assert risk_screens.status(clock, clock.identified_at + timedelta(hours=48)) == "due"


def test_done_when_the_screen_of_everyone_and_a_first_plan_are_recorded(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    child = risk_screens.add_person(
        db,
        clock,
        given=risk_screens.HouseholdMemberInput(HouseholdRelation.MINOR_CHILD, "Child A, 6"),
        actor=staff,
        keys=keys,
        at=identified + timedelta(hours=1),
    )
    risk_screens.record_screen(
        db,
        clock,
        given=risk_screens.RiskNotesInput("Trafficker knows the school."),
        actor=staff,
        keys=keys,
        at=identified + timedelta(hours=2),
    )
    assert clock.screened_at is None  # the child has no risk notes of their own yet
    sections.save_section(
        db,
        client,
        "safety_plan",
        {"stage": "leaving", "at_home": "Door code changed."},
        actor=staff,
        keys=keys,
        at=identified + timedelta(hours=3),
    )
    assert clock.first_plan_at is not None and clock.done_at is None
    deadline = identified + timedelta(hours=48)
    risk_screens.record_screen(
        db,
        clock,
        given=risk_screens.RiskNotesInput(
            "Trafficker knows the school.",
            {child.public_id: "Collected from school by an agreed adult only."},
        ),
        actor=staff,
        keys=keys,
        at=deadline,
    )
    assert clock.done_at == deadline
    assert risk_screens.status(clock, deadline + timedelta(days=1)) == "done"
    assert risk_screens.open_clock(db, client) is None
    view = risk_screens.view(db, clock, keys=keys, now=deadline)
    assert [p.notes for p in view.people] == ["Collected from school by an agreed adult only."]


def test_only_a_clear_concern_starts_the_clock(db, keys, owned):
    _, staff, client = owned
    screen(db, keys, client, staff, local(2026, 11, 2, 10, 0), band="possible_concern")
    assert risk_screens.open_clock(db, client) is None


def _amend(db, keys, made, when, at, *, band, reason="Re-scored with the tool's guide."):
    return screenings.amend(
        db,
        made,
        given=read(form(when, band=band), at=at),
        reason=reason,
        actor=None,
        keys=keys,
        tz=NY,
        window_hours=48,
        at=at,
        minors=MinorSigning(),
    )


def test_amending_the_band_down_stops_the_running_clock_of_that_identification(db, keys, owned):
    agency, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    locked_at = identified + timedelta(days=7)  # long overdue by now
    assert risk_screens.status(clock, locked_at) == "overdue"
    _amend(db, keys, made, identified, locked_at, band="no_concern")
    db.flush()
    db.refresh(clock)
    # Stopped at the amendment, to the second: not running, not done, not late.
    assert clock.stopped_at == locked_at and clock.done_at is None
    assert risk_screens.status(clock, locked_at) == "stopped"
    assert risk_screens.open_clock(db, client) is None
    counts = risk_screens.counts(db, agency.id, now=locked_at, tz=NY)
    assert (counts.running, counts.due, counts.overdue) == (0, 0, 0)
    assert risk_screens.running_rows(db, agency.id, now=locked_at) == []
    with pytest.raises(Invalid):  # nothing more is recorded under a stopped clock
        risk_screens.require_running(clock)
    tags = db.exec(select(AuditEntry.tag).where(AuditEntry.agency_id == agency.id)).all()
    assert AuditTag.RISK_SCREEN_STOPPED in tags
    # A clear concern again: the same clock runs again, with the deadline it always had.
    later = locked_at + timedelta(hours=1)
    _amend(db, keys, made, identified, later, band="clear_concern", reason="Second opinion.")
    db.flush()
    assert risk_screens.open_clock(db, client).id == clock.id
    assert clock.stopped_at is None and clock.due_at == identified + timedelta(hours=48)
    assert risk_screens.status(clock, later) == "overdue"


def test_an_edit_to_a_possible_concern_inside_the_seven_days_stops_it_too(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    # The edge: the last second before the lock is an edit, and "possible" identifies no one.
    at = identified + timedelta(days=7) - timedelta(seconds=1)
    screenings.edit(
        db,
        made,
        given=read(form(identified, band="possible_concern"), at=at),
        actor=staff,
        keys=keys,
        tz=NY,
        window_hours=48,
        at=at,
        minors=MinorSigning(),
    )
    db.flush()
    assert clock.stopped_at == at and risk_screens.open_clock(db, client) is None


def test_a_clock_already_done_stays_done_when_the_band_goes_down(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    done = identified + timedelta(hours=30)
    risk_screens.record_screen(
        db,
        clock,
        given=risk_screens.RiskNotesInput("Synthetic risks."),
        actor=staff,
        keys=keys,
        at=done,
    )
    risk_screens.plan_recorded(db, client, at=done)
    _amend(db, keys, made, identified, identified + timedelta(days=7), band="no_concern")
    db.flush()
    assert (clock.done_at, clock.stopped_at) == (done, None)
    assert risk_screens.status(clock, done) == "done"


def test_another_clear_concern_keeps_the_survivor_identified(db, keys, owned):
    _, staff, client = owned
    first = local(2026, 11, 2, 10, 0)
    second = local(2026, 11, 3, 9, 0)
    made = screen(db, keys, client, staff, first)
    screen(db, keys, client, staff, second)  # absorbed: the first clock already runs
    clock = risk_screens.open_clock(db, client)
    assert clock.identified_at == first
    _amend(db, keys, made, first, first + timedelta(days=7), band="no_concern")
    db.flush()
    running = risk_screens.open_clock(db, client)
    assert clock.stopped_at is not None and running.id != clock.id
    assert running.identified_at == second
    assert running.due_at == second + timedelta(hours=48)


# -- the seven-day lock ----------------------------------------------------------------


def test_editable_for_seven_days_after_finalising_then_locked_and_amended(db, keys, owned):
    _, staff, client = owned
    finalised = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, finalised, band="possible_concern")
    just_before = finalised + timedelta(days=7) - timedelta(seconds=1)
    screenings.edit(
        db,
        made,
        given=read(
            form(finalised, band="possible_concern", notes="Corrected the same week."),
            at=just_before,
        ),
        actor=staff,
        keys=keys,
        tz=NY,
        window_hours=48,
        at=just_before,
        minors=MinorSigning(),
    )
    locked_at = finalised + timedelta(days=7)
    with pytest.raises(Conflict):
        screenings.edit(
            db,
            made,
            given=read(form(finalised, band="no_concern"), at=locked_at),
            actor=staff,
            keys=keys,
            tz=NY,
            window_hours=48,
            at=locked_at,
            minors=MinorSigning(),
        )
    with pytest.raises(Invalid):  # an amendment needs its reason
        screenings.amend(
            db,
            made,
            given=read(form(finalised, band="clear_concern"), at=locked_at),
            reason="",
            actor=staff,
            keys=keys,
            tz=NY,
            window_hours=48,
            at=locked_at,
            minors=MinorSigning(),
        )
    screenings.amend(
        db,
        made,
        given=read(
            form(finalised, band="clear_concern", notes="Corrected the same week."), at=locked_at
        ),
        reason="The tool's guide was misread.",
        actor=staff,
        keys=keys,
        tz=NY,
        window_hours=48,
        at=locked_at,
        minors=MinorSigning(),
    )
    view = screenings.screening_view(db, made, keys=keys, tz=NY)
    assert view.band_label == "Clear concern"
    (amendment,) = view.amendments
    assert amendment.changes == {"band": ["Possible concern", "Clear concern"]}
    # The amendment is kept in the section partners may be shown, too.
    content = section_versions.open_content(
        db, section_versions.latest(db, client, "screening"), keys=keys
    )
    assert "The tool's guide was misread." in content["amendments"]
    assert content["result"] == "Clear concern"
    # A clear concern by amendment starts the clock from the time of the screening.
    assert risk_screens.open_clock(db, client).identified_at == finalised


def test_no_action_needs_a_reason(db, keys, owned):
    _, staff, client = owned
    with pytest.raises(Invalid) as error:
        screen(db, keys, client, staff, local(2026, 11, 2, 10, 0), action="none")
    assert set(error.value.errors) == {"action_reason"}


# -- a clear concern is not a case on its own ------------------------------------------


def test_a_minor_with_a_clear_concern_flags_the_coordinator_until_the_mdt_path_starts(
    db, keys, owned
):
    agency, staff, client = owned
    when = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, when)
    total, rows = screenings.minors_without_case(db, agency.id)
    assert total == 1 and rows[0].client_id == client.public_id
    case = screenings.start_mdt_path(
        db,
        made,
        agency,
        referral_source="community_agency",
        actor=staff,
        at=when,
        tz=NY,
        today=when.date(),
        window_days=14,
    )
    assert case.intake_date == when.date()
    assert screenings.minors_without_case(db, agency.id)[0] == 0


def test_an_adults_screening_is_shared_only_after_their_yes(db, keys, owned):
    agency, staff, _minor = owned
    client = make.client_record(db, agency, keys)  # an adult
    when = local(2026, 11, 2, 10, 0)
    made = screen(db, keys, client, staff, when, age="adult")
    assert section_versions.latest(db, client, "screening") is None
    with pytest.raises(Invalid):
        screenings.start_mdt_path(
            db,
            made,
            agency,
            referral_source="self",
            actor=staff,
            at=when,
            tz=NY,
            today=when.date(),
            window_days=14,
        )
    screenings.record_choice(db, made, choice="yes", actor=staff, keys=keys, tz=NY, at=when)
    shared = section_versions.open_content(
        db, section_versions.latest(db, client, "screening"), keys=keys
    )
    assert shared["notes"] == SECRET_NOTE
    screenings.record_choice(db, made, choice="not_now", actor=staff, keys=keys, tz=NY, at=when)
    withdrawn = section_versions.open_content(
        db, section_versions.latest(db, client, "screening"), keys=keys
    )
    assert SECRET_NOTE not in repr(withdrawn)


# -- safety plans ----------------------------------------------------------------------


def test_a_move_marks_the_plan_due_for_review_at_once(db, keys, owned):
    agency, staff, client = owned
    at = local(2026, 11, 2, 10, 0)
    sections.save_section(
        db,
        client,
        "safety_plan",
        {"stage": "after leaving", "review_date": "2027-01-15"},
        actor=staff,
        keys=keys,
        at=at,
    )
    sections.save_section(
        db,
        client,
        "placement_housing",
        {"placement_type": "shelter"},
        actor=staff,
        keys=keys,
        at=at,
    )
    today = at.date()
    assert safety_plans.due_for_review(db, agency.id, today=today)[0] == 0  # first placement
    sections.save_section(
        db,
        client,
        "placement_housing",
        {"placement_type": "kinship", "moved_on": "2026-11-02"},
        actor=staff,
        keys=keys,
        at=at,
    )
    total, (row,) = safety_plans.due_for_review(db, agency.id, today=today)
    assert total == 1 and row.after_move
    sections.save_section(
        db,
        client,
        "safety_plan",
        {"stage": "after leaving", "review_date": "2027-01-15"},
        actor=staff,
        keys=keys,
        at=at,
    )
    assert safety_plans.due_for_review(db, agency.id, today=today)[0] == 0
    past = safety_plans.due_for_review(db, agency.id, today=today.replace(year=2027, month=2))
    assert past[0] == 1 and not past[1][0].after_move


def test_every_plan_version_writes_the_strategies_section_without_risks_or_notes(db, keys, owned):
    _, staff, client = owned
    sections.save_section(
        db,
        client,
        "safety_plan",
        {
            "risks": SECRET_NOTE,
            "agency_notes": SECRET_NOTE,
            "safe_address": "1 Example Row",
            "emergency_contacts": "Advocate line",
            "online_phone": "New number",
        },
        actor=staff,
        keys=keys,
        at=make.AT,
    )
    strategies = section_versions.open_content(
        db, section_versions.latest(db, client, "safety_strategies"), keys=keys
    )
    assert strategies["emergency_contacts"] == "Advocate line"
    assert SECRET_NOTE not in repr(strategies) and "Example Row" not in repr(strategies)


# -- partners: placeholders, and the survivor-mentor -----------------------------------


def _shared_plan_and_screening(db, keys, w):
    sections.save_section(
        db,
        w.client,
        "safety_plan",
        {
            "risks": SECRET_NOTE,
            "agency_notes": SECRET_NOTE,
            "emergency_contacts": "Advocate line",
            "at_home": "Door code changed.",
        },
        actor=w.owner_staff,
        keys=keys,
        at=make.AT,
    )
    screen(db, keys, w.client, w.owner_staff, make.AT - timedelta(hours=1), at=make.AT)


def _by_key(decisions):
    return {d.section.key: d for d in decisions}


def test_a_partner_without_a_release_sees_placeholders_only(db, keys):
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, birth=make.MINOR_BIRTH)
    _shared_plan_and_screening(db, keys, w)
    blocks = _by_key(
        owner_block(
            db,
            w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
            w.case,
            w.owner,
            at=make.AT + timedelta(hours=1),
            tz=UTC,
            keys=keys,
        )
    )
    for key in ("screening", "safety_plan", "safety_strategies"):
        assert isinstance(blocks[key], Withheld), key
    assert SECRET_NOTE not in repr(blocks)


def test_with_a_release_the_partner_sees_the_screening_band_and_plan(db, keys):
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, birth=make.MINOR_BIRTH)
    _shared_plan_and_screening(db, keys, w)
    release(db, keys, w, ["screening", "safety_plan"])
    blocks = _by_key(
        owner_block(
            db,
            w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
            w.case,
            w.owner,
            at=make.AT + timedelta(hours=1),
            tz=UTC,
            keys=keys,
        )
    )
    assert isinstance(blocks["screening"], Released)
    assert "Clear concern" in [r.value for r in blocks["screening"].content.rows]
    assert isinstance(blocks["safety_strategies"], Withheld)  # not named in the release


def test_a_survivor_mentor_sees_strategies_and_contacts_only_under_policy_and_release(db, keys):
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY, birth=make.MINOR_BIRTH)
    _shared_plan_and_screening(db, keys, w)
    mentor = w.viewer(Role.SURVIVOR_MENTOR)
    later = make.AT + timedelta(hours=1)

    def blocks():
        return _by_key(
            owner_block(
                db, mentor.asking("care_coordination"), w.case, w.owner, at=later, tz=UTC, keys=keys
            )
        )

    assert isinstance(blocks()["safety_strategies"], Withheld)  # no release yet
    release(
        db, keys, w, ["safety_plan", "safety_strategies", "screening"], purpose="care_coordination"
    )
    seen = blocks()
    strategies = seen["safety_strategies"]
    assert isinstance(strategies, Released)
    values = {r.label: r.value for r in strategies.content.rows}
    assert values["Emergency contacts"] == "Advocate line"
    assert values["At home"] == "Door code changed."
    # Released to the mentor's agency, the whole plan and the screening still stay with
    # the owner: the policy gives a survivor-mentor neither.
    assert isinstance(seen["safety_plan"], Withheld) and seen["safety_plan"].gate == "policy"
    assert isinstance(seen["screening"], Withheld) and seen["screening"].gate == "policy"
    assert SECRET_NOTE not in repr(seen)


# -- mandated reports ------------------------------------------------------------------


def test_a_mandated_report_is_a_compelled_disclosure_on_the_timeline_and_in_the_figures(db, keys):
    w = world(
        db,
        keys,
        owner_discipline=Discipline.ADVOCACY,
        partner_kind=AgencyKind.SYSTEM,
        birth=make.MINOR_BIRTH,
    )
    made = screen(db, keys, w.client, w.owner_staff, make.AT - timedelta(hours=2), at=make.AT)
    report(
        db,
        made,
        recipient="child_abuse_hotline",
        made_at=f"{(make.AT - timedelta(hours=1)).astimezone(NY):%Y-%m-%dT%H:%M}",
        made_by=w.owner_staff.public_id,
        report_number="HL-2026-000123",
        client_told="yes",
        actor=w.owner_staff,
        at=make.AT,
    )
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.tag == AuditTag.MANDATED_REPORT_MADE
        )
    ).one()
    assert entry.tag == "record:mandated_report:made"
    assert entry.subject == w.client.public_id
    assert '"compelled":true' in entry.detail and "HL-2026-000123" in entry.detail
    (event,) = db.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == w.case.id, CaseEvent.kind == CaseEventKind.MANDATED_REPORT
        )
    ).all()
    assert "child-abuse hotline" in event.reason and "HL-2026" not in event.reason
    # The agency that made it counts it; the coordinator (the partner coordinates the case)
    # does not: its own records hold no such report, and the owner released nothing.
    since = make.AT - timedelta(days=30)
    assert mandated_reports.count_recent(db, w.owner.id, since=since) == 1
    assert mandated_reports.count_recent(db, w.partner.id, since=since) == 0
    panel = screening_panel.screening_panel(
        db,
        w.partner,
        requester=coordinating(w.partner),
        now=make.AT,
        tz=NY,
        today=make.AT.astimezone(NY).date(),
    )
    assert panel.reports_recent == 0


def test_a_mandated_report_is_for_a_minor(db, keys, owned):
    agency, staff, _minor = owned
    client = make.client_record(db, agency, keys)  # an adult
    made = screen(db, keys, client, staff, local(2026, 11, 2, 9, 0), age="adult")
    with pytest.raises(Invalid) as caught:
        mandated_reports.record_report(
            db,
            made,
            given=mandated_reports.MandatedReportInput(
                recipient=ReportRecipient.LAW_ENFORCEMENT,
                made_at=local(2026, 11, 2, 9, 30),
                made_by=staff.public_id,
                report_number="X-1",
                client_told=True,
            ),
            actor=staff,
            tz=NY,
            at=datetime(2026, 11, 2, 16, 0, tzinfo=UTC),
        )
    assert caught.value.errors == {"recipient": "Mandated reports are recorded for minors."}


def test_the_coordinator_panel_counts_drafts_clocks_and_plans(db, keys, owned):
    agency, staff, client = owned
    begun = local(2026, 11, 2, 9, 0)
    screen(db, keys, client, staff, begun, finalise=False)
    other = make.client_record(db, agency, keys, birth=make.MINOR_BIRTH)
    screen(db, keys, other, staff, begun)
    later = begun + timedelta(hours=49)
    panel = screening_panel.screening_panel(
        db, agency, requester=coordinating(agency), now=later, tz=NY, today=later.date()
    )
    assert (panel.drafts_total, panel.drafts_overdue) == (1, 1)
    assert panel.clock_counts.overdue == 1 and panel.clocks[0].status == "overdue"
    assert panel.minors_total == 1


def test_a_mandated_report_enters_the_accounting_as_a_compelled_disclosure(db, keys):
    """Issue 20: the report is a disclosure the law compels, in the client's accounting."""
    from portal.services import audit_log

    w = world(
        db,
        keys,
        owner_discipline=Discipline.ADVOCACY,
        partner_kind=AgencyKind.SYSTEM,
        birth=make.MINOR_BIRTH,
    )
    made = screen(db, keys, w.client, w.owner_staff, make.AT - timedelta(hours=2), at=make.AT)
    report(
        db,
        made,
        recipient="child_abuse_hotline",
        made_at=f"{(make.AT - timedelta(hours=1)).astimezone(NY):%Y-%m-%dT%H:%M}",
        made_by=w.owner_staff.public_id,
        report_number="HL-2026-000777",
        client_told="no",
        client_notice="Told at the next visit, when it is safe.",
        actor=w.owner_staff,
        at=make.AT,
    )
    accounting = audit_log.accounting(
        db, w.owner, w.client.public_id, actor=w.owner_staff, at=make.AT
    )
    compelled = [row for row in accounting.rows if row.entry.purpose == "compelled"]
    assert compelled and compelled[0].entry.section_key == "screening"
    (kept,) = accounting.compelled.values()
    assert kept.basis == "mandated_report" and "HL-2026-000777" in kept.basis_detail
    assert not kept.client_told


def test_the_coordinators_report_figure_reads_the_reports_not_the_cases(db):
    """The figure was counted from every case the coordinator's agency coordinates (x1.6
    on the dashboard at 100,000 cases); it starts from the reports, which are few."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plan is read; PostgreSQL's follows its statistics")
    statement = mandated_reports.recent_reports(1, make.AT)
    compiled = statement.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    plan = " | ".join(
        str(row[-1]) for row in db.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
    )
    assert plan.startswith("SCAN mandated_report") or "mandated_report" in plan.split("|")[0]
    assert "SCAN mdt_case" not in plan


def test_screening_due_is_a_setting_overdue_only_after_its_hours(db, keys, owned):
    agency, staff, client = owned
    begun = local(2026, 11, 2, 9, 0)
    screen(db, keys, client, staff, begun, finalise=False)

    def drafts(now, hours):
        panel = screening_panel.screening_panel(
            db,
            agency,
            requester=coordinating(agency),
            now=now,
            tz=NY,
            today=now.date(),
            due_hours=hours,
        )
        return panel.drafts_total, panel.drafts_overdue, panel.due_hours

    # The default, 24 hours: exactly at 24 still due; a second later overdue.
    assert drafts(begun + timedelta(hours=24), 24) == (1, 0, 24)
    assert drafts(begun + timedelta(hours=24, seconds=1), 24) == (1, 1, 24)
    # Set to 72 hours, the same screening is not overdue until three days have passed.
    assert drafts(begun + timedelta(hours=48), 72) == (1, 0, 72)
    assert drafts(begun + timedelta(hours=72, seconds=1), 72) == (1, 1, 72)


# -- the services take typed inputs ----------------------------------------------------


def test_a_report_naming_someone_outside_the_agency_writes_nothing(db, keys, owned):
    _, staff, client = owned
    made = screen(db, keys, client, staff, local(2026, 11, 2, 9, 0))
    stranger = make.user(db, make.agency(db, keys), Role.ADVOCATE)
    before = db.exec(select(func.count(AuditEntry.id))).one()
    with pytest.raises(Invalid) as caught:
        mandated_reports.record_report(
            db,
            made,
            given=mandated_reports.MandatedReportInput(
                recipient=ReportRecipient.CHILD_ABUSE_HOTLINE,
                made_at=local(2026, 11, 2, 9, 30),
                made_by=stranger.public_id,
                report_number="HL-9",
                client_told=True,
            ),
            actor=staff,
            tz=NY,
            at=local(2026, 11, 2, 10, 0),
        )
    assert caught.value.errors == {"made_by": mandated_reports.REPORTER_REFUSED}
    assert db.exec(select(func.count(MandatedReport.id))).one() == 0
    assert db.exec(select(func.count(AuditEntry.id))).one() == before
    assert mandated_reports.reporters(db, client) == {staff.public_id}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"disclosed_on": date(2026, 11, 3)},
            {"disclosed_on": "Record a disclosure once it has been made."},
        ),
        (
            {"client_told": False, "client_notice": None},
            {"client_notice": "Why the client was not told is required."},
        ),
    ],
)
def test_a_compelled_disclosure_built_by_hand_is_held_to_its_rules(
    db, keys, owned, changes, expected
):
    _, staff, client = owned
    given = compelled_disclosures.CompelledDisclosureInput(
        recipient="County court (fictional)",
        basis=CompelledBasis.COURT_ORDER,
        basis_detail="Order no. 7 (fictional)",
        sections=("care_plan",),
        disclosed_on=date(2026, 11, 2),
        client_told=True,
    )
    with pytest.raises(Invalid) as caught:
        compelled_disclosures.record_compelled_disclosure(
            db,
            client,
            given=replace(given, **changes),
            today=date(2026, 11, 2),
            actor=staff,
            at=local(2026, 11, 2, 10, 0),
        )
    assert caught.value.errors == expected
    assert db.exec(select(func.count(CompelledDisclosure.id))).one() == 0
    kept = compelled_disclosures.record_compelled_disclosure(
        db, client, given=given, today=date(2026, 11, 2), actor=staff, at=local(2026, 11, 2, 10)
    )
    assert (kept.basis, kept.client_told, kept.client_notice) == ("court_order", True, None)


def test_risk_notes_need_the_survivors_own(db, keys, owned):
    _, staff, client = owned
    identified = local(2026, 11, 2, 10, 0)
    screen(db, keys, client, staff, identified)
    clock = risk_screens.open_clock(db, client)
    with pytest.raises(Invalid) as caught:
        risk_screens.record_screen(
            db,
            clock,
            given=risk_screens.RiskNotesInput(""),
            actor=staff,
            keys=keys,
            at=identified + timedelta(hours=1),
        )
    assert caught.value.errors == {"survivor_notes": "A note of the survivor's risks is required."}
    assert clock.screened_at is None
