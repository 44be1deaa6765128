"""API tokens: create (the secret is returned once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists
from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.auth.sessions import Viewer
from portal.errors import Invalid, NotFound
from portal.models import Actor, Agency, ApiScope, ApiToken, Role, StaffRole, StaffUser
from portal.services import validation

TOKEN_PREFIX = "mdt_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    db: Session,
    viewer: Viewer,
    *,
    name: object,
    scopes: list[str],
    acting_role: object,
    at: datetime,
    secret: str | None = None,
) -> IssuedToken:
    """A token bound to one role its creator holds: a lead cannot hand a system a role (and
    so sections the policy keeps for that role) they do not have themselves. `secret`: only
    the demo names one (a known, synthetic secret, like its passwords); otherwise random."""

    def check_scopes() -> list[str]:
        chosen = sorted(set(scopes))
        if not chosen:
            raise Invalid("scopes", "Choose at least one scope.")
        if set(chosen) - {s.value for s in ApiScope}:
            raise Invalid("scopes", "Choose scopes from the list.")
        return chosen

    def check_role() -> str:
        if acting_role not in roles_for_token(db, viewer):
            raise Invalid(
                "acting_role", "Choose one of your own roles: a token acts only in a role you hold."
            )
        return str(acting_role)

    values = validation.collect(
        name=lambda: validation.text(name, "name", max_length=80),
        scopes=check_scopes,
        acting_role=check_role,
    )
    if secret is None:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        agency_id=viewer.agency.id,
        name=values["name"],
        token_hash=_hash(secret),
        scopes=" ".join(values["scopes"]),
        acting_user_id=viewer.user.id,
        acting_role=values["acting_role"],
        created_at=at,
    )
    db.add(token)
    db.flush()
    record(
        db,
        AuditTag.API_TOKEN_CREATED,
        agency_id=viewer.agency.id,
        actor=viewer.user,
        subject=token.public_id,
        detail={"name": token.name, "scopes": values["scopes"], "role": token.acting_role},
        at=at,
    )
    return IssuedToken(token, secret)


def roles_for_token(db: Session, viewer: Viewer) -> list[str]:
    """The roles a token the viewer makes may act in: their own in their agency, as stored
    now. Never the administrator's, which reads nothing of the agency's."""
    held = db.exec(
        select(StaffRole.role)
        .join(StaffUser, StaffUser.id == StaffRole.user_id)
        .where(
            StaffUser.id == viewer.user.id,
            StaffUser.agency_id == viewer.agency.id,
            StaffUser.is_active,
        )
    ).all()
    return sorted(set(held) - {Role.ADMINISTRATOR.value})


def token_of(db: Session, agency: Agency, public_id: str) -> ApiToken:
    """One of the agency's own tokens (404 for any other)."""
    token = db.exec(
        select(ApiToken).where(ApiToken.public_id == public_id, ApiToken.agency_id == agency.id)
    ).first()
    if token is None:
        raise NotFound("API token")
    return token


def revoke_token(db: Session, viewer: Viewer, public_id: str, *, at: datetime) -> ApiToken:
    token = token_of(db, viewer.agency, public_id)
    if token.revoked_at is None:
        token.revoked_at = at
        record(
            db,
            AuditTag.API_TOKEN_REVOKED,
            agency_id=token.agency_id,
            actor=viewer.user,
            subject=token.public_id,
            at=at,
        )
    return token


LAST_USED_GRAIN = timedelta(minutes=1)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def live_issued_by(db: Session, user: StaffUser) -> int:
    """How many tokens `user` issued still work (what deactivating them would end)."""
    return len(
        db.exec(
            select(ApiToken.id).where(
                ApiToken.acting_user_id == user.id, ApiToken.revoked_at.is_(None)
            )
        ).all()
    )


