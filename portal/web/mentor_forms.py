"""The survivor-mentor pages' forms read into the typed values the services take: the
accompaniment log (and its correction), a date on the caseload, and the report's period.
Each field is checked on its own and every bad one reported at once (`validation.collect`),
beside the input it belongs to; what holds between values is the services' to check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo

from portal.errors import Invalid
from portal.models import AccompanimentKind, Outcome, PlaceType
from portal.services import validation
from portal.services.mentor_appointments import APPOINTMENT_HORIZON_DAYS, AppointmentInput
from portal.services.mentor_reports import DEFAULT_NO_CONTACT_DAYS, Period
from portal.services.mentoring import (
    FUTURE_GRACE_DAYS,
    MAX_DURATION_MINUTES,
    PAST_LIMIT_DAYS,
    AccompanimentInput,
)

_DURATION = re.compile(
    r"(?:(?P<h>\d{1,4}(?:[.,]\d{1,2})?)(?:h|hr|hrs|hour|hours))?"
    r"(?:(?P<m>\d{1,5})(?:m|min|mins|minute|minutes)?)?"
)


def duration_minutes(value: object) -> int:
    """Minutes from "90", "1:30", "1h30", "1.5h" or "2 h 15 min"; 1 minute to 24 hours."""
    raw = "".join(str(value if value is not None else "").lower().split())
    if not raw:
        raise Invalid("duration_minutes", "Say how long it took.")
    if raw.startswith("-"):
        raise Invalid("duration_minutes", "The duration cannot be negative.")
    minutes: float | None = None
    if match := re.fullmatch(r"(\d{1,4}):([0-5]\d)", raw):
        minutes = int(match[1]) * 60 + int(match[2])
    elif (match := _DURATION.fullmatch(raw)) and (match["h"] or match["m"]):
        minutes = float((match["h"] or "0").replace(",", ".")) * 60 + int(match["m"] or 0)
    if minutes is None:
        raise Invalid(
            "duration_minutes", "Give the duration in minutes (e.g. 90) or hours (e.g. 1:30)."
        )
    minutes = round(minutes)
    if minutes < 1:
        raise Invalid("duration_minutes", "The duration must be at least 1 minute.")
    if minutes > MAX_DURATION_MINUTES:
        raise Invalid(
            "duration_minutes",
            "A duration over 24 hours is not possible; log each day separately.",
        )
    return minutes


def _occurred_on(value: object, today: date, kept: date | None = None) -> date:
    day = validation.iso_date(value, "occurred_on", label="Date")
    if day == kept:  # a correction leaving the entry's date as it is: however long ago
        return day
    if day > today + timedelta(days=FUTURE_GRACE_DAYS):
        raise Invalid(
            "occurred_on",
            "This date is in the future; log an accompaniment once it has happened "
            "(add upcoming dates under Upcoming).",
        )
    if day < today - timedelta(days=PAST_LIMIT_DAYS):
        raise Invalid("occurred_on", "This date is more than a year ago.")
    return day


def read_accompaniment(
    form: Mapping[str, object], *, today: date, kept: date | None = None
) -> AccompanimentInput:
    """The log form: one accompaniment, dated by the MDT's `today` (or, corrected, the date
    it already has, `kept`)."""
    values = validation.collect(
        occurred_on=lambda: _occurred_on(form.get("occurred_on"), today, kept),
        kind=lambda: validation.member(
            form.get("kind"), "kind", AccompanimentKind, label="Kind of accompaniment"
        ),
        duration_minutes=lambda: duration_minutes(form.get("duration_minutes")),
        place_type=lambda: validation.member(
            form.get("place_type"), "place_type", PlaceType, label="Type of place"
        ),
        outcome=lambda: validation.member(form.get("outcome"), "outcome", Outcome),
        follow_up=lambda: (
            validation.text(form.get("follow_up"), "follow_up", max_length=300, required=False)
            or None
        ),
        notes=lambda: (
            validation.text(
                form.get("notes"), "notes", max_length=4000, required=False, multiline=True
            )
            or None
        ),
    )
    ticked = str(form.get("follow_up_needed") or "") in ("on", "true", "1", "yes")
    return AccompanimentInput(**values, follow_up_needed=ticked)


def read_correction(
    form: Mapping[str, object], *, today: date, reason_required: bool, kept: date | None = None
) -> tuple[AccompanimentInput, str | None]:
    """The edit form: the entry's new values and, once the entry's edit window has passed
    (`reason_required`), the reason for the correction; every bad field at once. The
    entry's own date (`kept`) stays acceptable however long ago it is: only a new date
    must be within the year."""
    checks = {"entry": lambda: read_accompaniment(form, today=today, kept=kept)}
    if reason_required:
        checks["reason"] = lambda: validation.text(
            form.get("reason"), "reason", max_length=300, label="Reason for the correction"
        )
    checked = validation.collect(**checks)
    return checked["entry"], checked.get("reason")


def read_appointment(form: Mapping[str, object], *, tz: tzinfo, now: datetime) -> AppointmentInput:
    """A court date or appointment: from today (in the MDT's zone) up to two years ahead;
    with no time given, 9:00."""
    today = now.astimezone(tz).date()

    def day() -> date:
        value = validation.iso_date(form.get("date"), "date", label="Date")
        if value < today:
            raise Invalid("date", "This date has passed; log what happened as an accompaniment.")
        if value > today + timedelta(days=APPOINTMENT_HORIZON_DAYS):
            raise Invalid("date", "This date is more than two years ahead.")
        return value

    def clock() -> time:
        raw = str(form.get("time") or "").strip()
        try:
            return time.fromisoformat(raw) if raw else time(9, 0)
        except ValueError:
            raise Invalid("time", "Time must look like 14:30.") from None

    values = validation.collect(
        date=day,
        time=clock,
        kind=lambda: validation.member(
            form.get("kind"), "kind", AccompanimentKind, label="Kind of appointment"
        ),
        place_type=lambda: validation.member(
            form.get("place_type"), "place_type", PlaceType, label="Type of place"
        ),
    )
    return AppointmentInput(
        starts_at=validation.wall_clock(values["date"], values["time"], tz=tz, field="time"),
        kind=values["kind"],
        place_type=values["place_type"],
    )


def report_period(query: Mapping[str, str], *, today: date) -> Period:
    """The reports' period (a query string); by default this month and the two before."""
    default = Period.default(today)

    def day(name: str, fallback: date) -> date:
        raw = (query.get(name) or "").strip()
        return validation.domain_date(raw, name, label=name.capitalize()) if raw else fallback

    def days() -> int:
        raw = (query.get("days") or "").strip()
        if not raw:
            return DEFAULT_NO_CONTACT_DAYS
        # isdecimal, not isdigit: int() cannot read a digit such as "²" (a 500 before), nor
        # more than 4,300 digits.
        if not raw.isdecimal() or len(raw) > 3 or not 1 <= int(raw) <= 365:
            raise Invalid("days", "Days without contact must be a whole number from 1 to 365.")
        return int(raw)

    values = validation.collect(
        start=lambda: day("start", default.start),
        end=lambda: day("end", today),
        days=days,
    )
    return Period(values["start"], values["end"], values["days"])  # its range checked there
