"""Federation: the MDT's signed roster as this node holds it, the nonces it has seen, and what
it still owes owners elsewhere."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime


class RosterDocument(SQLModel, table=True):
    """One signed roster, exactly as imported (or signed here, on the coordinating node).

    The newest version is the one in force; older ones are kept, so an operator can tell
    which keys the node trusted when."""

    __tablename__ = "roster_document"
    __table_args__ = (UniqueConstraint("version"),)

    id: int | None = Field(default=None, primary_key=True)
    version: int
    coordinating_agency: str = Field(max_length=36)  # its public id
    signed_by: str = Field(max_length=80)  # the key id of the coordinating agency's key
    envelope: str = Field(sa_column=Column(Text, nullable=False))  # the signed JSON
    imported_at: datetime = Field(sa_type=UTCDateTime)


class FederationNonce(SQLModel, table=True):
    """A nonce a signed node-to-node request carried: a second request with it is a replay.

    Kept for the freshness window only (older requests are refused as stale anyway)."""

    __tablename__ = "federation_nonce"
    __table_args__ = (UniqueConstraint("key_id", "nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=80)
    nonce: str = Field(max_length=64)
    seen_at: datetime = Field(sa_type=UTCDateTime, index=True)


class OwedTell(SQLModel, table=True):
    """A case's participants and status this node, its coordinator, still owes an owner
    elsewhere: its node did not answer when they changed. Told again at the next chance
    (`portal.federation.links.tell_owed`); gone once told. On a node that does not
    coordinate the case, the notice an agency here owes the coordinator's node: what may
    be told of its part changed (`links.tell_changed`); `agency_id` is then that agency."""

    __tablename__ = "federation_owed_tell"
    __table_args__ = (UniqueConstraint("case_id", "agency_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="mdt_case.id", index=True)
    agency_id: int = Field(foreign_key="agency.id")  # the owner elsewhere (or, see above)
    since: datetime = Field(sa_type=UTCDateTime)  # first owed, for the case page
    tried_at: datetime = Field(sa_type=UTCDateTime)  # last tried: pages try again after a while
