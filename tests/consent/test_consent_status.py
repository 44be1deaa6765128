"""Release status across time, revocation, and whether a release covers one disclosure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from consent import (
    CoverageCode,
    DateExpiry,
    EventExpiry,
    Purpose,
    ReleaseState,
    Revocation,
    StaffRef,
    VerifyCode,
    covers,
    sign_revocation,
    status,
    verify_revocation,
)

from consent_fixtures import (
    COMMUNITY,
    DISCLOSER,
    EFFECTIVE_AT,
    EXPIRES_AT,
    HARBOR_KEY,
    HARBOR_KID,
    LANTERN_KEY,
    LANTERN_KID,
    SYSTEM,
    build_keyring,
    build_release,
)

REVOKED_AT = datetime(2026, 2, 10, 15, 30, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def revocation(**changes) -> Revocation:
    fields = {
        "revocation_id": "rev-91ab",
        "release_id": "rel-7f3c2a",
        "disclosing_agency": DISCLOSER,
        "revoked_at": REVOKED_AT,
        "recorded_by": StaffRef(user_id="staff-17", name="Sam Caseworker"),
        "reason": None,
    }
    return Revocation(**{**fields, **changes})


@pytest.mark.parametrize(
    ("at", "state"),
    [
        (EFFECTIVE_AT - TICK, ReleaseState.NOT_YET_EFFECTIVE),
        (EFFECTIVE_AT, ReleaseState.ACTIVE),
        (datetime(2026, 2, 1, tzinfo=UTC), ReleaseState.ACTIVE),
        (EXPIRES_AT - TICK, ReleaseState.ACTIVE),
        (EXPIRES_AT, ReleaseState.EXPIRED),
        (EXPIRES_AT + timedelta(days=30), ReleaseState.EXPIRED),
    ],
)
def test_state_across_time(at: datetime, state: ReleaseState) -> None:
    assert status(build_release(), [], at=at).state is state


def test_reasons_read_plainly() -> None:
    release = build_release()
    assert status(release, [], at=EXPIRES_AT).reason == "the release expired on 2026-03-01"
    assert status(release, [], at=EFFECTIVE_AT - TICK).reason == (
        "the release takes effect on 2026-01-10 09:00 UTC"
    )


def test_reasons_write_dates_in_the_time_zone_given() -> None:
    """Staff read the MDT's dates: a last day that begins at midnight there is a date, and
    any other instant is written in their time with the zone's name, never in UTC."""
    new_york = ZoneInfo("America/New_York")
    ends_at_midnight_there = datetime(2026, 3, 1, tzinfo=new_york).astimezone(UTC)
    release = build_release(expiry=DateExpiry(at=ends_at_midnight_there))
    assert status(release, [], at=ends_at_midnight_there, tz=new_york).reason == (
        "the release expired on 2026-03-01"
    )
    assert status(build_release(), [], at=EFFECTIVE_AT - TICK, tz=new_york).reason == (
        "the release takes effect on 2026-01-10 04:00 EST"
    )


def test_revoked_from_the_revocation_instant() -> None:
    release, revocations = build_release(), [revocation()]
    assert status(release, revocations, at=REVOKED_AT - TICK).state is ReleaseState.ACTIVE
    revoked = status(release, revocations, at=REVOKED_AT)
    assert revoked.state is ReleaseState.REVOKED
    assert revoked.reason == "the release was revoked on 2026-02-10 15:30 UTC"


def test_revocation_dated_after_now_is_not_yet_effective() -> None:
    future = revocation(revoked_at=datetime(2026, 2, 20, tzinfo=UTC))
    assert status(build_release(), [future], at=REVOKED_AT).state is ReleaseState.ACTIVE


def test_only_revocations_for_this_release_by_its_discloser_count() -> None:
    others = [revocation(release_id="rel-other"), revocation(disclosing_agency=COMMUNITY)]
    assert status(build_release(), others, at=REVOKED_AT).state is ReleaseState.ACTIVE


