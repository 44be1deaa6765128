"""A password asked of someone: counted by the sign-in throttle wherever it is asked.

Sign-in counts failures per account and address and makes each one past the free ones wait
longer. A signed-in person is asked their password again before changing it or turning
their second factor off: a session left open on a shared computer must not be a way to
guess it faster than the sign-in form allows, so those asks count too.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from portal.audit import AuditTag, record
from portal.auth import passwords
from portal.auth.throttle import LoginThrottle
from portal.errors import Invalid, TooManyAttempts
from portal.models import StaffUser

THROTTLED = "Too many failed attempts from here. Wait {seconds} seconds before trying again."


def too_many_attempts(
    db: Session, throttle: LoginThrottle, name: str, address: str, *, second_factor: bool = False
) -> TooManyAttempts:
    """The 429 for an account and address that must wait, saying how long."""
    seconds = max(1, round(throttle.wait(db, name, address, second_factor=second_factor)))
    return TooManyAttempts(THROTTLED.format(seconds=seconds))


def require_own_password(
    db: Session,
    user: StaffUser,
    password: object,
    *,
    throttle: LoginThrottle,
    address: str,
    field: str,
    message: str,
    at: datetime,
) -> None:
    """The signed-in user's own password, asked again: refused (`field`, `message`) and
    counted and logged as a failed sign-in when wrong (a session left open on a shared
    computer must not be a place to guess it unseen), refused with a wait while the count
    says so. The caller keeps the entry through the 4xx."""
    asked_again = {"step": "password asked again"}
    if not throttle.allowed(db, user.username, address):
        _log_attempt(db, AuditTag.SIGN_IN_THROTTLED, user, address, at, asked_again)
        raise too_many_attempts(db, throttle, user.username, address)
    if not isinstance(password, str) or not passwords.verify_password(
        user.password_hash, password[:256]
    ):
        throttle.failed(db, user.username, address)
        _log_attempt(db, AuditTag.SIGN_IN_FAILED, user, address, at, asked_again)
        raise Invalid(field, message)


def _log_attempt(db, tag, user: StaffUser, address: str, at: datetime, detail: dict) -> None:
    record(
        db,
        tag,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        detail=detail,
        at=at,
        client_address=address,
    )
