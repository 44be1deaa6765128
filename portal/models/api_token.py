"""Per-agency API tokens for integrations: shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class ApiScope(StrEnum):
    CASES_READ = "cases:read"  # the agency's MDT cases
    SECTIONS_WRITE = "sections:write"  # write the agency's own sections for its own clients
    SUMMARY_READ = "summary:read"  # read case summaries through the disclosure point


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=200)  # space-separated ApiScope values
    # A token is issued by an agency lead and acts in one role the lead holds and chose: the
    # permission table and the policy gate see that role, the audit log the lead; it dies
    # with the lead's account or lead role, or when the lead no longer holds its role.
    acting_user_id: int = Field(foreign_key="staff_user.id")
    acting_role: str = Field(max_length=30)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
