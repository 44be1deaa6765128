"""Clients: known only to the agency that serves them; identity encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class Client(SQLModel, table=True):
    __table_args__ = (Index("ix_client_agency_search", "agency_id", "search_digest"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    # The agency's own reference for the client (e.g. a file number); not identifying.
    reference: str = Field(max_length=40)
    key_id: str = Field(max_length=80)  # which agency data key sealed the identity
    identity_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Keyed hash of normalised name + birth date: lets staff find a client without
    # decrypting every row, and tells nothing to whoever reads the table without the key.
    search_digest: str = Field(max_length=64)
    # The language the client reads: releases are prepared, printed and signed in it.
    preferred_language: str = Field(default="en", max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # When the registering survivor-mentor's intake of the client ended: the client's record
    # was withdrawn from a case that had a mentor assignment (while it stays on such a case,
    # the link itself says so). None: the intake may still be theirs (visibility.py).
    intake_ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def identity_sealed_for(agency_id: int, client_id: int) -> str:
    """The place a client's identity (name, birth date, contact, address) is sealed for
    (portal.crypto.seal_json's `bound_to`): that agency's row of that client, nowhere else.
    The row id, not the public id: the case links, releases and sections name the row."""
    return f"client:{agency_id}:{client_id}:identity"
