"""load_envelope turns untrusted bytes into an envelope or a plain, specific error."""

from __future__ import annotations

import json

import pytest

from consent import EnvelopeError, canonical_bytes, load_envelope, sign_release

from consent_fixtures import HARBOR_KEY, HARBOR_KID, build_release


def envelope_bytes() -> bytes:
    return canonical_bytes(sign_release(build_release(), HARBOR_KEY, HARBOR_KID).to_dict())


def test_valid_bytes_load() -> None:
    envelope = load_envelope(envelope_bytes())
    assert set(envelope) == {"release", "signature"}


def test_oversized_input() -> None:
    data = b'{"release": {}, "signature": "' + b"x" * (64 * 1024) + b'"}'
    with pytest.raises(EnvelopeError, match=r"too large .* limit is 65536 bytes"):
        load_envelope(data)


def test_custom_size_limit() -> None:
    with pytest.raises(EnvelopeError, match="too large"):
        load_envelope(envelope_bytes(), max_bytes=100)


def test_invalid_utf8() -> None:
    with pytest.raises(EnvelopeError, match="not valid UTF-8"):
        load_envelope(b'{"release": "\xff"}')


@pytest.mark.parametrize(
    "data",
    [b"release: yes", b'{"release": {}, }', b"", b'{"a": NaN}', b"[" * 5000 + b"]" * 5000],
)
def test_not_json(data: bytes) -> None:
    with pytest.raises(EnvelopeError, match="not valid JSON"):
        load_envelope(data)


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="appears twice"):
        load_envelope(b'{"release": {}, "release": {}, "signature": {}}')


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2, 3], "expected a JSON object"),
        ({"release": {}}, "'signature' part is missing"),
        ({"release": [], "signature": {"alg": "", "kid": "", "sig": ""}}, "must be an object"),
        ({"release": {}, "signature": {"alg": "ed25519"}}, "exactly alg, kid and sig"),
        ({"release": {}, "signature": {}, "note": 1}, "unexpected field 'note'"),
        ({"release": {}, "signature": {"alg": 1, "kid": "", "sig": ""}}, "signature.alg"),
    ],
)
def test_json_of_the_wrong_shape(value, message: str) -> None:
    with pytest.raises(EnvelopeError, match="not a signed release") as caught:
        load_envelope(json.dumps(value).encode())
    assert message in str(caught.value)
