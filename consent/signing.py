"""Signing a release with the disclosing agency's Ed25519 key, and checking such a signature."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from consent.canonical import CanonicalFormError, canonical_bytes
from consent.document import Release, ReleaseFormatError, format_time
from consent.keys import KeyRing, b64url_decode, b64url_encode, key_id_for

ALGORITHM = "ed25519"
MAX_ENVELOPE_BYTES = 64 * 1024


class VerifyCode(StrEnum):
    OK = "ok"
    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AGENCY = "wrong_agency"
    SIGNED_IN_FUTURE = "signed_in_future"
    KEY_NOT_YET_CREATED = "key_not_yet_created"
    KEY_RETIRED = "key_retired"


@dataclass(frozen=True)
class Verification:
    ok: bool
    reason: str
    code: VerifyCode
    field: str | None = None
    # The parsed document, only when ok: callers act on what was verified, never on raw input.
    document: Any = None


class EnvelopeError(ValueError):
    """Input that is not a signed-document envelope; the message is fit to show to staff."""


@dataclass(frozen=True)
class SignedRelease:
    release: Release
    key_id: str
    signature: bytes

    def to_dict(self) -> dict[str, Any]:
        return envelope_dict("release", self.release.to_dict(), self.key_id, self.signature)


def sign_release(release: Release, signing_key: SigningKey, key_id: str) -> SignedRelease:
    """Sign the canonical bytes of the release dict with the disclosing agency's key."""
    if release.signed_at is None:
        raise ValueError("a release is signed only once the client's signature time is recorded")
    check_key_id(key_id, release.disclosing_agency, signing_key)
    signature = signing_key.sign(canonical_bytes(release.to_dict())).signature
    return SignedRelease(release=release, key_id=key_id, signature=signature)


def verify(envelope: Any, keyring: KeyRing, *, at: datetime) -> Verification:
    """Check a release envelope: well-formed, signed by a disclosing-agency key in use then."""
    return verify_document(
        envelope,
        keyring,
        at=at,
        body_key="release",
        parse=Release.from_dict,
        agency_of=lambda release: release.disclosing_agency,
        signed_at_of=lambda release: release.signed_at,
    )


def check_key_id(key_id: str, agency_id: str, signing_key: SigningKey) -> None:
    # Catches the easy mistake of labelling a signature with another key's id, which would
    # otherwise only show up later as a "bad signature" at every partner.
    if key_id != key_id_for(agency_id, signing_key.verify_key):
        raise ValueError(f"key id {key_id!r} is not the id of this signing key for {agency_id}")


def envelope_dict(
    body_key: str, body: dict[str, Any], key_id: str, signature: bytes
) -> dict[str, Any]:
    return {
        body_key: body,
        "signature": {"alg": ALGORITHM, "kid": key_id, "sig": b64url_encode(signature)},
    }


