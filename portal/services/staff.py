"""Staff accounts: create, roles, deactivate, passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.audit import AuditTag, lock_logs, record
from portal.auth import passwords
from portal.auth import sessions as web_sessions
from portal.auth.sessions import Viewer
from portal.auth.throttle import LoginThrottle
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Actor, Agency, CalendarFeed, Role, StaffEnrolment, StaffRole, StaffUser
from portal.services import api_tokens, enrolment, mentor_assignments, submissions, validation
from portal.services.password_check import require_own_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def normalise_username(value: object) -> str:
    return str(value or "").strip().casefold()


def _check_roles(roles: object, *, viewer: Viewer | None) -> set[str]:
    chosen = {str(r) for r in (roles or [])}
    unknown = chosen - {r.value for r in Role}
    if unknown:
        raise Invalid("roles", "Choose roles from the list.")
    if not chosen:
        raise Invalid("roles", "Give at least one role.")
    if (
        viewer is not None
        and Role.ADMINISTRATOR not in viewer.roles
        and Role.ADMINISTRATOR in chosen
    ):
        raise Invalid("roles", "Only an administrator can grant the administrator role.")
    if Role.ADMINISTRATOR in chosen and chosen != {Role.ADMINISTRATOR}:
        # The administrator runs the node and never receives survivor information: an
        # administrator's account holds no other role, so no role can lead it there.
        raise Invalid("roles", "An administrator holds the administrator role and no other.")
    return chosen


def has_lead(
    db: Session, agency: Agency, *, other_than: StaffUser | None = None, at: datetime | None = None
) -> bool:
    """Whether the agency has a lead: its lead manages staff. One still to enrol counts
    while their link can still be used (`at`: now); once it has lapsed unused, nobody can
    lead as them, and the administrator names another."""
    query = (
        select(StaffUser.id)
        .join(StaffRole, StaffRole.user_id == StaffUser.id)
        .where(
            StaffUser.agency_id == agency.id,
            StaffUser.is_active,
            StaffRole.role == Role.AGENCY_LEAD,
        )
    )
    if at is not None:
        live_link = exists().where(
            StaffEnrolment.user_id == StaffUser.id,
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.expires_at > at,
        )
        query = query.where(or_(StaffUser.password_hash != enrolment.NOT_YET_SET, live_link))
    if other_than is not None:
        query = query.where(StaffUser.id != other_than.id)
    return db.exec(query.limit(1)).first() is not None


def refuse_administrator(
    db: Session,
    agency: Agency,
    *,
    viewer: Viewer,
    attempt: str,
    subject: str | None,
    roles: object = None,
    reason: str,
    at: datetime,
) -> None:
    """Audit the administrator's refused attempt in the agency's own log, where its lead
    sees it, and refuse it. The caller keeps the entry although the request fails.
    `roles`: those the attempt would have given, where it was about roles."""
    detail: dict[str, object] = {"attempt": attempt}
    if roles is not None:
        detail["roles"] = sorted({str(r) for r in roles})[:10]
    detail["reason"] = reason
    record(
        db,
        AuditTag.ADMINISTRATOR_REFUSED,
        agency_id=agency.id,
        actor=viewer.user,
        subject=subject,
        detail=detail,
        at=at,
    )
    raise Forbidden(reason)


def _check_administrator_adds(
    db: Session, agency: Agency, roles: object, *, viewer: Viewer, at: datetime
) -> None:
    chosen = {str(r) for r in (roles or [])}
    # The agency's log (where the account is written) before the check: of two first
    # leads added at once, the second finds the first.
    lock_logs(db, [agency.id])
    if has_lead(db, agency, at=at):
        reason = f"{agency.name} has an agency lead, who adds its staff."
    elif chosen != {Role.AGENCY_LEAD}:
        reason = "An administrator adds only an agency's first lead; its lead adds the rest."
    else:
        return
    refuse_administrator(
        db,
        agency,
        viewer=viewer,
        attempt="add staff",
        subject=None,
        roles=chosen,
        reason=reason,
        at=at,
    )


def create_staff(
    db: Session,
    agency: Agency,
    *,
    username: object,
    display_name: object,
    password: object,
    roles: object,
    actor: Actor,
    at: datetime,
) -> StaffUser:
    """An account with a password its holder gave: the operator's own first administrator
    account (`portal staff add`), the synthetic demo and tests. No page reaches this; an
    account made on a page starts from an enrolment link (`invite_staff`). With no
    password, nobody can sign in until the holder opens the link `enrolment.issue` makes."""
    return _new_account(
        db,
        agency,
        username=username,
        display_name=display_name,
        password=password,
        roles=roles,
        actor=actor,
        viewer=None,
        at=at,
    )


def account_fields(
    *,
    username: object,
    display_name: object,
    password: object | None,
    roles: object,
    viewer: Viewer | None = None,
) -> dict:
    """A new account's fields as they are stored, or Invalid naming every one that is
    wrong. Reads nothing from the database, so a caller may check them before it makes
    anything (`portal init`, before it applies the migrations). `password` None: none
    yet (an enrolment link sets it)."""

    def check_username() -> str:
        name = normalise_username(username)
        if not USERNAME.match(name):
            raise Invalid(
                "username",
                "Use 3–64 letters, digits, dots, dashes or underscores, "
                "starting with a letter or digit.",
            )
        return name

    def check_password() -> str:
        if not isinstance(password, str):
            raise Invalid("password", "Password is required.")
        passwords.check_new_password(password, field="password", username=str(username or ""))
        return password

    return validation.collect(
        username=check_username,
        display_name=lambda: validation.text(
            display_name, "display_name", max_length=120, label="Name"
        ),
        password=check_password if password is not None else lambda: None,
        roles=lambda: _check_roles(roles, viewer=viewer),
    )


def _new_account(
    db: Session,
    agency: Agency,
    *,
    username: object,
    display_name: object,
    password: object | None,
    roles: object,
    actor: Actor,
    viewer: Viewer | None,
    at: datetime,
) -> StaffUser:
    values = account_fields(
        username=username,
        display_name=display_name,
        password=password,
        roles=roles,
        viewer=viewer,
    )
    if db.exec(select(StaffUser).where(StaffUser.username == values["username"])).first():
        raise Conflict("username", "This username is taken.")
    user = StaffUser(
        agency_id=agency.id,
        username=values["username"],
        display_name=values["display_name"],
        password_hash=(
            passwords.hash_password(values["password"])
            if values["password"] is not None
            else enrolment.NOT_YET_SET
        ),
        password_changed_at=at,
        created_at=at,
    )
    try:  # usernames are the node's: two agencies taking one at once meet on its unique key
        with db.begin_nested():
            db.add(user)
            db.flush()
    except IntegrityError:
        raise Conflict("username", "This username is taken.") from None
    api_tokens.end_unheld_roles(db, agency, actor=actor, at=at)
    for role in sorted(values["roles"]):
        db.add(StaffRole(user_id=user.id, role=role, granted_at=at))
    record(
        db,
        AuditTag.STAFF_CREATED,
        agency_id=agency.id,
        actor=actor,
        subject=user.public_id,
        detail={"username": user.username, "roles": sorted(values["roles"])},
        at=at,
    )
    return user


STAFF_PAGE = "/admin/staff/"


@dataclass(frozen=True)
class Invitation:
    """An account added on a page, and what to hand its holder."""

    member: StaffUser
    secret: str | None  # the enrolment link's secret, shown once; None: nothing to hand over
    sent_again: bool = False  # the same form sent again: `member` was added by its first copy


def invite_staff(
    db: Session,
    agency: Agency,
    *,
    username: object,
    display_name: object,
    roles: object,
    viewer: Viewer,
    at: datetime,
    submission: str | None = None,
) -> Invitation:
    """A new account with no password yet, and the one-time link (shown once) with which
    its holder sets their own. The administrator may add only an agency's first lead.

    `submission`: the form's once-only token. The same form sent twice (a double click)
    adds one account; as the link is kept only as its hash, the answer the browser ends on
    can show it only by issuing a new one, which ends the first (never seen)."""
    if not submissions.first_time(db, submission, at=at):
        again = _invited_before(db, agency, submission, viewer=viewer, at=at)
        if again is not None:
            return again
        # Its first copy added nobody (refused, its refusal kept): this one is judged anew.
    if Role.ADMINISTRATOR in viewer.roles:
        _check_administrator_adds(db, agency, roles, viewer=viewer, at=at)
    user = _new_account(
        db,
        agency,
        username=username,
        display_name=display_name,
        password=None,
        roles=roles,
        actor=viewer.user,
        viewer=viewer,
        at=at,
    )
    submissions.remember(db, submission, STAFF_PAGE + user.public_id)
    return Invitation(user, enrolment.issue(db, user, actor=viewer.user, at=at))


def _invited_before(
    db: Session, agency: Agency, submission: str | None, *, viewer: Viewer, at: datetime
) -> Invitation | None:
    """The account the form's first copy added, with a new link if the viewer's own link
    for it still works (nobody has used it: a double click, a resent POST); with none once
    it was used, has lapsed or was ended, so an old form sent again reopens nothing."""
    outcome = submissions.outcome_of(db, submission) if submission else None
    if not outcome or not outcome.startswith(STAFF_PAGE):
        return None
    user = db.exec(
        select(StaffUser).where(
            StaffUser.public_id == outcome.removeprefix(STAFF_PAGE),
            StaffUser.agency_id == agency.id,
        )
    ).first()
    if user is None:
        return None
    if not enrolment.shown_to(db, user, viewer.user, at=at):
        return Invitation(user, None, sent_again=True)
    return Invitation(user, enrolment.issue(db, user, actor=viewer.user, at=at), sent_again=True)


def roles_of(db: Session, user: StaffUser) -> set[str]:
    return set(db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)).all())


def _checked_roles(
    db: Session, user: StaffUser, roles: object, *, viewer: Viewer, at: datetime
) -> tuple[set[str], set[str]]:
    """The user's roles now and the roles chosen for them, once the change is one the
    viewer may make (else Invalid, or Forbidden with the refusal kept in the log)."""
    current = roles_of(db, user)
    if Role.ADMINISTRATOR in viewer.roles:
        _check_administrator_sets(db, user, roles, current=current, viewer=viewer, at=at)
    chosen = _check_roles(roles, viewer=viewer)
    if (
        user.id == viewer.user.id
        and not chosen & {Role.AGENCY_LEAD, Role.ADMINISTRATOR}
        and current & {Role.AGENCY_LEAD, Role.ADMINISTRATOR}
    ):
        raise Invalid("roles", "You cannot remove your own lead or administrator role.")
    if Role.ADMINISTRATOR not in viewer.roles and Role.ADMINISTRATOR in current - chosen:
        raise Invalid("roles", "Only an administrator can remove the administrator role.")
    return current, chosen


@dataclass(frozen=True)
class RolesTaken:
    """What setting a user's roles takes from them: the roles, and the live API tokens they
    made that end with them (for good: giving the role back does not revive a token)."""

    roles: tuple[str, ...]
    tokens: tuple[str, ...]  # the tokens' names
    lead_role: bool  # their lead role goes, and with it every token they made


def roles_taken(
    db: Session, user: StaffUser, roles: object, *, viewer: Viewer, at: datetime
) -> RolesTaken:
    """What `set_roles(user, roles)` would take, asked before it is done (the staff page
    asks the viewer to confirm a change that ends tokens). The change is checked as
    `set_roles` checks it, so a change refused is refused here, before anything is asked."""
    current, chosen = _checked_roles(db, user, roles, viewer=viewer, at=at)
    removed = current - chosen
    lead_role = Role.AGENCY_LEAD in removed
    tokens = api_tokens.live_made_by(db, user, acting_in=None if lead_role else removed)
    return RolesTaken(tuple(sorted(removed)), tuple(t.name for t in tokens), lead_role)


def set_roles(db: Session, user: StaffUser, roles: object, *, viewer: Viewer, at: datetime) -> None:
    current, chosen = _checked_roles(db, user, roles, viewer=viewer, at=at)
    if chosen == current:
        return
    agency = db.get(Agency, user.agency_id)
    api_tokens.end_unheld_roles(db, agency, actor=viewer.user, at=at)
    for row in db.exec(select(StaffRole).where(StaffRole.user_id == user.id)).all():
        if row.role not in chosen:
            db.delete(row)
    if Role.AGENCY_LEAD in current - chosen:  # what a lead issued ends with the role
        api_tokens.revoke_all_issued_by(db, user, actor=viewer.user, at=at)
        enrolment.end_links(db, issued_by=user, at=at)
    for role in sorted(chosen - current):
        db.add(StaffRole(user_id=user.id, role=role, granted_at=at))
    db.flush()
    api_tokens.end_unheld_roles(db, agency, actor=viewer.user, at=at)
    record(
        db,
        AuditTag.STAFF_ROLES_CHANGED,
        agency_id=user.agency_id,
        actor=viewer.user,
        subject=user.public_id,
        detail={"added": sorted(chosen - current), "removed": sorted(current - chosen)},
        at=at,
    )


def _check_administrator_sets(
    db: Session,
    user: StaffUser,
    roles: object,
    *,
    current: set[str],
    viewer: Viewer,
    at: datetime,
) -> None:
    """An administrator changes roles only to name a lead-less agency's lead: never to
    give itself or another administrator a role that reads survivor information, never
    in an agency that has a lead."""
    chosen = {str(r) for r in (roles or [])}
    agency = db.get(Agency, user.agency_id)
    if Role.ADMINISTRATOR in chosen - current:
        # Never given to an agency's staff (a lead made administrator leaves the agency
        # lead-less, and the administrator free to name a lead of its choosing).
        reason = "The administrator role is the node operator's; it is not given to staff."
    elif Role.ADMINISTRATOR in current | chosen:
        if chosen <= {Role.ADMINISTRATOR}:
            return  # nothing beyond the administrator role; _check_roles does the rest
        reason = "An administrator cannot hold a role that reads survivor information."
    elif has_lead(db, agency, other_than=user, at=at):
        reason = f"{agency.name} has an agency lead, who manages its staff's roles."
    elif chosen == {Role.AGENCY_LEAD}:
        return
    else:
        reason = "An administrator only names an agency's first lead; its lead does the rest."
    refuse_administrator(
        db,
        agency,
        viewer=viewer,
        attempt="change roles",
        subject=user.public_id,
        roles=chosen,
        reason=reason,
        at=at,
    )


def lead_kept_from(db: Session, viewer: Viewer, user: StaffUser) -> bool:
    """Whether `user` is a lead the viewer, as the node's administrator, may not manage:
    another lead of the agency deactivates, reactivates and changes them."""
    return Role.ADMINISTRATOR in viewer.roles and Role.AGENCY_LEAD in roles_of(db, user)


def _refuse_administrator_on_lead(
    db: Session, user: StaffUser, *, viewer: Viewer, doing: str, at: datetime
) -> None:
    """The administrator may not `doing` ("deactivate", "reactivate") an agency's lead:
    refused, and the attempt kept in the agency's log."""
    if lead_kept_from(db, viewer, user):
        refuse_administrator(
            db,
            db.get(Agency, user.agency_id),
            viewer=viewer,
            attempt=f"{doing} a lead",
            subject=user.public_id,
            roles=[Role.AGENCY_LEAD],
            reason=f"A lead is {doing}d by another lead of their agency.",
            at=at,
        )


