"""A legal basis an agency shares under in place of a release (issue 14)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id

# What a minors-only basis signed before the age was asked for covered: those under 18.
LEGACY_UNDER_AGE = 18


class LegalBasis(SQLModel, table=True):
    """A statute that lets this (system-based) agency share some sections within the MDT
    without the survivor's release — e.g. a state's child-abuse MDT statute. Policy data,
    signed with the agency's own key when recorded; retired, never deleted, so the basis in
    force at any moment can be told."""

    __tablename__ = "legal_basis"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)  # the owner it lets share
    citation: str = Field(max_length=200)
    sections: str = Field(max_length=2000)  # the section keys it covers, comma-separated
    purpose: str = Field(max_length=30)
    minors_only: bool = True
    document: str = Field(sa_type=Text)  # the canonical JSON that was signed
    signature: str = Field(max_length=200)  # base64 Ed25519 over `document`
    key_id: str = Field(max_length=80)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_by_id: int | None = Field(default=None, foreign_key="staff_user.id")

    @property
    def section_keys(self) -> tuple[str, ...]:
        return tuple(key for key in self.sections.split(",") if key)

    def under_age(self, signed: dict | None = None) -> int | None:
        """The age a minors-only basis stops covering a client at (the statute's "child"
        ends there, not always at the age of majority), as signed in `document` (or in
        `signed`, that document already read); None for a basis for any age."""
        signed = json.loads(self.document) if signed is None else signed
        if not signed.get("minors_only", True):
            return None
        return int(signed.get("minors_under_age", LEGACY_UNDER_AGE))
