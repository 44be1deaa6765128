"""The release document maps to and from JSON strictly, naming the offending field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent import (
    Capacity,
    EventExpiry,
    Release,
    ReleaseFormatError,
    Signer,
    default_statements,
)

from consent_fixtures import build_release


def test_round_trip_is_exact() -> None:
    release = build_release(
        second_signer=Signer("Jordan Example", Capacity.LEGAL_GUARDIAN),
        expiry=EventExpiry(event="case closed", latest_at=datetime(2026, 6, 1, tzinfo=UTC)),
    )
    data = release.to_dict()
    assert Release.from_dict(data) == release
    assert data["effective_at"] == "2026-01-10T09:00:00Z"
    assert data["expiry"] == {
        "kind": "event",
        "event": "case closed",
        "latest_at": "2026-06-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(favourite_colour="blue"), "favourite_colour"),
        (lambda d: d.update(recipients="agency-lantern-mentors"), "recipients"),
        (lambda d: d.update(client_is_minor=1), "client_is_minor"),
        (lambda d: d.update(purpose="research"), "purpose"),
        (lambda d: d["signer"].update(age=30), "signer.age"),
        (lambda d: d["signer"].update(capacity="friend"), "signer.capacity"),
        (lambda d: d.update(effective_at="2026-01-10T09:00:00+00:00"), "effective_at"),
        (lambda d: d.update(effective_at="2026-01-10T09:00:00"), "effective_at"),
        (lambda d: d.update(expiry={"kind": "never"}), "expiry.kind"),
        (lambda d: d.pop("release_id"), "release_id"),
        (lambda d: d.update(document="something-else"), "document"),
    ],
)
def test_strict_parsing_names_the_field(change, field: str) -> None:
    data = build_release().to_dict()
    change(data)
    with pytest.raises(ReleaseFormatError) as caught:
        Release.from_dict(data)
    assert caught.value.field == field


def test_missing_statements_parse_so_validation_can_name_them() -> None:
    data = build_release().to_dict()
    data["statements"] = {"revocation": "You can revoke at any time."}
    release = Release.from_dict(data)
    assert release.statements.no_conditioning is None


def test_default_statements_are_all_present() -> None:
    statements = default_statements()
    for text in vars(statements).values():
        assert text and len(text) > 40
