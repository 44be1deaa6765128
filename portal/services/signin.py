"""Signing in and out, and the TOTP second factor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.auth import passwords, totp
from portal.auth import sessions as web_sessions
from portal.auth.sessions import Stage, Viewer
from portal.auth.throttle import LoginThrottle
from portal.crypto import KeyWrapper
from portal.db import between_transactions
from portal.errors import Invalid, TooManyAttempts
from portal.models import Agency, RecoveryCode, StaffUser, WebSession
from portal.services.password_check import require_own_password, too_many_attempts
from portal.services.staff import normalise_username

# One message for every failure: it never says whether the account exists.
SIGN_IN_FAILED = "That username and password do not match an active account."


@dataclass
class SignIn:
    token: str
    session: WebSession
    user: StaffUser


def sign_in(
    db: Session,
    *,
    username: object,
    password: object,
    address: str,
    user_agent: str | None,
    throttle: LoginThrottle,
    at: datetime,
) -> SignIn:
    name = normalise_username(username)[:64]
    password = password if isinstance(password, str) else ""
    if not throttle.allowed(db, name, address):
        user = _find(db, name)
        record(
            db,
            AuditTag.SIGN_IN_THROTTLED,
            agency_id=user.agency_id if user else None,
            subject=user.public_id if user else None,
            at=at,
            client_address=address,
        )
        raise too_many_attempts(db, throttle, name, address)
    user = _find(db, name)
    stored_hash = user.password_hash if user else None
    # Other people's pages go on meanwhile; the account is read again after it.
    ok = between_transactions(db, lambda: passwords.verify_password(stored_hash, password[:256]))
    if user is not None:
        db.refresh(user)
    agency = db.get(Agency, user.agency_id) if user else None
    if not (ok and user.is_active and agency is not None and agency.is_active):
        throttle.failed(db, name, address)
        record(
            db,
            AuditTag.SIGN_IN_FAILED,
            agency_id=user.agency_id if user else None,
            subject=user.public_id if user else None,
            at=at,
            client_address=address,
        )
        raise Invalid("password", SIGN_IN_FAILED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled_at is not None:
        stage = Stage.PASSWORD
    elif agency.requires_totp:
        stage = Stage.TOTP_ENROLMENT
    else:
        stage = Stage.FULL
    if stage != Stage.PASSWORD:
        # Cleared once signed in, not while a second factor is still to come: else whoever
        # knows the password would get a fresh count of second-factor guesses each time.
        throttle.succeeded(db, name, address)
    token, web_session = web_sessions.begin(
        db, user, stage=stage, at=at, address=address, user_agent=user_agent
    )
    record(
        db,
        # Not signed in yet where a code is still to come: the log says which.
        AuditTag.PASSWORD_ACCEPTED if stage == Stage.PASSWORD else AuditTag.SIGNED_IN,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        detail={"stage": stage},
        at=at,
        client_address=address,
    )
    return SignIn(token, web_session, user)


def _find(db: Session, name: str) -> StaffUser | None:
    if not name:
        return None
    return db.exec(select(StaffUser).where(StaffUser.username == name)).first()


def sign_out(db: Session, viewer: Viewer, *, at: datetime) -> None:
    web_sessions.end(viewer.session, at=at, reason="signed_out")
    record(
        db,
        AuditTag.SIGNED_OUT,
        agency_id=viewer.user.agency_id,
        actor=viewer.user,
        subject=viewer.user.public_id,
        at=at,
    )


def verify_second_factor(
    db: Session,
    viewer: Viewer,
    code: object,
    *,
    keys: KeyWrapper,
    throttle: LoginThrottle,
    address: str,
    user_agent: str | None,
    at: datetime,
) -> SignIn:
    """Step a password-stage session up to a full one, with a new session id."""
    user = viewer.user
    code = code if isinstance(code, str) else ""
    if not throttle.allowed(db, user.username, address, second_factor=True):
        record(
            db,
            AuditTag.SIGN_IN_THROTTLED,
            agency_id=user.agency_id,
            actor=user,
            subject=user.public_id,
            detail={"step": "second factor"},
            at=at,
            client_address=address,
        )
        raise too_many_attempts(db, throttle, user.username, address, second_factor=True)
    used = None
    secret = keys.unwrap(user.totp_secret).decode() if user.totp_secret else None
    step = (
        totp.matching_step(secret, code, at=at, last_step=user.totp_last_step) if secret else None
    )
    # Taken with one statement each, that only one of two sign-ins at once can win: a code
    # (or a time step) used once opens one session.
    if step is not None and _took_step(db, user, step):
        used = "totp"
    elif step is None and _took_recovery_code(db, user, code, at=at):
        used = "recovery_code"
        record(
            db,
            AuditTag.RECOVERY_CODE_USED,
            agency_id=user.agency_id,
            actor=user,
            subject=user.public_id,
            at=at,
            client_address=address,
        )
    if used is None:
        throttle.failed(db, user.username, address, second_factor=True)
        spent = throttle.code_failed_in_session(db, viewer.session.id)
        record(
            db,
            AuditTag.SECOND_FACTOR_FAILED,
            agency_id=user.agency_id,
            actor=user,
            subject=user.public_id,
            detail={"session_ended": True} if spent else None,
            at=at,
            client_address=address,
        )
        if spent:
            web_sessions.end(viewer.session, at=at, reason="too_many_codes")
            raise SecondFactorSpent(
                "Too many wrong codes: sign in again with your password to try once more."
            )
        raise Invalid(
            "code",
            "That code is not valid. Use the current code from your app, "
            "or one of your recovery codes.",
        )
    throttle.succeeded(db, user.username, address)
    web_sessions.end(viewer.session, at=at, reason="stepped_up")
    token, web_session = web_sessions.begin(
        db, user, stage=Stage.FULL, at=at, address=address, user_agent=user_agent
    )
    record(
        db,
        AuditTag.SIGNED_IN,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        detail={"stage": Stage.FULL, "second_factor": used},
        at=at,
        client_address=address,
    )
    return SignIn(token, web_session, user)


class SecondFactorSpent(TooManyAttempts):
    """A password-stage session that has had its share of wrong codes: it is ended."""


def _took_step(db: Session, user: StaffUser, step: int) -> bool:
    """Move the user's last used time step on to `step`, only if no sign-in took it (or a
    later one) first."""
    moved = db.execute(
        update(StaffUser)
        .where(
            StaffUser.id == user.id,
            or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    if moved.rowcount != 1:
        return False
    db.refresh(user, ["totp_last_step"])
    return True


def _took_recovery_code(db: Session, user: StaffUser, code: str, *, at: datetime) -> bool:
    """Mark one of the user's unused recovery codes used, only if no sign-in took it first."""
    taken = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == totp.recovery_code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=at)
    )
    return taken.rowcount == 1


