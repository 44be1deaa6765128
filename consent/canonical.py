"""Canonical JSON bytes (RFC 8785, JCS): the exact bytes a signature covers."""

from __future__ import annotations

from typing import Any

import rfc8785


class CanonicalFormError(ValueError):
    """A value with no RFC 8785 form: NaN, infinity, an integer beyond I-JSON, a non-JSON type."""


def canonical_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as error:
        raise CanonicalFormError(str(error)) from error