def deactivate(db: Session, user: StaffUser, *, viewer: Viewer, at: datetime) -> None:
    if user.id == viewer.user.id:
        raise Invalid("user", "You cannot deactivate your own account.")
    if not user.is_active:
        return
    # A mentor's assignments, their tasks and every log written to below (the agency's, for
    # the tokens' revocations; those the assignments' ends write to) are held before any
    # write, in the one order: an end of one of the assignments, or an assignment of another
    # case, at the same moment waits or is waited for; taken piece by piece, they deadlocked.
    mentor_assignments.hold_for_deactivation(db, user, also_logs=[user.agency_id])
    # A lead-less agency's first lead is the administrator's to name: deposing a lead
    # would hand it a lead's account in an agency that holds survivors' records.
    _refuse_administrator_on_lead(db, user, viewer=viewer, doing="deactivate", at=at)
    user.is_active = False
    user.deactivated_at = at
    ended = web_sessions.end_all_for_user(db, user.id, at=at, reason="deactivated")
    # What the account holds ends with it, for good: a reactivated account does not revive
    # its API tokens, its calendar feed's address, its own enrolment link, or the links it
    # was shown to hand over.
    revoked = api_tokens.revoke_all_issued_by(db, user, actor=viewer.user, at=at)
    db.flush()  # a role they were the last to hold: the tokens acting in it end too
    revoked += api_tokens.end_unheld_roles(
        db, db.get(Agency, user.agency_id), actor=viewer.user, at=at
    )
    feeds = end_calendar_feeds(db, user, at=at)
    links = enrolment.end_links(db, of=user, at=at) + enrolment.end_links(db, issued_by=user, at=at)
    # A mentor who has left is nobody's mentor: their cases show as having none.
    unassigned = mentor_assignments.end_for_deactivated_mentor(db, user, actor=viewer.user, at=at)
    record(
        db,
        AuditTag.STAFF_DEACTIVATED,
        agency_id=user.agency_id,
        actor=viewer.user,
        subject=user.public_id,
        detail={
            "sessions_ended": ended,
            "tokens_revoked": revoked,
            "calendar_feeds_ended": feeds,
            "enrolment_links_ended": links,
            "cases_unassigned": unassigned,
        },
        at=at,
    )


