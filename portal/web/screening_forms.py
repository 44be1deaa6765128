"""The screening pages' forms read into the typed values the services take: a screening
(started, edited or amended), the risk screen's household members and notes, and a
mandated report. Each field is checked on its own and every bad one reported at once
(`validation.collect`), beside the input it belongs to; what holds between values is the
services' to check (`ScreeningInput` refuses a band or version that is not the tool's)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo

from portal.errors import Invalid
from portal.models.screening import (
    AgeGroup,
    HouseholdRelation,
    ReportRecipient,
    ScreeningAction,
    ScreeningTrigger,
)
from portal.screening_tools import Tool, catalogue
from portal.services import compelled_disclosures, validation
from portal.services.mandated_reports import NUMBER_MAX, REPORTER_REFUSED, MandatedReportInput
from portal.services.risk_screens import (
    LABEL_MAX,
    NOTE_MAX,
    HouseholdMemberInput,
    RiskNotesInput,
)
from portal.services.screenings import NOTES_MAX, REASON_MAX, ScreeningInput
from portal.web.forms import client_told_checks


def local_datetime(value: object, field: str, tz: tzinfo, *, label: str) -> datetime:
    """A date and time typed in the MDT's zone (an HTML datetime-local value), zone-aware
    in that zone."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(field, f"{label} is required.")
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(field, f"{label}: give a date and time, like 2026-03-07 14:30.") from None
    if naive.tzinfo is not None:
        raise Invalid(field, f"{label}: give the local date and time without a zone.")
    # Inside the MDT's date window first: a time at the calendar's edge (9999-12-31 23:59,
    # 0001-01-01) cannot be turned into UTC, and no screening or report is dated there.
    validation.domain_date(naive.date().isoformat(), field, label=label)
    return validation.wall_clock(naive.date(), naive.time(), tz=tz, field=field)


def read_screening(form: Mapping[str, object], *, tz: tzinfo, now: datetime) -> ScreeningInput:
    """The screening form: every bad field reported at once, each beside its own field;
    then the version, the band and the reason for no action, which depend on the tool and
    the action chosen."""

    def tool() -> Tool:
        found = catalogue().get(form.get("tool") or "")
        if found is None:
            raise Invalid("tool", "Choose the screening tool from the list.")
        return found

    def screened_at() -> datetime:
        when = local_datetime(form.get("screened_at"), "screened_at", tz, label="Screened")
        if when > now + timedelta(minutes=5):
            raise Invalid("screened_at", "The screening time cannot be in the future.")
        if when < now - timedelta(days=3650):
            raise Invalid("screened_at", "The screening time is more than ten years ago.")
        return when

    checks = dict(
        tool=tool,
        screened_at=screened_at,
        trigger=lambda: validation.member(
            form.get("trigger"), "trigger", ScreeningTrigger, label="Reason for screening"
        ),
        age_group=lambda: validation.member(
            form.get("age_group"), "age_group", AgeGroup, label="Age group"
        ),
        action=lambda: validation.member(
            form.get("action"), "action", ScreeningAction, label="Action taken"
        ),
        action_reason=lambda: validation.text(
            form.get("action_reason"),
            "action_reason",
            max_length=REASON_MAX,
            required=False,
            label="Reason for no action",
            multiline=True,
        ),
        notes=lambda: validation.text(
            form.get("notes"),
            "notes",
            max_length=NOTES_MAX,
            required=False,
            label="Notes",
            multiline=True,
        ),
    )
    try:
        values = validation.collect(**checks)
    except Invalid as error:
        # Say at once, too, what the other fields' rule will ask for.
        errors = dict(error.errors)
        if (
            form.get("action") == ScreeningAction.NONE
            and not str(form.get("action_reason") or "").strip()
        ):
            errors.setdefault("action_reason", "Say why no action was taken.")
        raise Invalid.of(errors) from None
    found: Tool = values["tool"]
    # A tool with one version needs no choice of it.
    version = form.get("tool_version") or (found.versions[0] if len(found.versions) == 1 else "")
    return ScreeningInput(
        **values,
        tool_version=version if isinstance(version, str) else "",
        band=str(form.get("band") or ""),
    )


def amendment_reason(form: Mapping[str, object]) -> str:
    """The reason an amendment needs, read (and refused) before its fields."""
    return validation.text(
        form.get("reason"),
        "reason",
        max_length=REASON_MAX,
        label="Reason for the amendment",
        multiline=True,
    )


def read_household_member(form: Mapping[str, object]) -> HouseholdMemberInput:
    """Someone the risk screen must cover, as the add form names them."""
    values = validation.collect(
        relation=lambda: validation.member(form.get("relation"), "relation", HouseholdRelation),
        label=lambda: validation.text(
            form.get("label"), "label", max_length=LABEL_MAX, label="How the team refers to them"
        ),
        notes=lambda: validation.text(
            form.get("notes"),
            "notes",
            max_length=NOTE_MAX,
            required=False,
            label="Their risk notes",
            multiline=True,
        ),
    )
    return HouseholdMemberInput(**values)


def read_risk_notes(form: Mapping[str, object], *, people: Iterable[str]) -> RiskNotesInput:
    """The risk screen's notes: the survivor's, and those of each person the screen covers
    (`people`, their public ids) whose field the form holds (`person_<public id>`)."""
    checks = {
        "survivor_notes": lambda: validation.text(
            form.get("survivor_notes"),
            "survivor_notes",
            max_length=NOTE_MAX,
            label="A note of the survivor's risks",
            multiline=True,
        )
    }
    for public_id in people:
        given = form.get(f"person_{public_id}")
        if given is not None:
            checks[f"person_{public_id}"] = lambda given=given: validation.text(
                given,
                "notes",
                max_length=NOTE_MAX,
                required=False,
                label="Their risk notes",
                multiline=True,
            )
    values = validation.collect(**checks)
    survivor = values.pop("survivor_notes")
    return RiskNotesInput(
        survivor_notes=survivor,
        person_notes={key.removeprefix("person_"): notes for key, notes in values.items()},
    )


def read_mandated_report(
    form: Mapping[str, object], *, reporters: Collection[str], tz: tzinfo, now: datetime
) -> MandatedReportInput:
    """A mandated report: to whom, when, by whom (one of `reporters`, the public ids of the
    agency's staff) and its number; once those are right, whether the client was told,
    checked as a compelled disclosure's form checks it (the report is one)."""

    def when() -> datetime:
        value = local_datetime(form.get("made_at"), "made_at", tz, label="When the report was made")
        if value > now + timedelta(minutes=5):
            raise Invalid("made_at", "The report cannot have been made in the future.")
        return value

    def reporter() -> str:
        made_by = form.get("made_by")
        if not isinstance(made_by, str) or made_by not in reporters:
            raise Invalid("made_by", REPORTER_REFUSED)
        return made_by

    values = validation.collect(
        recipient=lambda: validation.member(
            form.get("recipient"), "recipient", ReportRecipient, label="Made to"
        ),
        made_at=when,
        made_by=reporter,
        report_number=lambda: validation.text(
            form.get("report_number"), "report_number", max_length=NUMBER_MAX, label="Report number"
        ),
    )
    told = validation.collect(
        disclosed_on=lambda: compelled_disclosures.check_disclosed_on(
            values["made_at"].date(), now.astimezone(tz).date()
        ),
        **client_told_checks(form),
    )
    return MandatedReportInput(
        **values, client_told=told["client_told"], client_notice=told["client_notice"] or None
    )
