"""Key rotation: old signatures keep verifying; the retired key cannot sign anything newer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent import KeyRing, ReleaseFormatError, VerifyCode, key_id_for, sign_release, verify

from consent_fixtures import (
    DISCLOSER,
    HARBOR_KEY,
    HARBOR_KID,
    HARBOR_NEW_KEY,
    HARBOR_NEW_KID,
    build_keyring,
    build_release,
)

ROTATED_AT = datetime(2026, 2, 1, tzinfo=UTC)
LATER = datetime(2026, 2, 20, tzinfo=UTC)


def rotated_ring() -> KeyRing:
    ring = build_keyring()
    assert ring.rotate(DISCLOSER, HARBOR_NEW_KEY.verify_key, at=ROTATED_AT) == HARBOR_NEW_KID
    return ring


def test_key_id_is_agency_plus_sha256_prefix() -> None:
    agency, digest = HARBOR_KID.rsplit(":", 1)
    assert agency == DISCLOSER
    assert len(digest) == 16
    assert int(digest, 16) >= 0


def test_release_signed_before_rotation_still_verifies() -> None:
    envelope = sign_release(build_release(), HARBOR_KEY, HARBOR_KID).to_dict()
    ring = rotated_ring()
    assert ring.get(HARBOR_KID).retired_at == ROTATED_AT
    assert verify(envelope, ring, at=LATER).ok


def test_release_signed_after_rotation_uses_the_new_key() -> None:
    ring = rotated_ring()
    kid = ring.current_key_id(DISCLOSER, at=LATER)
    assert kid == HARBOR_NEW_KID != HARBOR_KID
    release = build_release(signed_at=LATER, effective_at=LATER)
    envelope = sign_release(release, HARBOR_NEW_KEY, kid).to_dict()
    assert envelope["signature"]["kid"] == HARBOR_NEW_KID
    assert verify(envelope, ring, at=LATER).ok


def test_old_key_cannot_sign_after_its_retirement() -> None:
    release = build_release(signed_at=LATER, effective_at=LATER)
    envelope = sign_release(release, HARBOR_KEY, HARBOR_KID).to_dict()
    result = verify(envelope, rotated_ring(), at=LATER)
    assert (result.ok, result.code) == (False, VerifyCode.KEY_RETIRED)
    assert "retired" in result.reason


def test_exactly_at_retirement_the_old_key_is_no_longer_valid() -> None:
    release = build_release(signed_at=ROTATED_AT, effective_at=ROTATED_AT)
    envelope = sign_release(release, HARBOR_KEY, HARBOR_KID).to_dict()
    assert verify(envelope, rotated_ring(), at=LATER).code is VerifyCode.KEY_RETIRED


def test_new_key_cannot_vouch_for_a_document_dated_before_it_existed() -> None:
    envelope = sign_release(build_release(), HARBOR_NEW_KEY, HARBOR_NEW_KID).to_dict()
    assert verify(envelope, rotated_ring(), at=LATER).code is VerifyCode.KEY_NOT_YET_CREATED


def test_keyring_json_round_trip() -> None:
    ring = rotated_ring()
    restored = KeyRing.from_dict(ring.to_dict())
    assert {e.key_id: e for e in restored} == {e.key_id: e for e in ring}


def test_keyring_refuses_a_key_id_that_does_not_match_its_key() -> None:
    data = build_keyring().to_dict()
    data["keys"][0]["kid"] = key_id_for(DISCLOSER, HARBOR_NEW_KEY.verify_key)
    with pytest.raises(ReleaseFormatError, match="does not match"):
        KeyRing.from_dict(data)