def live_made_by(
    db: Session, user: StaffUser, *, acting_in: Collection[str] | None = None
) -> list[ApiToken]:
    """The tokens `user` made that still work: all of them, or those acting in one of the
    roles `acting_in` (what taking those roles from them would end)."""
    query = select(ApiToken).where(
        ApiToken.acting_user_id == user.id, ApiToken.revoked_at.is_(None)
    )
    if acting_in is not None:
        query = query.where(ApiToken.acting_role.in_(sorted(acting_in)))
    return list(db.exec(query.order_by(ApiToken.created_at, ApiToken.id)).all())


def revoke_all_issued_by(db: Session, user: StaffUser, *, actor: Actor, at: datetime) -> int:
    """Revoke every token `user` issued (their account deactivated, their lead role gone):
    a token never comes back with the account or the role. Returns how many."""
    live = db.exec(
        select(ApiToken).where(ApiToken.acting_user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    return _revoke(db, live, because="its lead's account or lead role ended", actor=actor, at=at)


def _revoke(db: Session, live, *, because: str, actor: Actor, at: datetime) -> int:
    """End these tokens for good, each with its entry in its agency's log."""
    for token in live:
        token.revoked_at = at
        record(
            db,
            AuditTag.API_TOKEN_REVOKED,
            agency_id=token.agency_id,
            actor=actor,
            subject=token.public_id,
            detail={"because": because},
            at=at,
        )
    return len(live)


def end_unheld_roles(db: Session, agency: Agency, *, actor: Actor, at: datetime) -> int:
    """Revoke the agency's live tokens whose creator does not hold their role (taken from
    them, their account deactivated): such a token never comes back when the role does.
    Called where roles go, and before they are granted, so that a token made before this
    rule by a lead without its role does not start working when they are given it.
    Returns how many."""
    creator_holds = exists().where(
        StaffRole.user_id == ApiToken.acting_user_id,
        StaffRole.role == ApiToken.acting_role,
        StaffUser.id == StaffRole.user_id,
        StaffUser.agency_id == ApiToken.agency_id,
        StaffUser.is_active,
    )
    live = db.exec(
        select(ApiToken).where(
            ApiToken.agency_id == agency.id, ApiToken.revoked_at.is_(None), ~creator_holds
        )
    ).all()
    return _revoke(db, live, because="its creator no longer holds its role", actor=actor, at=at)


def tokens_of(db: Session, agency: Agency) -> list[ApiToken]:
    return list(
        db.exec(
            select(ApiToken)
            .where(ApiToken.agency_id == agency.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling the API: the token, and the viewer it acts as."""

    token: ApiToken
    viewer: Viewer


def authenticate(db: Session, authorization: str | None, *, at: datetime) -> ApiCaller | None:
    """The caller behind `Authorization: Bearer …`, or None for any failure alike."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    secret = authorization[len("Bearer ") :].strip()
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = db.exec(select(ApiToken).where(ApiToken.token_hash == _hash(secret))).first()
    if token is None or token.revoked_at is not None:
        return None
    user = db.get(StaffUser, token.acting_user_id)
    agency = db.get(Agency, token.agency_id)
    if user is None or not user.is_active or agency is None or not agency.is_active:
        return None
    # The lead who issued it must still lead, and still hold the role the token acts in (the
    # services end such a token; this refuses one they missed): a token never outlives the
    # reasons it was made for, nor acts in a role its creator lacks. One lookup on the
    # (user, role) unique index.
    needed = {Role.AGENCY_LEAD.value, token.acting_role}
    held = db.exec(
        select(StaffRole.role).where(StaffRole.user_id == user.id, StaffRole.role.in_(needed))
    ).all()
    if user.agency_id != agency.id or set(held) != needed:
        return None
    # To the minute: a read through the API otherwise wrote on every call (on SQLite, taking
    # the node's one write lock for a GET).
    if token.last_used_at is None or at - _aware(token.last_used_at) >= LAST_USED_GRAIN:
        token.last_used_at = at
    return ApiCaller(
        token, Viewer(user=user, agency=agency, roles=frozenset({token.acting_role}), session=None)
    )
