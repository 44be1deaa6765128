"""Audit entries: written by the one audit function, in the change's own transaction."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    # Whose log: the agency the event concerns; None for the node's own log (e.g. a failed
    # sign-in for a name that matches no account).
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    tag: str = Field(max_length=60, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    actor_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    subject: str | None = Field(default=None, max_length=120)
    detail: str = Field(default="{}", max_length=4000)  # canonical JSON
    client_address: str | None = Field(default=None, max_length=64)
