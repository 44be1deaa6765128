"""Signing and verifying releases: tampering, unknown and foreign keys, and malformed input."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import (
    Capacity,
    EventExpiry,
    MinorRule,
    Purpose,
    Release,
    SignatureMethod,
    Signer,
    VerifyCode,
    canonical_bytes,
    sign_release,
    verify,
)
from consent.document import format_time
from consent.keys import b64url_encode

from consent_fixtures import (
    COMMUNITY,
    DISCLOSER,
    HARBOR_KEY,
    HARBOR_KID,
    LANTERN_KEY,
    LANTERN_KID,
    build_keyring,
    build_release,
)

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def signed_envelope(release: Release | None = None) -> dict[str, Any]:
    return sign_release(release or build_release(), HARBOR_KEY, HARBOR_KID).to_dict()


def test_signed_release_verifies(keyring) -> None:
    result = verify(signed_envelope(), keyring, at=NOW)
    assert result.ok
    assert result.code is VerifyCode.OK
    assert result.document == build_release()


def test_envelope_shape() -> None:
    envelope = signed_envelope()
    assert set(envelope) == {"release", "signature"}
    assert envelope["signature"]["alg"] == "ed25519"
    assert envelope["signature"]["kid"] == HARBOR_KID
    assert "=" not in envelope["signature"]["sig"]


def test_changing_one_recipient_is_detected(keyring) -> None:
    envelope = signed_envelope()
    envelope["release"]["recipients"] = [COMMUNITY, "agency-someone-else"]
    result = verify(envelope, keyring, at=NOW)
    assert not result.ok
    assert result.code is VerifyCode.BAD_SIGNATURE
    assert "altered after signing or the signature is wrong" in result.reason


# Every leaf of a release dict, and how to make a different value of the same type.
# An explicit alphabet (with non-ASCII) keeps generation quick: no Unicode table to build.
_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 -_.:é€\u00f6\U0001f600", max_size=12)
_TIME = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(format_time)


def _choice(enum) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


TAMPERABLE: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("release_id",): _TEXT,
    ("client_ref",): _TEXT,
    ("disclosing_agency",): _TEXT,
    ("recipients",): st.lists(_TEXT, max_size=3),
    ("sections",): st.lists(_TEXT, max_size=3),
    ("purpose",): _choice(Purpose),
    ("signer", "name"): _TEXT,
    ("signer", "capacity"): _choice(Capacity),
    ("second_signer", "name"): _TEXT,
    ("second_signer", "capacity"): _choice(Capacity),
    ("second_signer_required",): st.booleans(),
    ("client_is_minor",): st.booleans(),
    ("effective_at",): _TIME,
    ("expiry", "event"): _TEXT,
    ("expiry", "latest_at"): _TIME,
    ("statements", "revocation"): _TEXT,
    ("statements", "no_conditioning"): _TEXT,
    ("statements", "redisclosure"): _TEXT,
    ("statements", "compelled_disclosure"): _TEXT,
    ("language",): _TEXT,
    ("witness", "user_id"): _TEXT,
    ("witness", "name"): _TEXT,
    ("signed_at",): _TIME,
    ("signature_method",): _choice(SignatureMethod),
    ("minor_rule",): _choice(MinorRule),
    ("statements_sha256",): _TEXT,
}

# One release with every optional part filled, so every path above exists.
FULL_RELEASE = build_release(
    client_is_minor=True,
    minor_rule=MinorRule.MINOR_AND_GUARDIAN,
    second_signer_required=True,
    second_signer=Signer("Pat Example", Capacity.PARENT),
    expiry=EventExpiry(event="case closed", latest_at=datetime(2026, 6, 1, tzinfo=UTC)),
)
FULL_ENVELOPE = signed_envelope(FULL_RELEASE)


@st.composite
def tampered_envelopes(draw) -> dict[str, Any]:
    path = draw(st.sampled_from(sorted(TAMPERABLE)))
    envelope = copy.deepcopy(FULL_ENVELOPE)
    parent = envelope["release"]
    for key in path[:-1]:
        parent = parent[key]
    original = parent[path[-1]]
    parent[path[-1]] = draw(TAMPERABLE[path].filter(lambda value: value != original))
    return envelope


def test_every_leaf_field_is_tamperable() -> None:
    def leaves(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        if isinstance(node, dict):
            return {leaf for k, v in node.items() for leaf in leaves(v, (*prefix, k))}
        return {prefix}

    # The document-type tag and the expiry kind are left out: changing either makes the
    # document malformed (covered by the malformed tests) rather than differently signed.
    untamperable = {("document",), ("expiry", "kind")}
    assert leaves(FULL_ENVELOPE["release"]) - untamperable == set(TAMPERABLE)


@given(tampered_envelopes())
def test_tampering_any_single_field_fails_verification(envelope: dict[str, Any]) -> None:
    Release.from_dict(envelope["release"])  # still well-formed: only the signature can tell
    result = verify(envelope, build_keyring(), at=NOW)
    assert not result.ok
    assert result.code is VerifyCode.BAD_SIGNATURE


def test_unknown_key(keyring) -> None:
    envelope = signed_envelope()
    envelope["signature"]["kid"] = f"{DISCLOSER}:0000000000000000"
    result = verify(envelope, keyring, at=NOW)
    assert result.code is VerifyCode.UNKNOWN_KEY
    assert "not on the roster" in result.reason


def test_key_of_another_agency(keyring) -> None:
    # Lantern signs a release that claims Harbor House as the discloser.
    release = build_release()
    signature = LANTERN_KEY.sign(canonical_bytes(release.to_dict())).signature
    envelope = {
        "release": release.to_dict(),
        "signature": {"alg": "ed25519", "kid": LANTERN_KID, "sig": b64url_encode(signature)},
    }
    result = verify(envelope, keyring, at=NOW)
    assert result.code is VerifyCode.WRONG_AGENCY
    assert "another agency" in result.reason


def test_sign_release_refuses_a_key_id_of_another_key() -> None:
    with pytest.raises(ValueError, match="not the id of this signing key"):
        sign_release(build_release(), LANTERN_KEY, HARBOR_KID)


def test_document_signed_in_the_future(keyring) -> None:
    result = verify(signed_envelope(), keyring, at=datetime(2026, 1, 10, 8, 59, tzinfo=UTC))
    assert result.code is VerifyCode.SIGNED_IN_FUTURE


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (lambda e: e["release"].update(extra=1), VerifyCode.MALFORMED, "extra"),
        (lambda e: e["release"].update(sections="all"), VerifyCode.MALFORMED, "sections"),
        (lambda e: e["release"]["signer"].pop("capacity"), VerifyCode.MALFORMED, "signer.capacity"),
        (lambda e: e["release"].update(signed_at=None), VerifyCode.MALFORMED, "signed_at"),
        (lambda e: e["signature"].update(sig="not base64!"), VerifyCode.MALFORMED, "signature.sig"),
        (lambda e: e["signature"].update(sig="AAAA"), VerifyCode.MALFORMED, "signature.sig"),
        (
            lambda e: e["signature"].update(alg="rs256"),
            VerifyCode.UNSUPPORTED_ALGORITHM,
            "signature.alg",
        ),
        (lambda e: e.pop("signature"), VerifyCode.MALFORMED, "signature"),
    ],
)
def test_malformed_envelopes_name_the_field(keyring, change, code, field) -> None:
    envelope = signed_envelope()
    change(envelope)
    result = verify(envelope, keyring, at=NOW)
    assert (result.ok, result.code, result.field) == (False, code, field)


def test_verification_survives_a_json_round_trip(keyring) -> None:
    # Partners receive text, not our dicts: key order and spacing must not matter.
    text = json.dumps(signed_envelope(), indent=2, sort_keys=False)
    assert verify(json.loads(text), keyring, at=NOW).ok


def test_a_release_signed_in_format_1_still_verifies(keyring) -> None:
    # Signed by the library before format 2 (who signs for a minor, the statements' digest).
    path = Path(__file__).parent / "data" / "release_format_1.json"
    envelope = json.loads(path.read_text())
    result = verify(envelope, keyring, at=NOW)
    assert result.ok, result.reason
    release = result.document
    assert release.version == 1 and release.minor_rule is None
    assert release.to_dict() == envelope["release"]  # re-exported byte for byte


def test_format_2_records_the_rule_for_minors_and_the_statements_digest(keyring) -> None:
    envelope = signed_envelope(FULL_RELEASE)
    body = envelope["release"]
    assert body["document"] == "mdt.consent.release/2"
    assert body["minor_rule"] == "minor_and_guardian"
    assert len(body["statements_sha256"]) == 64
    assert verify(envelope, keyring, at=NOW).ok
