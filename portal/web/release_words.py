"""A release's status in the words of the page's reader (issue 19).

The consent library says a status in English with ISO dates, as staff pages show it; a
page read with the survivor (one naming a `language`) says the same state and reason
through the catalogues, its date written out in that language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo

import consent
from portal import i18n
from portal.i18n import N_

STATE_LABELS = {
    consent.ReleaseState.NOT_YET_EFFECTIVE: N_("Not yet effective"),
    consent.ReleaseState.ACTIVE: N_("Active"),
    consent.ReleaseState.EXPIRED: N_("Expired"),
    consent.ReleaseState.REVOKED: N_("Revoked"),
}
REASONS = {
    consent.ReleaseState.NOT_YET_EFFECTIVE: N_("the release takes effect on %(date)s"),
    consent.ReleaseState.ACTIVE: N_("the release is in effect until %(date)s"),
    consent.ReleaseState.EXPIRED: N_("the release expired on %(date)s"),
    consent.ReleaseState.REVOKED: N_("the release was revoked on %(date)s"),
}
NO_END_DATE = N_("the release has no end date, so it cannot be used")

# What the new-release form can refuse, worded as its checks word it (web/release_forms.py,
# services/release_forms.py, services/validation.py). The form is filled in with the
# client, in the client's language, so a refusal is said in that language too.
FORM_REFUSALS = (
    N_("Choose at least one agency to share with."),
    N_("Choose agencies from the list."),
    N_("Choose at least one kind of information to share."),
    N_("Choose sections from the list."),
    N_("Choose a purpose from the list."),
    N_("Choose the language of the form from the list."),
    N_("Choose how the release ends."),
    N_("Effective date must be a date (YYYY-MM-DD)."),
    N_("End date must be a date (YYYY-MM-DD)."),
    N_("Latest end date must be a date (YYYY-MM-DD)."),
    N_("Effective date must be between %(earliest)s and %(latest)s."),
    N_("End date must be between %(earliest)s and %(latest)s."),
    N_("Latest end date must be between %(earliest)s and %(latest)s."),
    N_("The ending event is required."),
    N_("The ending event must be at most 200 characters."),
    N_("The ending event has no visible characters; type it in letters or digits."),
    N_("The ending event contains an invisible character; retype it without copying and pasting."),
    N_("The effective date cannot be in the past."),
    N_("The release must end after its effective date."),
    N_("A release can last at most %(days)s days: end it on %(day)s or earlier."),
)
# Labels of rows that carry a date, as the coordinating agency's minutes and decisions
# word them (disclosure/sources/minutes.py, decisions.py); the meeting's state in words.
ROW_LABELS = (
    N_("MDT meeting %(date)s (%(status)s)"),
    N_("%(recommendation)s (MDT meeting %(date)s)"),
)
# Not "scheduled" alone: that message is an interview's, and Spanish gives it a gender.
MEETING_STATES = {
    "scheduled": N_("scheduled, not yet held"),
    "held": N_("held"),
    "cancelled": N_("cancelled"),
}
_PLACEHOLDER = re.compile(r"%\\\((\w+)\\\)s")


def _patterns(messages: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """A message with %(name)s parts, as a pattern that finds what stands in each."""
    return tuple(
        (re.compile(_PLACEHOLDER.sub(r"(?P<\1>.+?)", re.escape(m)) + r"\Z"), m)
        for m in messages
        if "%(" in m
    )


_REFUSAL_PATTERNS = _patterns(FORM_REFUSALS)
_ROW_PATTERNS = _patterns(ROW_LABELS)


def state_label(language: str | None, status: consent.ReleaseStatus) -> str:
    return i18n.gettext(language, STATE_LABELS[status.state])


def reason(language: str | None, status: consent.ReleaseStatus, tz: tzinfo) -> str:
    """Why the release is in its state; on a staff page (no language) the library's words."""
    if language is None:
        return status.reason
    if status.on is None:
        return i18n.gettext(language, NO_END_DATE)
    return i18n.gettext(language, REASONS[status.state]) % {
        "date": written_moment(language, status.on, tz)
    }


def written_moment(language: str, moment: datetime, tz: tzinfo) -> str:
    """The day in the language's words, with the time and zone only when it is not
    midnight in the MDT's zone (as the library writes it: a release's last day is a
    calendar day there)."""
    local = moment.astimezone(tz)
    day = i18n.written_date(language, local.date())
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return day
    return f"{day}, {i18n.written_time(language, local.time())} {local.tzname()}"


def refusals(language: str, errors: Mapping[str, str]) -> dict[str, str]:
    """The new-release form's messages in the form's language; a message not in the table
    stays as the check wrote it."""
    return {field: _refusal(language, message) for field, message in errors.items()}


def _refusal(language: str, message: str) -> str:
    if message in FORM_REFUSALS:
        return i18n.gettext(language, message)
    return _said(language, message, _REFUSAL_PATTERNS)


def row_label(language: str, label: str) -> str:
    """A row's label on a page read with the survivor: a catalogue's label as its
    catalogue says it, a meeting's minutes or decision with its date kept; the free text
    in it (a decision's recommendation) as recorded."""
    translated = i18n.gettext(language, label)
    if translated != label:
        return translated
    return _said(language, label, _ROW_PATTERNS)


def _said(language: str, message: str, patterns) -> str:
    for pattern, template in patterns:
        found = pattern.match(message)
        if found:
            parts = found.groupdict()
            if parts.get("status") in MEETING_STATES:
                parts["status"] = i18n.gettext(language, MEETING_STATES[parts["status"]])
            return i18n.gettext(language, template) % parts
    return message
