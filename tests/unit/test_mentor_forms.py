"""The survivor-mentor forms read in the web layer (issue 13): what each reader makes of
empty, malformed and out-of-range fields, the order its errors come in, and the typed
values it hands the services."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.errors import Invalid
from portal.models import AccompanimentKind, Outcome, PlaceType
from portal.services import mentor_reports
from portal.web import mentor_forms

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in New York
TODAY = NOW.astimezone(NY).date()

ENTRY = {
    "occurred_on": "2026-11-01",
    "kind": "court_appearance",
    "duration_minutes": "1h30",
    "place_type": "courthouse",
    "outcome": "went_ahead",
    "follow_up_needed": "",
    "follow_up": "  Call   the clinic ",
    "notes": "",
}


def errors_of(read, *args, **kwargs) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        read(*args, **kwargs)
    return caught.value.errors


# -- the accompaniment log ------------------------------------------------------------


def test_an_entry_is_read_into_typed_values():
    given = mentor_forms.read_accompaniment(ENTRY, today=TODAY)
    assert given.occurred_on == date(2026, 11, 1)
    assert given.kind is AccompanimentKind.COURT_APPEARANCE
    assert given.place_type is PlaceType.COURTHOUSE and given.outcome is Outcome.WENT_AHEAD
    assert given.duration_minutes == 90 and isinstance(given.duration_minutes, int)
    assert given.follow_up == "Call the clinic" and given.notes is None
    assert given.follow_up_needed is False  # not ticked; the service counts the text


def test_an_empty_entry_names_every_required_field_in_the_forms_order():
    errors = errors_of(mentor_forms.read_accompaniment, {}, today=TODAY)
    assert list(errors) == ["occurred_on", "kind", "duration_minutes", "place_type", "outcome"]
    assert errors["occurred_on"] == "Date must be a date (YYYY-MM-DD)."
    assert errors["kind"] == "Choose a kind of accompaniment from the list."
    assert errors["duration_minutes"] == "Say how long it took."
    assert errors["place_type"] == "Choose a type of place from the list."
    assert errors["outcome"] == "Choose an outcome from the list."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("occurred_on", "2026-13-01", "Date must be a date (YYYY-MM-DD)."),
        ("occurred_on", (TODAY + timedelta(days=2)).isoformat(), "This date is in the future"),
        ("occurred_on", (TODAY - timedelta(days=367)).isoformat(), "more than a year ago"),
        ("kind", "picnic", "Choose a kind of accompaniment from the list."),
        ("duration_minutes", "0", "at least 1 minute"),
        ("duration_minutes", "24h1", "over 24 hours"),
        ("follow_up", "x" * 301, "Follow up must be at most 300 characters."),
        ("notes", "bad\x00byte", "Notes contains an invisible character; retype it"),
        ("notes", "Met at court.\nAna\u202eloS", "Notes contains an invisible character"),
    ],
)
def test_a_bad_field_is_named_beside_its_input(field, value, message):
    errors = errors_of(mentor_forms.read_accompaniment, {**ENTRY, field: value}, today=TODAY)
    assert list(errors) == [field] and message in errors[field]


def test_the_date_window_edges():
    for day in (TODAY + timedelta(days=1), TODAY - timedelta(days=366)):
        given = mentor_forms.read_accompaniment(
            {**ENTRY, "occurred_on": day.isoformat()}, today=TODAY
        )
        assert given.occurred_on == day


@pytest.mark.parametrize("ticked", ["on", "true", "1", "yes"])
def test_the_follow_up_box_ticked(ticked):
    given = mentor_forms.read_accompaniment({**ENTRY, "follow_up_needed": ticked}, today=TODAY)
    assert given.follow_up_needed is True


def test_a_correction_asks_its_reason_only_after_the_window_and_after_the_fields():
    given, reason = mentor_forms.read_correction(
        {**ENTRY, "reason": "ignored inside the window"}, today=TODAY, reason_required=False
    )
    assert given.duration_minutes == 90 and reason is None
    errors = errors_of(
        mentor_forms.read_correction,
        {**ENTRY, "kind": "", "reason": " "},
        today=TODAY,
        reason_required=True,
    )
    assert list(errors) == ["kind", "reason"]
    assert errors["reason"] == "Reason for the correction is required."
    _, reason = mentor_forms.read_correction(
        {**ENTRY, "reason": " Typed  the wrong time "}, today=TODAY, reason_required=True
    )
    assert reason == "Typed the wrong time"


# -- a date on the caseload ------------------------------------------------------------

DATE = {"date": "2026-11-10", "time": "14:30", "kind": "medical", "place_type": "hospital_clinic"}


def test_a_date_is_read_in_the_mdts_zone():
    given = mentor_forms.read_appointment(DATE, tz=NY, now=NOW)
    assert given.starts_at == datetime(2026, 11, 10, 14, 30, tzinfo=NY)
    assert given.starts_at.tzinfo is NY
    assert given.kind is AccompanimentKind.MEDICAL and given.place_type is PlaceType.HOSPITAL_CLINIC
    no_time = mentor_forms.read_appointment({**DATE, "time": " "}, tz=NY, now=NOW)
    assert no_time.starts_at.timetz() == time(9, 0, tzinfo=NY)


def test_a_time_the_clocks_skip_is_refused_and_one_they_pass_twice_is_its_first():
    with pytest.raises(Invalid) as refused:
        mentor_forms.read_appointment(
            {**DATE, "date": "2027-03-14", "time": "02:30"}, tz=NY, now=NOW
        )
    assert refused.value.errors == {
        "time": "02:30 does not exist on 2027-03-14 in the MDT's time zone: the clocks skip it. "
        "Choose another time."
    }
    twice = mentor_forms.read_appointment(
        {**DATE, "date": "2026-11-01", "time": "01:30"},
        tz=NY,
        now=datetime(2026, 10, 30, 12, tzinfo=ZoneInfo("UTC")),
    )
    assert twice.starts_at.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 11, 1, 5, 30, tzinfo=ZoneInfo("UTC")
    )  # 01:30 EDT, the first of the two


def test_an_empty_date_form():
    errors = errors_of(mentor_forms.read_appointment, {}, tz=NY, now=NOW)
    assert list(errors) == ["date", "kind", "place_type"]  # no time means 9:00


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"date": "10/11/2026"}, "date", "Date must be a date (YYYY-MM-DD)."),
        ({"date": "2026-11-01"}, "date", "This date has passed"),
        ({"date": "2028-11-02"}, "date", "more than two years ahead"),
        ({"time": "25:00"}, "time", "Time must look like 14:30."),
        ({"time": "half past two"}, "time", "Time must look like 14:30."),
        ({"kind": "tea"}, "kind", "Choose a kind of appointment from the list."),
    ],
)
def test_a_bad_date_field(changes, field, message):
    errors = errors_of(mentor_forms.read_appointment, {**DATE, **changes}, tz=NY, now=NOW)
    assert list(errors) == [field] and message in errors[field]


def test_today_and_the_horizon_are_inside():
    for day in (TODAY, TODAY + timedelta(days=730)):
        given = mentor_forms.read_appointment({**DATE, "date": day.isoformat()}, tz=NY, now=NOW)
        assert given.starts_at.date() == day


# -- the report's period ---------------------------------------------------------------


@pytest.mark.parametrize("days", ["0", "366", "-3", "ten", "1.5", "²"])
def test_days_without_contact_is_a_whole_number_from_1_to_365(days):
    # "²" is a digit to str.isdigit that int() cannot read: it was a 500.
    errors = errors_of(mentor_forms.report_period, {"days": days}, today=TODAY)
    assert errors == {"days": "Days without contact must be a whole number from 1 to 365."}


def test_a_period_read_and_its_range_checked_by_the_period_itself():
    period = mentor_forms.report_period(
        {"start": "2026-01-01", "end": "2026-06-30", "days": "30"}, today=TODAY
    )
    assert period == mentor_reports.Period(date(2026, 1, 1), date(2026, 6, 30), 30)
    assert mentor_forms.report_period({"days": " "}, today=TODAY).no_contact_days == 14
    with pytest.raises(Invalid) as caught:
        mentor_reports.Period(date(2026, 6, 30), date(2026, 1, 1))
    assert caught.value.errors == {"end": "The end date is before the start date."}
    with pytest.raises(Invalid) as caught:
        mentor_forms.report_period({"start": "2022-01-01", "end": "2026-01-01"}, today=TODAY)
    assert caught.value.errors == {"end": "Choose a period of at most three years."}
    # The fields' own errors come first, all at once; the range only once they are right.
    errors = errors_of(
        mentor_forms.report_period, {"start": "2026-13-01", "end": "x", "days": "0"}, today=TODAY
    )
    assert list(errors) == ["start", "end", "days"]


def test_the_default_period_is_this_month_and_the_two_before():
    assert mentor_reports.Period.default(date(2026, 1, 15)) == mentor_reports.Period(
        date(2025, 11, 1), date(2026, 1, 15)
    )


@pytest.mark.parametrize("typed", ["14:30+05:00", "14:30Z", "14:30:00-08:00"])
def test_a_time_typed_with_a_zone_of_its_own_is_refused_not_moved(typed):
    """Combined with the MDT's zone, its offset was dropped: the appointment was saved at
    14:30 New York time, hours from the time typed (the meeting form did the same)."""
    with pytest.raises(Invalid) as refused:
        mentor_forms.read_appointment({**DATE, "time": typed}, tz=NY, now=NOW)
    assert refused.value.errors == {
        "time": "Give the time on the MDT's clocks, like 14:30, without a time zone."
    }
