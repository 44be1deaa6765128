"""Small field checks shared by the services; each raises Invalid naming its field."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from enum import StrEnum
from typing import TypeVar

from portal.errors import Invalid

_E = TypeVar("_E", bound=StrEnum)

# What shows nothing on its own: format characters (zero-width space, word joiner, soft
# hyphen), combining marks with no letter to sit on, separators, unassigned and private
# code points; and the letters and symbols drawn blank (Hangul fillers, the blank Braille
# pattern, Khmer's inherent vowels).
_SHOWS_NOTHING = {"Cc", "Cf", "Cn", "Co", "Cs", "Me", "Mn", "Zl", "Zp", "Zs"}
_BLANK = set("\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
# The control characters a value may carry: a note's line breaks and tabs, which a
# one-line value reads as spaces (a tab pasted into a name's box).
_LAYOUT = set("\t\n\r")
# Zero-width non-joiner and joiner: part of the correct spelling of words in Persian, Hindi
# and other scripts, between two letters, and nowhere else.
_JOINERS = set("\u200c\u200d")
_TAGS = range(0xE0000, 0xE0080)


def _visible(value: str) -> bool:
    return any(ch not in _BLANK and unicodedata.category(ch) not in _SHOWS_NOTHING for ch in value)


def _in_word(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _misplaced_joiner(value: str) -> bool:
    return any(
        ch in _JOINERS
        and not (0 < i < len(value) - 1 and _in_word(value[i - 1]) and _in_word(value[i + 1]))
        for i, ch in enumerate(value)
    )


def _formatting(ch: str) -> bool:
    """A character that changes how the text around it shows without showing itself:
    direction controls (a right-to-left override shows "Ana", it, "loS" as "AnaSol"),
    zero-width spaces, the word joiner, the byte-order mark, the soft hyphen, tags."""
    return ch not in _JOINERS and (unicodedata.category(ch) == "Cf" or ord(ch) in _TAGS)


def _hidden(field: str, label: str) -> Invalid:
    return Invalid(
        field, f"{label} contains an invisible character; retype it without copying and pasting."
    )


def text(
    value: object,
    field: str,
    *,
    max_length: int,
    required: bool = True,
    label: str | None = None,
    multiline: bool = False,
    missing: str | None = None,
) -> str:
    """What was typed into a box, in NFC, so one name typed two ways is stored once. One
    line, its runs of spaces made one, unless `multiline` (a note, minutes, an address) and
    it has line breaks: it keeps them, and its tabs. A value that hides a character is
    refused: in a list of staff or clients, a name that only looks like another
    ("A\u200bna" beside "Ana") is a safety matter."""
    label = label or field.replace("_", " ").capitalize()
    if value is not None and not isinstance(value, str):
        raise Invalid(field, f"{label} must be text.")
    raw = value or ""
    # Before the spaces are read: they would make the separators and NEL spaces unsaid.
    if any(unicodedata.category(ch) == "Cc" and ch not in _LAYOUT for ch in raw):
        raise _hidden(field, label)
    cleaned = raw.strip() if multiline and "\n" in raw else " ".join(raw.split())
    if cleaned and not _visible(cleaned):
        # A blank where a person, an agency or a client is named, in lists and the log.
        raise Invalid(field, f"{label} has no visible characters; type it in letters or digits.")
    if any(_formatting(ch) for ch in cleaned):
        raise _hidden(field, label)
    if _misplaced_joiner(cleaned):
        raise Invalid(
            field,
            f"{label} has a zero-width joiner or non-joiner that is not between two letters; "
            "retype it without it.",
        )
    cleaned = unicodedata.normalize("NFC", cleaned)
    if required and not cleaned:  # `missing`: what to say instead, where a word helps
        raise Invalid(field, missing or f"{label} is required.")
    if len(cleaned) > max_length:
        raise Invalid(field, f"{label} must be at most {max_length} characters.")
    return cleaned


def choice(value: object, field: str, options: type[StrEnum], *, label: str | None = None) -> str:
    label = label or field.replace("_", " ").capitalize()
    try:
        return options(value).value
    except ValueError:
        raise Invalid(field, f"Choose {_article(label)} {label.lower()} from the list.") from None


def _article(noun: str) -> str:
    """ "a" or "an", by how the noun is said: "an outcome", "a kind of appointment", "a
    user" (a letter is only a guide to the sound; these labels are the portal's own)."""
    word = noun.lower()
    vowel_sound = word[:1] in "aeiou" and not word.startswith(("uni", "use", "usu", "eu", "one"))
    return "an" if vowel_sound else "a"


