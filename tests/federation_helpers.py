"""Rosters for tests: members made here with keys of their own, as another node's would be."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from nacl.signing import SigningKey

import consent
from portal.federation import membership
from portal.federation import roster as rosters
from portal.federation.roster import Member, MemberKey, Mou, Roster

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Elsewhere:
    """An agency hosted on another node: its private key stays with the test."""

    member: Member
    signing_key: SigningKey

    @property
    def key_id(self) -> str:
        return self.member.keys[0].key_id


def elsewhere(
    name: str,
    *,
    node: str = "http://127.0.0.1:9101",
    kind: str = "system",
    discipline: str = "child_welfare",
    mou: Mou | None = None,
) -> Elsewhere:
    public_id = str(uuid.uuid4())
    key = SigningKey.generate()
    member = Member(
        agency=public_id,
        name=name,
        kind=kind,
        discipline=discipline,
        node=node,
        keys=(MemberKey(consent.key_id_for(public_id, key.verify_key), key.verify_key, AT),),
        mou=mou or Mou(date(2026, 1, 15), date(2027, 1, 15)),
    )
    return Elsewhere(member, key)


def here(db, agency, *, node: str = "http://127.0.0.1:9100", mou: Mou | None = None) -> Member:
    return membership.member_entry(
        db, agency, node=node, mou=mou or Mou(date(2026, 1, 15), date(2027, 1, 15))
    )


def signed_roster(
    coordinator: Elsewhere, members: list[Member], *, version: int = 1, at: datetime = AT
) -> bytes:
    roster = Roster(
        version=version,
        issued_at=at,
        coordinating_agency=coordinator.member.agency,
        members=tuple(members),
    )
    return rosters.sign(roster, coordinator.signing_key, coordinator.key_id).to_json().encode()


def with_mou(member: Member, signed_on: date, review_due: date) -> Member:
    return replace(member, mou=Mou(signed_on, review_due))
