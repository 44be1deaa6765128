"""Small field checks shared by the services; each raises Invalid naming its field."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from portal.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(
    value: object, field: str, *, max_length: int, required: bool = True, label: str | None = None
) -> str:
    label = label or field.replace("_", " ").capitalize()
    if value is not None and not isinstance(value, str):
        raise Invalid(field, f"{label} must be text.")
    cleaned = (
        " ".join((value or "").split()) if "\n" not in (value or "") else (value or "").strip()
    )
    if _CONTROL.search(cleaned):
        raise Invalid(field, f"{label} contains characters that are not allowed.")
    if required and not cleaned:
        raise Invalid(field, f"{label} is required.")
    if len(cleaned) > max_length:
        raise Invalid(field, f"{label} must be at most {max_length} characters.")
    return cleaned


def choice(value: object, field: str, options: type[StrEnum], *, label: str | None = None) -> str:
    label = label or field.replace("_", " ").capitalize()
    try:
        return options(value).value
    except ValueError:
        raise Invalid(field, f"Choose a {label.lower()} from the list.") from None


def iso_date(value: object, field: str, *, label: str | None = None) -> date:
    label = label or field.replace("_", " ").capitalize()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise Invalid(field, f"{label} must be a date (YYYY-MM-DD).") from None


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