def member(value: object, field: str, options: type[_E], *, label: str | None = None) -> _E:
    """As `choice`, the member itself: a typed input holds the enum, not its string."""
    return options(choice(value, field, options, label=label))


def iso_date(value: object, field: str, *, label: str | None = None) -> date:
    label = label or field.replace("_", " ").capitalize()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise Invalid(field, f"{label} must be a date (YYYY-MM-DD).") from None


@dataclass(frozen=True)
class DateWindow:
    """The dates a person may type for tasks, meetings, releases and filters."""

    earliest: date
    latest: date

    @classmethod
    def around(cls, today: date, years: int) -> DateWindow:
        return cls(_years_from(today, -years), _years_from(today, years))


def _years_from(day: date, years: int) -> date:
    # Years 1 and 9999 stay out of reach: a day added to, or a zone applied to, a date
    # there overflows.
    year = min(max(day.year + years, date.min.year + 1), date.max.year - 1)
    return (
        day.replace(year=year, day=28)
        if (day.month, day.day) == (2, 29)
        else day.replace(year=year)
    )


# Without a request (commands, services called from a test), a wide window that still
# keeps every date's arithmetic (+1 day, +14 days, a time zone) away from year 1 and 9999.
_ANY_USABLE = DateWindow(date(1900, 1, 1), date(2999, 12, 31))
# The window of the request being served, set where the request's clock is read (the
# route guard), as a request's time zone is in other frameworks: every date a person
# types is held to it without each service taking one more argument.
_window: ContextVar[DateWindow] = ContextVar("date_window", default=_ANY_USABLE)


@contextmanager
def dates_within(window: DateWindow) -> Iterator[DateWindow]:
    token = _window.set(window)
    try:
        yield window
    finally:
        _window.reset(token)


def domain_date(value: object, field: str, *, label: str | None = None) -> date:
    """A date of the MDT's work (a due date, a meeting, a release's term, a search range):
    an ISO date inside the request's date window, else Invalid naming the field."""
    label = label or field.replace("_", " ").capitalize()
    day = iso_date(value, field, label=label)
    window = _window.get()
    if not window.earliest <= day <= window.latest:
        raise Invalid(
            field,
            f"{label} must be between {window.earliest.isoformat()} and "
            f"{window.latest.isoformat()}.",
        )
    return day


def collect(**checks) -> dict:
    """Run every field check and report every failure at once, not just the first."""
    values, errors = {}, {}
    for field, check in checks.items():
        try:
            values[field] = check()
        except Invalid as error:
            errors.update(error.errors)
    if errors:
        raise Invalid.of(errors)
    return values


def wall_clock(day: date, clock: time, *, tz: tzinfo, field: str) -> datetime:
    """A date and time on the MDT's wall clocks, in its zone. A time the clocks skip
    (spring forward: 02:30 on the night they go from 02:00 to 03:00) is refused, not moved
    an hour without a word; a time they pass twice (fall back) is the first of the two. A
    time typed with a zone of its own ("14:30+05:00") is refused too: combined with the
    MDT's zone, its offset was dropped, and the time saved hours from the one typed."""
    if clock.tzinfo is not None:
        raise Invalid(field, "Give the time on the MDT's clocks, like 14:30, without a time zone.")
    local = datetime.combine(day, clock, tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Invalid(
            field,
            f"{clock.strftime('%H:%M')} does not exist on {day.isoformat()} in the MDT's time "
            "zone: the clocks skip it. Choose another time.",
        )
    return local
