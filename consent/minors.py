"""Whether a client is a minor on a given day, from their date of birth."""

from __future__ import annotations

from datetime import date

AGE_OF_MAJORITY = 18


def age_on(birth_date: date, day: date) -> int:
    """Whole years completed on `day` (someone born on 29 February turns a year older on
    1 March in a common year)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def is_minor(birth_date: date, day: date, *, age_of_majority: int = AGE_OF_MAJORITY) -> bool:
    return age_on(birth_date, day) < age_of_majority
