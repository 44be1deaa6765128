"""TOTP second factor (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno

ISSUER = "MDT Portal"
VALID_WINDOW = 1  # one step either side, for phones whose clocks drift


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """Inline SVG: no image request, no inline script, nothing for the CSP to allow."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")


def matching_step(secret: str, code: str, *, at: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to, or None; a step already used is refused."""
    code = "".join(code.split())
    # ASCII digits only: isdigit() also takes other scripts' digits (fullwidth ones), which
    # the constant-time comparison refuses to compare.
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step_now = totp.timecode(at)
    for step in range(step_now - VALID_WINDOW, step_now + VALID_WINDOW + 1):
        candidate = totp.generate_otp(step)
        if hmac.compare_digest(candidate, code) and (last_step is None or step > last_step):
            return step
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    # 40 random bits each, shown as two groups of five: unguessable under throttling.
    return ["-".join(secrets.token_hex(5)[i : i + 5] for i in (0, 5)) for _ in range(count)]


def recovery_code_hash(code: str) -> str:
    normalised = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(normalised.encode()).hexdigest()