def verify_document(
    envelope: Any,
    keyring: KeyRing,
    *,
    at: datetime,
    body_key: str,
    parse: Callable[[Any], Any],
    agency_of: Callable[[Any], str],
    signed_at_of: Callable[[Any], datetime | None],
) -> Verification:
    """The checks shared by releases and revocations, in an order that trusts nothing early."""
    shape_problem = envelope_shape_problem(envelope, body_key)
    if shape_problem is not None:
        field, message = shape_problem
        return _fail(VerifyCode.MALFORMED, f"The document is malformed: {message}.", field)
    signature_part = envelope["signature"]
    if signature_part["alg"] != ALGORITHM:
        return _fail(
            VerifyCode.UNSUPPORTED_ALGORITHM,
            f"The signature uses {signature_part['alg']!r}; only {ALGORITHM} is accepted.",
            "signature.alg",
        )
    try:
        signature = b64url_decode(signature_part["sig"])
    except ValueError:
        signature = b""
    if len(signature) != 64:
        return _fail(
            VerifyCode.MALFORMED,
            "The document is malformed: the signature is not a 64-byte base64url value.",
            "signature.sig",
        )
    body = envelope[body_key]
    try:
        document = parse(body)
        signed_bytes = canonical_bytes(body)
    except ReleaseFormatError as error:
        return _fail(
            VerifyCode.MALFORMED,
            f"The document is malformed: {error.field} — {error.message}.",
            error.field,
        )
    except CanonicalFormError as error:
        return _fail(VerifyCode.MALFORMED, f"The document is malformed: {error}.", body_key)
    signed_at = signed_at_of(document)
    if signed_at is None:
        return _fail(
            VerifyCode.MALFORMED,
            "The document is malformed: it does not record when it was signed.",
            "signed_at",
        )

    entry = keyring.get(signature_part["kid"])
    if entry is None:
        return _fail(
            VerifyCode.UNKNOWN_KEY,
            "The document was signed with a key that is not on the roster.",
            "signature.kid",
        )
    # The signature is checked before any claim inside the document is believed, so a
    # tampered agency or date is reported as tampering rather than as a key problem.
    try:
        entry.verify_key.verify(signed_bytes, signature)
    except BadSignatureError:
        return _fail(
            VerifyCode.BAD_SIGNATURE,
            "The signature does not match: the document was altered after signing or the "
            "signature is wrong.",
            "signature.sig",
        )
    if entry.agency_id != agency_of(document):
        return _fail(
            VerifyCode.WRONG_AGENCY,
            "The document was signed with another agency's key, not the disclosing agency's.",
            "signature.kid",
        )
    if signed_at > at:
        return _fail(
            VerifyCode.SIGNED_IN_FUTURE,
            f"The document says it was signed at {format_time(signed_at)}, later than now.",
            "signed_at",
        )
    if signed_at < entry.created_at:
        return _fail(
            VerifyCode.KEY_NOT_YET_CREATED,
            "The document says it was signed before the signing key existed.",
            "signed_at",
        )
    if entry.retired_at is not None and signed_at >= entry.retired_at:
        return _fail(
            VerifyCode.KEY_RETIRED,
            f"The signing key was retired on {format_time(entry.retired_at)}, before the "
            "document says it was signed.",
            "signature.kid",
        )
    return Verification(True, "The signature is valid.", VerifyCode.OK, None, document)


def _fail(code: VerifyCode, reason: str, field: str | None) -> Verification:
    return Verification(False, reason, code, field)


def envelope_shape_problem(envelope: Any, body_key: str) -> tuple[str, str] | None:
    """(field, message) for the first structural problem of an envelope, or None."""
    if not isinstance(envelope, Mapping):
        return "envelope", "expected a JSON object"
    expected = {body_key, "signature"}
    for key in envelope:
        if key not in expected:
            return str(key), f"unexpected field {str(key)!r}"
    for key in (body_key, "signature"):
        if key not in envelope:
            return key, f"the {key!r} part is missing"
    if not isinstance(envelope[body_key], Mapping):
        return body_key, f"the {body_key!r} part must be an object"
    signature = envelope["signature"]
    if not isinstance(signature, Mapping) or set(signature) != {"alg", "kid", "sig"}:
        return "signature", "the signature part must hold exactly alg, kid and sig"
    for key in ("alg", "kid", "sig"):
        if not isinstance(signature[key], str):
            return f"signature.{key}", f"signature.{key} must be text"
    return None


def _amount(size: int) -> str:
    return f"{size // 1024} KB" if size % 1024 == 0 else f"{size} bytes"


def load_envelope(
    data: bytes, max_bytes: int = MAX_ENVELOPE_BYTES, *, body_key: str = "release"
) -> dict[str, Any]:
    """Parse untrusted bytes into an envelope dict, or raise EnvelopeError with a plain message."""
    if len(data) > max_bytes:
        # Not its size: a caller reads an upload only up to one byte past the limit, so
        # a 50 MB file was said to be 65537 bytes.
        raise EnvelopeError(
            f"The document is too large: more than {_amount(max_bytes)}, the most it may be."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EnvelopeError(
            f"The document is not valid UTF-8 text (bad byte at position {error.start})."
        ) from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise EnvelopeError(
            f"The document is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})."
        ) from None
    except RecursionError:
        raise EnvelopeError("The document is not valid JSON (nested too deeply).") from None
    except ValueError as error:
        raise EnvelopeError(f"The document is not valid JSON ({error}).") from None
    # A \ud800-\udfff escape outside a pair stands for no character: it has no RFC 8785
    # form, and a message or page naming the field it sits in could not be shown.
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise EnvelopeError(
            "The document is not valid JSON text (it holds a lone surrogate, \\ud800 to "
            "\\udfff, that stands for no character)."
        ) from None
    except RecursionError:
        raise EnvelopeError("The document is not valid JSON (nested too deeply).") from None
    problem = envelope_shape_problem(obj, body_key)
    if problem is not None:
        raise EnvelopeError(f"The document is not a signed {body_key}: {problem[1]}.")
    return obj


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys would let two readers see two different documents behind one signature.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the field {key!r} appears twice")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
