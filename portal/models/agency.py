"""Agencies, the nodes that host them, and their keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class AgencyKind(StrEnum):
    COMMUNITY = "community"  # may hold privileged information
    SYSTEM = "system"  # government or law enforcement: what it receives can be compelled

    @property
    def label(self) -> str:
        return {"community": "community-based", "system": "system-based"}[self.value]


class Discipline(StrEnum):
    CHILD_WELFARE = "child_welfare"
    ADVOCACY = "advocacy"
    LAW_ENFORCEMENT = "law_enforcement"
    PROSECUTION = "prosecution"
    HEALTH = "health"
    MENTAL_HEALTH = "mental_health"
    SHELTER = "shelter"
    SURVIVOR_MENTOR = "survivor_mentor"
    EDUCATION = "education"
    JUVENILE_JUSTICE = "juvenile_justice"
    GUARDIAN_AD_LITEM = "guardian_ad_litem"

    @property
    def label(self) -> str:
        return {
            "survivor_mentor": "survivor-mentor program",
            "guardian_ad_litem": "guardian ad litem",
        }.get(self.value, self.value.replace("_", " "))


class KeyPurpose(StrEnum):
    DATA = "data"  # SecretBox key for identifying fields and the search index
    SIGNING = "signing"  # Ed25519 key for releases, revocations, audit checkpoints


class Node(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    base_url: str = Field(max_length=300)
    is_local: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


class AgencyBase(SQLModel):
    name: str = Field(max_length=120)
    kind: str = Field(max_length=20)
    discipline: str = Field(max_length=40)


class Agency(AgencyBase, table=True):
    __table_args__ = (UniqueConstraint("name"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    node_id: int = Field(foreign_key="node.id", index=True)
    requires_totp: bool = False
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def kind_label(self) -> str:
        return AgencyKind(self.kind).label

    @property
    def discipline_label(self) -> str:
        return Discipline(self.discipline).label


class AgencyCreate(AgencyBase):
    requires_totp: bool = False


class AgencyKey(SQLModel, table=True):
    """An agency's key material; secrets are wrapped with the node's key-encryption key."""

    __tablename__ = "agency_key"
    __table_args__ = (UniqueConstraint("key_id"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    purpose: str = Field(max_length=10)
    key_id: str = Field(max_length=80)
    public_key: str | None = Field(default=None, max_length=100)
    wrapped_secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