def start_totp_enrolment(viewer: Viewer, *, keys: KeyWrapper) -> str:
    """A pending secret kept (wrapped) on the session until the user proves they stored it."""
    if viewer.session.pending_totp_secret:
        return keys.unwrap(viewer.session.pending_totp_secret).decode()
    secret = totp.new_secret()
    viewer.session.pending_totp_secret = keys.wrap(secret.encode())
    return secret


def confirm_totp_enrolment(
    db: Session,
    viewer: Viewer,
    code: object,
    *,
    keys: KeyWrapper,
    at: datetime,
    address: str,
    user_agent: str | None,
) -> tuple[list[str], SignIn | None]:
    """Enable TOTP; returns the recovery codes (shown once) and, if the session was
    waiting on enrolment, the new full session that replaces it."""
    user = viewer.user
    if user.totp_enabled_at is not None:
        raise Invalid("code", "A second factor is already set up for this account.")
    if not viewer.session.pending_totp_secret:
        raise Invalid("code", "Start the set-up again: the pending secret has expired.")
    secret = keys.unwrap(viewer.session.pending_totp_secret).decode()
    step = totp.matching_step(secret, code if isinstance(code, str) else "", at=at, last_step=None)
    if step is None:
        raise Invalid(
            "code",
            "That code does not match. Check the time on your phone and "
            "enter the current 6-digit code.",
        )
    user.totp_secret = keys.wrap(secret.encode())
    user.totp_enabled_at = at
    user.totp_last_step = step
    viewer.session.pending_totp_secret = None
    codes = _replace_recovery_codes(db, user)
    record(
        db,
        AuditTag.TOTP_ENROLLED,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        at=at,
    )
    stepped_up = None
    if viewer.session.stage == Stage.TOTP_ENROLMENT:
        web_sessions.end(viewer.session, at=at, reason="stepped_up")
        token, web_session = web_sessions.begin(
            db, user, stage=Stage.FULL, at=at, address=address, user_agent=user_agent
        )
        stepped_up = SignIn(token, web_session, user)
    return codes, stepped_up


def regenerate_recovery_codes(
    db: Session,
    viewer: Viewer,
    *,
    password: object,
    throttle: LoginThrottle,
    address: str,
    at: datetime,
) -> list[str]:
    """New recovery codes, the old ones void: asked with the password, as turning the
    second factor off is (ten codes are ten second factors)."""
    if viewer.user.totp_enabled_at is None:
        raise Invalid("code", "Set up a second factor first.")
    require_own_password(
        db,
        viewer.user,
        password,
        throttle=throttle,
        address=address,
        field="code",
        message="Your password is not correct.",
        at=at,
    )
    codes = _replace_recovery_codes(db, viewer.user)
    record(
        db,
        AuditTag.RECOVERY_CODES_REGENERATED,
        agency_id=viewer.user.agency_id,
        actor=viewer.user,
        subject=viewer.user.public_id,
        at=at,
    )
    return codes


def disable_totp(
    db: Session,
    viewer: Viewer,
    *,
    password: object,
    throttle: LoginThrottle,
    address: str,
    at: datetime,
) -> None:
    user = viewer.user
    if user.totp_enabled_at is None:
        raise Invalid("password", "Two-step sign-in is not set up on your account.")
    if viewer.agency.requires_totp:
        raise Invalid("password", "Your agency requires a second factor; it cannot be turned off.")
    require_own_password(
        db,
        user,
        password,
        throttle=throttle,
        address=address,
        field="password",
        message="Your password is not correct.",
        at=at,
    )
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    for row in db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
        db.delete(row)
    record(
        db,
        AuditTag.TOTP_DISABLED,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        at=at,
    )


def _replace_recovery_codes(db: Session, user: StaffUser) -> list[str]:
    for row in db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
        db.delete(row)
    codes = totp.new_recovery_codes()
    for code in codes:
        db.add(RecoveryCode(user_id=user.id, code_hash=totp.recovery_code_hash(code)))
    return codes


def unused_recovery_codes(db: Session, user: StaffUser) -> int:
    return len(
        db.exec(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )
