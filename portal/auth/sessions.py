"""Server-side sessions: a random cookie token, stored only as its hash; revocable."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func
from sqlmodel import Session, select

from portal.models import Agency, Role, StaffRole, StaffUser, WebSession

COOKIE_NAME = "portal_session"


class Stage:
    PASSWORD = "password"  # password given, second factor pending
    TOTP_ENROLMENT = "totp_enrolment"  # agency requires a second factor; user must enrol
    FULL = "full"


def signed_in_now(*, now: datetime, idle: timedelta, absolute: timedelta):
    """The sessions someone is signed in with now, as SQL conditions: fully signed in (not
    a password waiting for its second factor), not ended, seen within the idle timeout and
    within their lifetime. Sessions past either are ended only when their cookie next
    comes back, so `ended_at` alone counts people long gone."""
    return and_(
        WebSession.stage == Stage.FULL,
        WebSession.ended_at.is_(None),
        WebSession.last_seen_at > now - idle,
        WebSession.created_at > now - absolute,
    )


@dataclass
class Viewer:
    """Who is asking: the signed-in staff user, their agency and roles."""

    user: StaffUser
    agency: Agency
    roles: frozenset[str]
    session: WebSession

    @property
    def is_complete(self) -> bool:
        return self.session.stage == Stage.FULL


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin(
    db: Session,
    user: StaffUser,
    *,
    stage: str,
    at: datetime,
    address: str | None,
    user_agent: str | None,
) -> tuple[str, WebSession]:
    """A new session with a new id: called at every step up, so ids rotate at sign-in."""
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        stage=stage,
        created_at=at,
        last_seen_at=at,
        client_address=address,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(web_session)
    db.flush()
    return token, web_session


def end(web_session: WebSession, *, at: datetime, reason: str) -> None:
    if web_session.ended_at is None:
        web_session.ended_at = at
        web_session.end_reason = reason


def end_all_for_user(
    db: Session, user_id: int, *, at: datetime, reason: str, keep: WebSession | None = None
) -> int:
    live = db.exec(
        select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    ).all()
    ended = 0
    for web_session in live:
        if keep is not None and web_session.id == keep.id:
            continue
        end(web_session, at=at, reason=reason)
        ended += 1
    return ended


# How stale last_seen_at may grow before a request writes it again: the idle timeout is
# kept to within this, and most requests (a page and its fragments) write nothing.
TOUCH_EVERY = timedelta(seconds=60)

# Built once: every request runs them.
_ROLES_OF_USER = (
    select(func.aggregate_strings(StaffRole.role, ","))
    .where(StaffRole.user_id == StaffUser.id)
    .scalar_subquery()
)
_SESSION_BY_TOKEN = (
    select(WebSession, StaffUser, Agency, _ROLES_OF_USER)
    .outerjoin(StaffUser, StaffUser.id == WebSession.user_id)
    .outerjoin(Agency, Agency.id == StaffUser.agency_id)
    .where(WebSession.token_hash == bindparam("token"))
)


def resume(
    db: Session, token: str | None, *, at: datetime, idle: timedelta, absolute: timedelta
) -> Viewer | None:
    """The viewer behind a cookie, or None; ends a session that has idled out."""
    if not token or len(token) > 100:
        return None
    found = db.exec(_SESSION_BY_TOKEN, params={"token": token_hash(token)}).first()
    if found is None:
        return None
    web_session, user, agency, roles = found
    if web_session.ended_at is not None:
        return None
    if at - web_session.last_seen_at > idle:
        end(web_session, at=at, reason="idle")
        return None
    if at - web_session.created_at > absolute:
        end(web_session, at=at, reason="lifetime")
        return None
    if user is None or not user.is_active or agency is None or not agency.is_active:
        end(web_session, at=at, reason="deactivated")
        return None
    if web_session.stage == Stage.TOTP_ENROLMENT and user.totp_enabled_at is not None:
        # Set up meanwhile from another device: this one is asked for a code, not sent to
        # set one up (which would send it back here, round and round).
        web_session.stage = Stage.PASSWORD
    if web_session.stage == Stage.FULL and agency.requires_totp and user.totp_enabled_at is None:
        # The agency now requires a second factor: a session begun without one goes no
        # further than enrolling one, from its next request, not from its next sign-in.
        web_session.stage = Stage.TOTP_ENROLMENT
    if at - web_session.last_seen_at >= TOUCH_EVERY:
        web_session.last_seen_at = at
    return Viewer(user=user, agency=agency, roles=effective_roles(roles), session=web_session)


def effective_roles(stored: str | None) -> frozenset[str]:
    """The roles a session acts in. An administrator acts as nothing else, whatever rows
    an older version or a database writer left beside its role: the administrator never
    receives survivor information, by any path."""
    roles = frozenset((stored or "").split(",")) - {""}
    return frozenset({Role.ADMINISTRATOR.value}) if Role.ADMINISTRATOR in roles else roles


def push_flash(web_session: WebSession, message: str, kind: str = "info") -> None:
    messages = json.loads(web_session.flash or "[]")
    messages.append({"kind": kind, "message": message[:300]})
    web_session.flash = json.dumps(messages[-5:])


def pop_flash(web_session: WebSession) -> list[dict]:
    if web_session.flash is None:
        # Setting it to None again would still mark the session changed, and the next
        # query would run a whole (empty) flush for it: every page view paid that.
        return []
    messages = json.loads(web_session.flash)
    web_session.flash = None
    return messages
