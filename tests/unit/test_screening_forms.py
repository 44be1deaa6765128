"""The screening pages' forms, and the client page's compelled-disclosure and the task
list's filters, read in the web layer (issue 13): empty, malformed and out-of-range
fields, the order their errors come in, and the typed values the services are handed."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.errors import Invalid
from portal.models import CompelledBasis
from portal.models.screening import (
    AgeGroup,
    HouseholdRelation,
    ReportRecipient,
    ScreeningAction,
    ScreeningTrigger,
)
from portal.screening_tools import catalogue
from portal.services import mandated_reports, screenings, tasks
from portal.web import forms, screening_forms

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in New York
TODAY = NOW.astimezone(NY).date()

SCREENING = {
    "tool": "cse_it",
    "tool_version": "2.0",
    "screened_at": "2026-11-02T09:15",
    "trigger": "indicator",
    "band": "clear_concern",
    "age_group": "minor",
    "action": "mdt_referral",
    "action_reason": "",
    "notes": "Synthetic  note",
}


def errors_of(read, *args, **kwargs) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        read(*args, **kwargs)
    return caught.value.errors


def read(fields: dict) -> screenings.ScreeningInput:
    return screening_forms.read_screening(fields, tz=NY, now=NOW)


# -- the screening ---------------------------------------------------------------------


def test_a_screening_is_read_into_typed_values():
    given = read(SCREENING)
    assert given.tool is catalogue().get("cse_it") and given.tool_version == "2.0"
    assert given.screened_at == datetime(2026, 11, 2, 9, 15, tzinfo=NY)
    assert given.screened_at.tzinfo is NY  # in the MDT's zone; stored in UTC by the service
    assert given.trigger is ScreeningTrigger.INDICATOR and given.age_group is AgeGroup.MINOR
    assert given.action is ScreeningAction.MDT_REFERRAL
    assert (given.band, given.concern, given.notes) == ("clear_concern", "clear", "Synthetic note")


def test_an_empty_screening_names_each_field_in_the_forms_order():
    errors = errors_of(read, {})
    assert list(errors) == ["tool", "screened_at", "trigger", "age_group", "action"]
    assert errors["tool"] == "Choose the screening tool from the list."
    assert errors["screened_at"] == "Screened is required."


def test_no_action_without_a_reason_is_said_at_once_with_the_other_fields():
    errors = errors_of(read, {**SCREENING, "trigger": "", "action": "none", "action_reason": " "})
    assert errors == {
        "trigger": "Choose a reason for screening from the list.",
        "action_reason": "Say why no action was taken.",
    }


def test_the_tools_version_and_band_are_checked_once_the_fields_are_right():
    errors = errors_of(
        read, {**SCREENING, "tool_version": "9", "band": "positive", "action": "none"}
    )
    assert errors == {
        "tool_version": "Choose a version of Commercial Sexual Exploitation-Identification "
        "Tool (CSE-IT) from the list.",
        "band": "Choose a result band of Commercial Sexual Exploitation-Identification "
        "Tool (CSE-IT).",
        "action_reason": "Say why no action was taken.",
    }


def test_a_tool_with_one_version_needs_no_choice_of_it():
    assert read({**SCREENING, "tool_version": ""}).tool_version == "2.0"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-02 9:15", "Screened: give a date and time, like 2026-03-07 14:30."),
        ("yesterday", "Screened: give a date and time, like 2026-03-07 14:30."),
        ("2026-11-02T09:15+01:00", "Screened: give the local date and time without a zone."),
        ("2026-11-02T10:06", "The screening time cannot be in the future."),
        ("2016-10-01T10:00", "The screening time is more than ten years ago."),
        (  # the night the clocks went from 02:00 to 03:00: not moved to 03:30 unsaid
            "2026-03-08T02:30",
            "02:30 does not exist on 2026-03-08 in the MDT's time zone: the clocks skip it. "
            "Choose another time.",
        ),
    ],
)
def test_the_screening_time(value, message):
    assert errors_of(read, {**SCREENING, "screened_at": value}) == {"screened_at": message}


def test_five_minutes_ahead_is_a_clock_that_runs_fast_not_the_future():
    assert read({**SCREENING, "screened_at": "2026-11-02T10:05"}).screened_at == datetime(
        2026, 11, 2, 10, 5, tzinfo=NY
    )


def test_a_screening_built_by_hand_is_held_to_the_same_rules():
    tool = catalogue().get("cse_it")
    with pytest.raises(Invalid) as caught:
        screenings.ScreeningInput(
            tool=tool,
            tool_version="2.0",
            screened_at=NOW,
            trigger=ScreeningTrigger.INTAKE,
            band="no_concern",
            age_group=AgeGroup.ADULT,
            action=ScreeningAction.NONE,
        )
    assert caught.value.errors == {"action_reason": "Say why no action was taken."}
    with pytest.raises(ValueError, match="time zone"):
        screenings.ScreeningInput(
            tool=tool,
            tool_version="2.0",
            screened_at=datetime(2026, 11, 2, 9, 0),
            trigger=ScreeningTrigger.INTAKE,
            band="no_concern",
            age_group=AgeGroup.ADULT,
            action=ScreeningAction.MDT_REFERRAL,
        )


def test_an_amendments_reason():
    assert errors_of(screening_forms.amendment_reason, {"reason": "  "}) == {
        "reason": "Reason for the amendment is required."
    }
    assert screening_forms.amendment_reason({"reason": " Re-scored. "}) == "Re-scored."


# -- the risk screen -------------------------------------------------------------------


def test_a_household_member():
    given = screening_forms.read_household_member(
        {"relation": "minor_child", "label": " Child A, 6 ", "notes": ""}
    )
    assert given.relation is HouseholdRelation.MINOR_CHILD
    assert (given.label, given.notes) == ("Child A, 6", "")
    errors = errors_of(screening_forms.read_household_member, {})
    assert errors == {
        "relation": "Choose a relation from the list.",
        "label": "How the team refers to them is required.",
    }
    errors = errors_of(
        screening_forms.read_household_member, {"relation": "cousin", "label": "x" * 61}
    )
    assert list(errors) == ["relation", "label"]
    assert errors["label"] == "How the team refers to them must be at most 60 characters."


def test_the_risk_notes_of_the_survivor_and_each_person():
    given = screening_forms.read_risk_notes(
        {"survivor_notes": "Knows the route.", "person_p1": "Agreed adult only.", "person_p2": ""},
        people=["p1", "p2", "p3"],
    )
    assert given.survivor_notes == "Knows the route."
    # p3's field was not sent: p3 keeps what they have.
    assert dict(given.person_notes) == {"p1": "Agreed adult only.", "p2": ""}
    errors = errors_of(screening_forms.read_risk_notes, {"person_p1": "x" * 2001}, people=["p1"])
    assert errors == {
        "survivor_notes": "A note of the survivor's risks is required.",
        "notes": "Their risk notes must be at most 2000 characters.",
    }


# -- a mandated report -----------------------------------------------------------------

STAFF = "staff-public-id"
REPORT = {
    "recipient": "child_abuse_hotline",
    "made_at": "2026-11-02T09:30",
    "made_by": STAFF,
    "report_number": "HL-1",
    "client_told": "yes",
    "client_notice": "",
}


def read_report(fields: dict):
    return screening_forms.read_mandated_report(fields, reporters={STAFF}, tz=NY, now=NOW)


def test_a_report_is_read_into_typed_values():
    given = read_report(REPORT)
    assert given.recipient is ReportRecipient.CHILD_ABUSE_HOTLINE
    assert given.made_at == datetime(2026, 11, 2, 9, 30, tzinfo=NY) and given.made_at.tzinfo is NY
    assert (given.made_by, given.report_number, given.client_told) == (STAFF, "HL-1", True)
    assert given.client_notice is None


def test_whether_the_client_was_told_is_asked_once_the_report_itself_is_right():
    errors = errors_of(read_report, {"client_told": "maybe"})
    assert list(errors) == ["recipient", "made_at", "made_by", "report_number"]
    assert errors["made_by"] == mandated_reports.REPORTER_REFUSED
    errors = errors_of(read_report, {**REPORT, "client_told": "maybe"})
    assert errors == {"client_told": "Say whether the client was told."}
    errors = errors_of(read_report, {**REPORT, "client_told": "no"})
    assert errors == {"client_notice": "Why the client was not told is required."}
    told_later = read_report({**REPORT, "client_told": "no", "client_notice": "When safe."})
    assert (told_later.client_told, told_later.client_notice) == (False, "When safe.")


def test_a_report_made_by_someone_outside_the_agency_or_in_the_future():
    errors = errors_of(
        read_report, {**REPORT, "made_by": "someone-else", "made_at": "2026-11-02T10:06"}
    )
    assert errors == {
        "made_at": "The report cannot have been made in the future.",
        "made_by": mandated_reports.REPORTER_REFUSED,
    }


def test_a_report_a_few_minutes_after_midnight_is_not_yet_a_disclosure_made():
    # Up to five minutes ahead is allowed for the report; its day, as a compelled
    # disclosure, must not be after today (the rule the service also holds to).
    late = datetime(2026, 11, 3, 4, 58, tzinfo=ZoneInfo("UTC"))  # 23:58 in New York
    errors = errors_of(
        screening_forms.read_mandated_report,
        {**REPORT, "made_at": "2026-11-03T00:02"},
        reporters={STAFF},
        tz=NY,
        now=late,
    )
    assert errors == {"disclosed_on": "Record a disclosure once it has been made."}


# -- a compelled disclosure ------------------------------------------------------------

COMPELLED = {
    "recipient": "County court (fictional)",
    "basis": "subpoena",
    "basis_detail": "No. 1",
    "disclosed_on": "2026-11-01",
    "client_told": "yes",
    "client_notice": "",
}


def test_a_compelled_disclosure_is_read_into_typed_values():
    given = forms.compelled_disclosure(
        COMPELLED, sections=["safety_plan", "", "safety_plan", "care_plan"], today=TODAY
    )
    assert given.basis is CompelledBasis.SUBPOENA and given.disclosed_on == date(2026, 11, 1)
    assert given.sections == ("safety_plan", "care_plan") and given.client_told is True
    assert given.client_notice is None


def test_an_empty_compelled_disclosure_names_every_field_in_order():
    errors = errors_of(forms.compelled_disclosure, {}, sections=[], today=TODAY)
    assert list(errors) == [
        "recipient",
        "basis",
        "basis_detail",
        "sections",
        "disclosed_on",
        "client_told",
    ]


@pytest.mark.parametrize(
    ("changes", "sections", "expected"),
    [
        ({}, ["no_such_section"], {"sections": "Choose sections from the list."}),
        (
            {"disclosed_on": (TODAY + timedelta(days=1)).isoformat()},
            ["care_plan"],
            {"disclosed_on": "Record a disclosure once it has been made."},
        ),
        (
            {"client_told": "no", "client_notice": " "},
            ["care_plan"],
            {"client_notice": "Why the client was not told is required."},
        ),
        ({"basis": "rumour"}, ["care_plan"], {"basis": "Choose a legal basis from the list."}),
    ],
)
def test_a_bad_compelled_disclosure_field(changes, sections, expected):
    errors = errors_of(
        forms.compelled_disclosure, {**COMPELLED, **changes}, sections=sections, today=TODAY
    )
    assert errors == expected


# -- the task list's filters -----------------------------------------------------------


def test_task_filters():
    assert forms.task_filter({}) == tasks.TaskFilter()
    given = forms.task_filter(
        {
            "scope": "agency",
            "case": "  MDT-2026-0001-AND-MORE-TEXT ",
            "status": "done",
            "due_from": "2026-11-01",
            "due_to": " ",
        }
    )
    assert given == tasks.TaskFilter(
        scope="agency",
        case_reference="MDT-2026-0001-AND-MO",
        status="done",
        due_from=date(2026, 11, 1),
    )
    assert forms.task_filter({"scope": "everyone"}).scope == "mine"
    errors = errors_of(forms.task_filter, {"due_from": "soon", "due_to": "2026-02-30"})
    assert list(errors) == ["due_from", "due_to"]
    assert errors_of(forms.task_filter, {"status": "lost"}) == {
        "status": "Choose a status from the list."
    }
