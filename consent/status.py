"""Whether a release is in effect at a given instant, and whether it covers one disclosure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from consent.document import DateExpiry, Purpose, Release
from consent.revocation import Revocation


class ReleaseState(StrEnum):
    NOT_YET_EFFECTIVE = "not_yet_effective"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class ReleaseStatus:
    state: ReleaseState
    reason: str
    # The instant the reason names (revoked, expired, in effect until, takes effect), so a
    # caller can say the reason in other words or another language; None: no end date.
    on: datetime | None = None


class CoverageCode(StrEnum):
    COVERED = "covered"
    NOT_YET_EFFECTIVE = "not_yet_effective"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RECIPIENT_NOT_NAMED = "recipient_not_named"
    SECTION_NOT_COVERED = "section_not_covered"
    PURPOSE_NOT_COVERED = "purpose_not_covered"


@dataclass(frozen=True)
class Coverage:
    covered: bool
    reason: str
    code: CoverageCode


def release_end(release: Release) -> datetime | None:
    """The instant the release stops (exclusive). An event expiry ends at its latest_at.

    The library cannot observe the event itself; when it happens earlier, the disclosing
    agency records a revocation.
    """
    if isinstance(release.expiry, DateExpiry):
        return release.expiry.at
    return release.expiry.latest_at


def status(
    release: Release, revocations: Iterable[Revocation], *, at: datetime, tz: tzinfo = UTC
) -> ReleaseStatus:
    """The state of the release at `at`. Pass only revocations whose signature was verified.
    `tz`: the time zone the reason's dates are written in (the MDT's, for its staff)."""
    revoked = [
        revocation.revoked_at
        for revocation in revocations
        # A revocation counts only from the agency that made the release: a recipient cannot
        # end another agency's release.
        if revocation.release_id == release.release_id
        and revocation.disclosing_agency == release.disclosing_agency
        and revocation.revoked_at <= at
    ]
    if revoked:
        return ReleaseStatus(
            ReleaseState.REVOKED,
            f"the release was revoked on {_when(min(revoked), tz)}",
            min(revoked),
        )
    end = release_end(release)
    if end is None:
        # Never open-ended: without a last date the release cannot be relied on at all.
        return ReleaseStatus(
            ReleaseState.EXPIRED, "the release has no end date, so it cannot be used"
        )
    if at >= end:
        return ReleaseStatus(ReleaseState.EXPIRED, f"the release expired on {_when(end, tz)}", end)
    if at < release.effective_at:
        return ReleaseStatus(
            ReleaseState.NOT_YET_EFFECTIVE,
            f"the release takes effect on {_when(release.effective_at, tz)}",
            release.effective_at,
        )
    return ReleaseStatus(
        ReleaseState.ACTIVE, f"the release is in effect until {_when(end, tz)}", end
    )


def covers(
    release: Release,
    revocations: Iterable[Revocation],
    *,
    recipient: str,
    section: str,
    purpose: Purpose | str,
    at: datetime,
    tz: tzinfo = UTC,
) -> Coverage:
    """Whether the release lets `recipient` see `section` for `purpose` at `at`, and if not, why
    (its dates written in `tz`, as `status` writes them)."""
    current = status(release, revocations, at=at, tz=tz)
    if current.state is not ReleaseState.ACTIVE:
        return Coverage(False, current.reason, CoverageCode(current.state.value))
    if recipient not in release.recipients:
        return Coverage(
            False, "this release does not name your agency", CoverageCode.RECIPIENT_NOT_NAMED
        )
    if section not in release.sections:
        return Coverage(
            False,
            f"{section} is not among the sections this release covers",
            CoverageCode.SECTION_NOT_COVERED,
        )
    if purpose != release.purpose:
        wanted = purpose.label if isinstance(purpose, Purpose) else str(purpose)
        return Coverage(
            False,
            f"this release does not cover the purpose {wanted}",
            CoverageCode.PURPOSE_NOT_COVERED,
        )
    return Coverage(True, current.reason, CoverageCode.COVERED)


def _when(moment: datetime, tz: tzinfo) -> str:
    # Dates read best to staff; the time is shown only when it is not midnight where they
    # are (a release's last day is a calendar day in the MDT's time zone).
    moment = moment.astimezone(tz)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"
