"""One-time enrolment links: the only way a new account gets its first password.

Whoever creates an account (an agency's lead, or the administrator for an agency's first
lead) never chooses its password: they are shown a link once, to hand over. The person
opens it, sets their own password and is taken straight to setting up their second
factor. The link is random, stored only as its hash, expires, and works once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.auth import passwords
from portal.auth import sessions as web_sessions
from portal.auth.sessions import Stage
from portal.db import stamp_once
from portal.errors import Invalid, NotFound
from portal.models import Actor, Agency, StaffEnrolment, StaffUser

LINK_LIFETIME = timedelta(hours=72)
PATH = "/enrol/"
# The password hash of an account whose holder has not yet opened their link: no
# password verifies against it, so nobody can sign in as the account before they do.
NOT_YET_SET = "!enrolment-pending"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(db: Session, user: StaffUser, *, actor: Actor, at: datetime) -> str:
    """A new link for `user`, replacing any unused one; returns the secret, shown once."""
    for old in db.exec(
        select(StaffEnrolment).where(
            StaffEnrolment.user_id == user.id, StaffEnrolment.used_at.is_(None)
        )
    ).all():
        old.expires_at = min(old.expires_at, at)
    secret = secrets.token_urlsafe(32)
    db.add(
        StaffEnrolment(
            user_id=user.id,
            token_hash=_hash(secret),
            created_at=at,
            expires_at=at + LINK_LIFETIME,
            issued_by_id=actor.id if isinstance(actor, StaffUser) else None,
        )
    )
    record(
        db,
        AuditTag.STAFF_ENROLMENT_ISSUED,
        agency_id=user.agency_id,
        actor=actor,
        subject=user.public_id,
        detail={"expires": (at + LINK_LIFETIME).isoformat(timespec="minutes")},
        at=at,
    )
    return secret


def end_links(
    db: Session, *, of: StaffUser | None = None, issued_by: StaffUser | None = None, at: datetime
) -> int:
    """End the unused links of an account (`of`: deactivated, its link never works again,
    even once it is reactivated), or those shown to `issued_by` (their account or lead
    role ended: a link they never handed over must not let them back in). Returns how many."""
    query = select(StaffEnrolment).where(
        StaffEnrolment.used_at.is_(None), StaffEnrolment.expires_at > at
    )
    if of is not None:
        query = query.where(StaffEnrolment.user_id == of.id)
    if issued_by is not None:
        query = query.where(StaffEnrolment.issued_by_id == issued_by.id)
    links = db.exec(query).all()
    for link in links:
        link.expires_at = at
        db.add(link)
    return len(links)


def shown_to(db: Session, user: StaffUser, viewer: StaffUser, *, at: datetime) -> bool:
    """Whether `viewer` was shown a link for `user` that still works: unused, not expired,
    not ended (the account deactivated, the viewer's lead role gone)."""
    return (
        db.exec(
            select(StaffEnrolment.id).where(
                StaffEnrolment.user_id == user.id,
                StaffEnrolment.issued_by_id == viewer.id,
                StaffEnrolment.used_at.is_(None),
                StaffEnrolment.expires_at > at,
            )
        ).first()
        is not None
    )


def is_pending(user: StaffUser) -> bool:
    return user.password_hash == NOT_YET_SET


def find(db: Session, secret: object, *, at: datetime) -> tuple[StaffEnrolment, StaffUser]:
    """The live link and its account; one answer (404) for unknown, used or expired."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        raise NotFound("enrolment link")
    found = db.exec(
        select(StaffEnrolment, StaffUser)
        .join(StaffUser, StaffUser.id == StaffEnrolment.user_id)
        .where(StaffEnrolment.token_hash == _hash(secret))
    ).first()
    if found is None:
        raise NotFound("enrolment link")
    enrolment, user = found
    agency = db.get(Agency, user.agency_id)
    if (
        enrolment.used_at is not None
        or enrolment.expires_at <= at
        or not user.is_active
        or agency is None
        or not agency.is_active
    ):
        raise NotFound("enrolment link")
    return enrolment, user


def complete(
    db: Session,
    secret: object,
    *,
    password: object,
    confirm: object,
    address: str,
    user_agent: str | None,
    at: datetime,
) -> tuple[str, StaffUser]:
    """Set the holder's own password, spend the link, and open a session that must set up
    a second factor before anything else; returns (session token, user)."""
    enrolment, user = find(db, secret, at=at)
    if not isinstance(password, str) or not password:
        raise Invalid("password", "Choose a password.")
    passwords.check_new_password(password, field="password", username=user.username)
    if password != confirm:
        raise Invalid("confirm_password", "The two passwords do not match.")
    # Of two sends of the form at once, one spends the link; the other finds it used (404),
    # as if it had come second.
    if not stamp_once(db, enrolment, "used_at", at):
        raise NotFound("enrolment link")
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = at
    web_sessions.end_all_for_user(db, user.id, at=at, reason="enrolled")
    token, _ = web_sessions.begin(
        db, user, stage=Stage.TOTP_ENROLMENT, at=at, address=address, user_agent=user_agent
    )
    record(
        db,
        AuditTag.STAFF_ENROLLED,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        at=at,
        client_address=address,
    )
    return token, user
