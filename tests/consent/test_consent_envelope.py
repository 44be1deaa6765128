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
    with pytest.raises(EnvelopeError, match="too large: more than 64 KB, the most it may be"):
        load_envelope(data)


def test_custom_size_limit() -> None:
    with pytest.raises(EnvelopeError, match="too large: more than 100 bytes"):
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


@pytest.mark.parametrize(
    "data",
    [
        b'{"release": {"client_ref": "\\ud800"}, "signature": {}}',
        b'{"release": {"x\\udfff": 1}, "signature": {}}',
        b'{"release\\ud800": {}, "signature": {}}',
        b'{"release": {}, "signature": {"alg": "ed25519", "kid": "\\ud800", "sig": ""}}',
    ],
)
def test_an_unpaired_surrogate_is_refused(data: bytes) -> None:
    # JSON can spell a surrogate that stands for no character: no canonical form has it, no
    # page or terminal can show it back, so the file is refused as it is read.
    with pytest.raises(EnvelopeError, match="not valid JSON") as caught:
        load_envelope(data)
    str(caught.value).encode("utf-8")  # the message itself can be shown


def test_a_surrogate_pair_is_a_character_and_loads() -> None:
    data = envelope_bytes().replace(b'"Alex Example"', b'"Alex \\ud83d\\ude00"')
    assert load_envelope(data)["release"]["signer"]["name"] == "Alex \U0001f600"


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
