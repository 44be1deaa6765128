"""A cell of a CSV file a person will open in a spreadsheet."""

from __future__ import annotations

# A spreadsheet runs a cell that starts like a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """`value` as a cell's text, quoted when it starts like a formula; None is empty."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