def end_calendar_feeds(db: Session, user: StaffUser, *, at: datetime) -> int:
    """End the account's calendar feed addresses; returns how many were live."""
    feeds = db.exec(
        select(CalendarFeed).where(
            CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None)
        )
    ).all()
    for feed in feeds:
        feed.revoked_at = at
        db.add(feed)
    return len(feeds)


def reactivate(db: Session, user: StaffUser, *, viewer: Viewer, at: datetime) -> None:
    if user.is_active:
        return
    # As for deactivating one: bringing back a lead another lead deposed is the agency's
    # own decision, not the node administrator's.
    _refuse_administrator_on_lead(db, user, viewer=viewer, doing="reactivate", at=at)
    api_tokens.end_unheld_roles(db, db.get(Agency, user.agency_id), actor=viewer.user, at=at)
    user.is_active = True
    user.deactivated_at = None
    record(
        db,
        AuditTag.STAFF_REACTIVATED,
        agency_id=user.agency_id,
        actor=viewer.user,
        subject=user.public_id,
        at=at,
    )


def end_sessions(db: Session, user: StaffUser, *, viewer: Viewer, at: datetime) -> int:
    keep = viewer.session if user.id == viewer.user.id else None
    ended = web_sessions.end_all_for_user(db, user.id, at=at, reason="ended_by_admin", keep=keep)
    record(
        db,
        AuditTag.SESSION_ENDED,
        agency_id=user.agency_id,
        actor=viewer.user,
        subject=user.public_id,
        detail={"sessions_ended": ended},
        at=at,
    )
    return ended


