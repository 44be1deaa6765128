"""Staff users, their roles, second factors and server-side sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class Role(StrEnum):
    ADVOCATE = "advocate"
    CASE_MANAGER = "case_manager"
    CLINICIAN = "clinician"
    INVESTIGATOR = "investigator"
    SURVIVOR_MENTOR = "survivor_mentor"
    MDT_COORDINATOR = "mdt_coordinator"
    AGENCY_LEAD = "agency_lead"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return {
            "survivor_mentor": "survivor-mentor",
            "mdt_coordinator": "MDT coordinator",
        }.get(self.value, self.value.replace("_", " "))


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"
    __table_args__ = (UniqueConstraint("username"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    username: str = Field(max_length=64)  # stored casefolded
    display_name: str = Field(max_length=120)
    password_hash: str = Field(max_length=200)
    password_changed_at: datetime = Field(sa_type=UTCDateTime)
    is_active: bool = True
    totp_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = None  # refuses a code replayed within its window
    created_at: datetime = Field(sa_type=UTCDateTime)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Who did something, as every service below the handlers takes it (keyword-only `actor`):
# a staff user of this node, or None for the node itself (the CLI, the seed, the system).
# The audit log also takes a Requester (portal.audit.log.AuditActor).
Actor = StaffUser | None


class StaffRole(SQLModel, table=True):
    __tablename__ = "staff_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    role: str = Field(max_length=30)
    granted_at: datetime = Field(sa_type=UTCDateTime)


class StaffEnrolment(SQLModel, table=True):
    """A one-time link with which a new account's holder sets their own password.

    Nobody but that person ever chooses the password: whoever creates the account is shown
    the link once, to hand over; only its hash is kept, it expires, and it works once.
    """

    __tablename__ = "staff_enrolment"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # Who was shown the link (None: the operator's command line). A link its issuer never
    # handed over ends with the issuer's account or lead role.
    issued_by_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    # "password" until the second factor is given; "totp_enrolment" while an agency that
    # requires a second factor waits for this user to enrol; "full" after.
    stage: str = Field(max_length=20)
    pending_totp_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    flash: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str | None = Field(default=None, max_length=40)
    client_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class SignInCount(SQLModel, table=True):
    """A count of failed sign-ins (or a wait imposed after them) that every worker of the
    node reads and moves, in the database they all share (portal/auth/throttle.py).

    The key is a keyed hash (HMAC under the node's session key): nothing typed at the
    sign-in form (a username, or a password typed into the wrong field) is kept, nor
    anything a guess could be tested against without that key. A row past `expires_at`
    counts as absent."""

    __tablename__ = "sign_in_count"

    key: str = Field(primary_key=True, max_length=64)
    count: int
    expires_at: float = Field(index=True)  # seconds since the epoch, as time.time() gives