def test_event_expiry_ends_at_latest_at() -> None:
    latest = datetime(2026, 4, 1, tzinfo=UTC)
    release = build_release(expiry=EventExpiry(event="case closed", latest_at=latest))
    assert status(release, [], at=latest - TICK).state is ReleaseState.ACTIVE
    assert status(release, [], at=latest).state is ReleaseState.EXPIRED


def test_event_expiry_without_latest_at_is_never_usable() -> None:
    release = build_release(expiry=EventExpiry(event="case closed", latest_at=None))
    assert status(release, [], at=EFFECTIVE_AT).state is ReleaseState.EXPIRED


NOW = datetime(2026, 2, 1, tzinfo=UTC)


def check(**overrides):
    request = {
        "recipient": SYSTEM,
        "section": "contact",
        "purpose": Purpose.CARE_COORDINATION,
        "at": NOW,
        **overrides,
    }
    revocations = request.pop("revocations", [])
    return covers(build_release(), revocations, **request)


def test_covered_when_everything_matches() -> None:
    coverage = check()
    assert (coverage.covered, coverage.code) == (True, CoverageCode.COVERED)
    assert check(purpose="care_coordination").covered


@pytest.mark.parametrize(
    ("overrides", "code", "reason"),
    [
        (
            {"recipient": "agency-elsewhere"},
            CoverageCode.RECIPIENT_NOT_NAMED,
            "this release does not name your agency",
        ),
        (
            {"section": "mental_health"},
            CoverageCode.SECTION_NOT_COVERED,
            "mental_health is not among the sections this release covers",
        ),
        (
            {"purpose": Purpose.REFERRAL},
            CoverageCode.PURPOSE_NOT_COVERED,
            "this release does not cover the purpose referral",
        ),
        ({"at": EXPIRES_AT}, CoverageCode.EXPIRED, "the release expired on 2026-03-01"),
        (
            {"at": REVOKED_AT, "revocations": [revocation()]},
            CoverageCode.REVOKED,
            "the release was revoked on 2026-02-10 15:30 UTC",
        ),
        (
            {"at": EFFECTIVE_AT - TICK},
            CoverageCode.NOT_YET_EFFECTIVE,
            "the release takes effect on 2026-01-10 09:00 UTC",
        ),
    ],
)
def test_not_covered_says_which_element_failed(overrides, code, reason) -> None:
    coverage = check(**overrides)
    assert (coverage.covered, coverage.code, coverage.reason) == (False, code, reason)


def test_reason_for_an_unnamed_agency_lists_no_other_recipients() -> None:
    reason = check(recipient="agency-elsewhere").reason
    assert SYSTEM not in reason and COMMUNITY not in reason


def test_signed_revocation_verifies_and_tampering_is_detected() -> None:
    ring = build_keyring()
    envelope = sign_revocation(revocation(reason="client asked"), HARBOR_KEY, HARBOR_KID).to_dict()
    result = verify_revocation(envelope, ring, at=REVOKED_AT)
    assert result.ok and result.document == revocation(reason="client asked")
    envelope["revocation"]["release_id"] = "rel-someone-else"
    assert verify_revocation(envelope, ring, at=REVOKED_AT).code is VerifyCode.BAD_SIGNATURE


def test_revocation_signed_by_another_agency_is_refused() -> None:
    forged = revocation(disclosing_agency=COMMUNITY)
    envelope = sign_revocation(forged, LANTERN_KEY, LANTERN_KID).to_dict()
    envelope["revocation"]["disclosing_agency"] = DISCLOSER
    assert verify_revocation(envelope, build_keyring(), at=REVOKED_AT).code in {
        VerifyCode.BAD_SIGNATURE,
        VerifyCode.WRONG_AGENCY,
    }


def test_a_release_signature_is_not_a_revocation_signature() -> None:
    from consent import sign_release

    envelope = sign_release(build_release(), HARBOR_KEY, HARBOR_KID).to_dict()
    as_revocation = {"revocation": envelope["release"], "signature": envelope["signature"]}
    result = verify_revocation(as_revocation, build_keyring(), at=REVOKED_AT)
    assert result.code is VerifyCode.MALFORMED
