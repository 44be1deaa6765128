"""Section entries (versioned, sealed) and each agency's own disclosure-policy lines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class SectionEntry(SQLModel, table=True):
    """One saved version of one section of one client's record, owned by one agency.

    Rows are only ever added: a save is a new version, so nothing is overwritten. The
    content is sealed with the owner's data key, like the client's identity.
    Only the owner's own services and `portal.disclosure` read this table.
    """

    __tablename__ = "section_entry"
    __table_args__ = (
        UniqueConstraint("client_id", "section_key", "version"),
        Index("ix_section_entry_latest", "agency_id", "client_id", "section_key", "version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)  # the owner
    client_id: int = Field(foreign_key="client.id", index=True)
    section_key: str = Field(max_length=40)
    version: int
    key_id: str = Field(max_length=80)  # which agency data key sealed the content
    content_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    author_id: int | None = Field(default=None, foreign_key="staff_user.id")
    at: datetime = Field(sa_type=UTCDateTime)


class PolicyLine(SQLModel, table=True):
    """An agency's own line in the disclosure policy, added to the default policy.

    Lines are retired, never deleted, so the policy in force at any moment can be told.
    """

    __tablename__ = "policy_line"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)  # the owner it governs
    recipient_kind: str = Field(max_length=20)  # community | system | *
    recipient_role: str = Field(max_length=30)  # a Role value | *
    section_key: str = Field(max_length=40)  # a catalogue key | *
    purpose: str = Field(max_length=30)  # a consent purpose | *
    effect: str = Field(max_length=5)  # allow | deny
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_by_id: int | None = Field(default=None, foreign_key="staff_user.id")


class PolicyVersion(SQLModel, table=True):
    """A counter per agency, bumped by every policy change: the key of memoised decisions."""

    __tablename__ = "policy_version"

    agency_id: int = Field(foreign_key="agency.id", primary_key=True)
    version: int = 0


def sealed_for(agency_id: int, client_id: int, section_key: str, version: int) -> str:
    """The place a section version is sealed for (portal.crypto.seal_json's `bound_to`):
    it opens nowhere else, not under another client, section or version."""
    return f"section:{agency_id}:{client_id}:{section_key}:{version}"


# A section whose versions a migration copied whole, sealed, from another section: the
# address and safe contact began as copies of the identity section's versions
# (5a7c3e1d9b24), and a node migrated down and up again copies them once more.
_COPIED_FROM = {"safe_contact": "identity"}


def sealed_places(agency_id: int, client_id: int, section_key: str, version: int) -> tuple:
    """Where a version read from this row may have been sealed: its own place, or, for a
    section copied from another by a migration, the same version of that one (the same
    client's: a version of another client, or of any other section, never opens)."""
    keys = (section_key, *((_COPIED_FROM[section_key],) if section_key in _COPIED_FROM else ()))
    return tuple(sealed_for(agency_id, client_id, key, version) for key in keys)
