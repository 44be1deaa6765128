"""How the audit log spells an instant: the one text that entry hashes and checkpoint
signatures cover."""

from __future__ import annotations

from datetime import UTC, datetime

_last_formatted: tuple[datetime | None, str] = (None, "")


def format_at(moment: datetime) -> str:
    """One spelling per instant, microseconds always, so a stored time hashes the same."""
    # A batch's entries share one instant: spell it once (a single-slot cache, swapped
    # whole, so threads never see a time paired with another's spelling).
    global _last_formatted
    last, text = _last_formatted
    if last is None or moment != last:
        utc = moment.astimezone(UTC)
        # isoformat is strftime's text at a third of its cost, for any year strftime
        # spells with four digits (glibc does not pad years before 1000).
        text = (
            utc.isoformat(timespec="microseconds")[:-6] + "Z"
            if utc.year >= 1000
            else utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        )
        _last_formatted = (moment, text)
    return text


def out_of_time(
    signed_at: datetime, *, retired_at: datetime | None, entry_at: datetime | None
) -> str | None:
    """What is wrong with when a checkpoint says it was signed: after its key was retired
    (a retired key may be known to someone else: what it signs since counts for nothing),
    or before the entry it vouches for was written. None when nothing is."""
    signed_at = _utc(signed_at)
    if retired_at is not None and signed_at >= _utc(retired_at):
        return f"was signed on {format_at(signed_at)}, after its key was retired"
    if entry_at is not None and signed_at < _utc(entry_at):
        return f"was signed on {format_at(signed_at)}, before the entry it signs was written"
    return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
