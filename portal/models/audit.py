"""Audit entries: written by the one audit function, in the change's own transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_agency_at", "agency_id", "at"),
        Index("ix_audit_entry_agency_case", "agency_id", "case_ref"),
        Index("ix_audit_entry_agency_client", "agency_id", "client_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Whose log: the agency the event concerns; None for the node's own log (e.g. a failed
    # sign-in for a name that matches no account).
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    tag: str = Field(max_length=60, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    actor_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    actor_role: str | None = Field(default=None, max_length=30)
    subject: str | None = Field(default=None, max_length=120)
    detail: str = Field(default="{}", max_length=4000)  # canonical JSON
    client_address: str | None = Field(default=None, max_length=64)
    # Disclosure facts, as columns so "who saw what of ours" is answered in SQL. They are
    # set for disclosure decisions (allowed and denied) and left empty for other events.
    case_ref: str | None = Field(default=None, max_length=20)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    section_key: str | None = Field(default=None, max_length=40)
    purpose: str | None = Field(default=None, max_length=30)
    decision: str | None = Field(default=None, max_length=10)  # "released" | "withheld"
    gate: str | None = Field(default=None, max_length=30)  # which gate withheld, if any
    release_ref: str | None = Field(default=None, max_length=36)  # release public id used
    policy_rule: str | None = Field(default=None, max_length=300)  # Casbin line matched