def change_password(
    db: Session,
    viewer: Viewer,
    *,
    current: object,
    new: object,
    confirm: object,
    throttle: LoginThrottle,
    address: str,
    at: datetime,
) -> None:
    """`throttle`, `address`: the current password is counted as a sign-in's is."""
    user = viewer.user
    require_own_password(
        db,
        user,
        current,
        throttle=throttle,
        address=address,
        field="current_password",
        message="Your current password is not correct.",
        at=at,
    )
    if not isinstance(new, str):
        raise Invalid("new_password", "Enter a new password.")
    passwords.check_new_password(new, username=user.username)
    if new != confirm:
        raise Invalid("confirm_password", "The two new passwords do not match.")
    if new == current:
        raise Invalid("new_password", "Choose a password different from the current one.")
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = at
    # Anyone else holding a session on this account is signed out by a password change.
    ended = web_sessions.end_all_for_user(
        db, user.id, at=at, reason="password_changed", keep=viewer.session
    )
    record(
        db,
        AuditTag.PASSWORD_CHANGED,
        agency_id=user.agency_id,
        actor=user,
        subject=user.public_id,
        detail={"other_sessions_ended": ended},
        at=at,
    )


def access_staff(db: Session, viewer: Viewer, public_id: str) -> StaffUser:
    user = db.exec(select(StaffUser).where(StaffUser.public_id == public_id)).first()
    if user is None:
        raise NotFound("staff member")
    if Role.ADMINISTRATOR in viewer.roles:
        return user
    # A lead manages their own agency's staff, never the node's operator, whose account
    # lives in an agency's staff table too (`portal init` puts it in the first agency).
    if (
        Role.AGENCY_LEAD in viewer.roles
        and user.agency_id == viewer.agency.id
        and not _is_administrator(db, user)
    ):
        return user
    raise NotFound("staff member")


def _is_administrator(db: Session, user: StaffUser) -> bool:
    return (
        db.exec(
            select(StaffRole.id).where(
                StaffRole.user_id == user.id, StaffRole.role == Role.ADMINISTRATOR
            )
        ).first()
        is not None
    )


def staff_of(db: Session, agency: Agency) -> list[tuple[StaffUser, list[str]]]:
    users = db.exec(
        select(StaffUser).where(StaffUser.agency_id == agency.id).order_by(StaffUser.display_name)
    ).all()
    roles = db.exec(
        select(StaffRole.user_id, StaffRole.role)
        .join(StaffUser, StaffUser.id == StaffRole.user_id)
        .where(StaffUser.agency_id == agency.id)
    ).all()
    by_user: dict[int, list[str]] = {}
    for user_id, role in roles:
        by_user.setdefault(user_id, []).append(role)
    return [(user, sorted(by_user.get(user.id, []))) for user in users]


def forbid_unless_lead(viewer: Viewer) -> None:
    if not viewer.roles & {Role.AGENCY_LEAD, Role.ADMINISTRATOR}:
        raise Forbidden()
