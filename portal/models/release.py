"""Consent releases as stored by the disclosing agency: drafts, signed envelopes, revocations.

The signed envelope (canonical JSON, Ed25519) is the truth. The recipient and section rows
are copies taken at signing so the consent gate can find candidate releases in SQL; the gate
still checks the signed document itself before it allows anything.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class ReleaseState(StrEnum):
    DRAFT = "draft"  # prepared, shown to the survivor, not yet signed
    SIGNED = "signed"  # immutable from here on: a change is a new release
    DISCARDED = "discarded"  # a draft that was never signed


class ConsentRelease(SQLModel, table=True):
    __tablename__ = "consent_release"
    __table_args__ = (Index("ix_consent_release_client_state", "client_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)  # the disclosing agency
    client_id: int = Field(foreign_key="client.id")
    state: str = Field(default=ReleaseState.DRAFT, max_length=10)
    purpose: str = Field(max_length=30)
    effective_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)  # the expiry, or an event's latest date
    # The draft's fields while a draft; the signed envelope's JSON once signed. It names
    # the signers (the client herself, a guardian): kept sealed for this row under the
    # agency's data key (`document_sealed`, `data_key_id`), `document` then empty. Rows
    # written before that keep it here until `portal keys reseal` seals them.
    document: str = Field(sa_type=Text)
    document_sealed: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    data_key_id: str | None = Field(default=None, max_length=80)  # what seals the document
    key_id: str | None = Field(default=None, max_length=80)  # the signing key, once signed
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")


class ReleaseRecipient(SQLModel, table=True):
    __tablename__ = "release_recipient"
    __table_args__ = (UniqueConstraint("release_id", "agency_id"),)

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="consent_release.id", index=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)


class ReleaseSection(SQLModel, table=True):
    __tablename__ = "release_section"
    __table_args__ = (UniqueConstraint("release_id", "section_key"),)

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="consent_release.id", index=True)
    section_key: str = Field(max_length=40)


class ReleaseRevocation(SQLModel, table=True):
    """A signed revocation naming one release; effective at the owner's point at once."""

    __tablename__ = "release_revocation"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    release_id: int = Field(foreign_key="consent_release.id", index=True)
    revoked_at: datetime = Field(sa_type=UTCDateTime)
    # The signed revocation envelope (its reason may name people): sealed for this row as
    # the release's document is, `document` then empty; see ConsentRelease.
    document: str = Field(sa_type=Text)
    document_sealed: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    data_key_id: str | None = Field(default=None, max_length=80)
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    reason: str | None = Field(default=None, max_length=500)


def release_sealed_for(agency_id: int, client_id: int, release_id: int) -> str:
    """The place a release's document is sealed for (portal.crypto.seal_json's `bound_to`):
    that agency's release row of that client, nowhere else."""
    return f"consent-release:{agency_id}:{client_id}:{release_id}"


def revocation_sealed_for(
    agency_id: int, client_id: int, release_id: int, revocation_id: int
) -> str:
    """The place a revocation's document is sealed for: that revocation row of that release."""
    return f"release-revocation:{agency_id}:{client_id}:{release_id}:{revocation_id}"


class RestrictionReason(StrEnum):
    SUSPECTED_EXPLOITER = "suspected_exploiter"
    COURT_ORDER = "court_order"  # a court order keeps this person away from the client
    OTHER = "other"  # with a note saying why


class RestrictedPerson(SQLModel, table=True):
    """Someone recorded on a client's file who may never sign for them, while not ended.

    Ending a restriction keeps the row: who recorded it, why, and who ended it and why
    stay on the client's file. The name, the note and the end's reason name people: kept
    sealed for this row under the agency's data key (`details_sealed`, `data_key_id`), the
    clear columns then empty; rows written before keep them until `portal keys reseal`."""

    __tablename__ = "restricted_person"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    name: str = Field(max_length=120)
    reason: str = Field(max_length=30)  # a RestrictionReason
    note: str | None = Field(default=None, max_length=500)  # required for "other"
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    end_reason: str | None = Field(default=None, max_length=500)
    details_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    data_key_id: str | None = Field(default=None, max_length=80)


def restriction_sealed_for(agency_id: int, client_id: int, person_id: int) -> str:
    """The place a restricted person's name, note and end reason are sealed for."""
    return f"restricted-person:{agency_id}:{client_id}:{person_id}"


class CompelledBasis(StrEnum):
    SUBPOENA = "subpoena"
    COURT_ORDER = "court_order"
    MANDATED_REPORT = "mandated_report"


class CompelledDisclosure(SQLModel, table=True):
    """A disclosure the agency was compelled to make, outside any release: recorded so it
    enters the owner's audit log and the client's accounting of disclosures."""

    __tablename__ = "compelled_disclosure"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    recipient: str = Field(max_length=200)  # to whom: a court, an agency, an office
    basis: str = Field(max_length=20)  # a CompelledBasis
    basis_detail: str = Field(max_length=300)  # e.g. the subpoena's or order's number
    sections: str = Field(sa_type=Text)  # JSON list of section keys
    disclosed_on: date
    client_told: bool
    client_notice: str | None = Field(default=None, max_length=500)  # when/how, or why not
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
