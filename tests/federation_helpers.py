"""Rosters for tests: members made here with keys of their own, as another node's would be."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from nacl.signing import SigningKey
from sqlmodel import select

import consent
from portal.federation import membership, transport
from portal.federation import roster as rosters
from portal.federation.roster import Member, MemberKey, Mou, Roster
from portal.models import Agency, Discipline, Role
from portal.requester import Requester
from portal.services import cases

import factories as make

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


def requester_of(sender: Elsewhere, roles=("case_manager",), **overrides) -> dict:
    """The requester a sender's node names in its request, as the wire carries it."""
    return {
        "node": sender.member.node,
        "agency": sender.member.agency,
        "agency_kind": sender.member.kind,
        "user": None,
        "roles": list(roles),
        "purpose": "mdt_case_review",
        **overrides,
    }


def coordinator_elsewhere(node: str, agency: Agency) -> Requester:
    """A coordinating agency's staff member asking from its own node: no staff row of the
    node asked (whose door refuses a request naming one of its own staff as asking)."""
    return Requester(
        node=node,
        agency=agency.public_id,
        agency_kind=agency.kind,
        user=str(uuid.uuid4()),
        roles=frozenset({Role.MDT_COORDINATOR.value}),
        purpose="mdt_case_review",
    )


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


@dataclass(frozen=True)
class ShelterCase:
    """A case coordinated here by a CAC, as the coordinator's node keeps it: a shelter
    (community-based) here serves the survivor and is confirmed on it, a second community
    agency here is not on it, and a system-based agency elsewhere is confirmed on it."""

    case: object
    shelter: object
    quiet: object
    welfare: Elsewhere


def shelter_case(db, keys, clock, *, here_node: str, there_node: str) -> ShelterCase:
    cac = make.agency(db, keys, name="Federated CAC (synthetic)")
    shelter = make.agency(
        db, keys, name="Federated Shelter (synthetic)", discipline=Discipline.SHELTER
    )
    quiet = make.agency(db, keys, name="Federated Quiet (synthetic)", discipline=Discipline.SHELTER)
    make.user(db, cac, Role.MDT_COORDINATOR)
    welfare = elsewhere("Federated Welfare Elsewhere (synthetic)", node=there_node, kind="system")
    entries = membership.entries_json(
        [
            welfare.member,
            membership.member_entry(db, shelter, node=here_node),
            membership.member_entry(db, quiet, node=here_node),
        ]
    )
    membership.sign_roster(db, cac, entries, node=here_node, keys=keys, at=clock())
    welfare_row = db.exec(select(Agency).where(Agency.public_id == welfare.member.agency)).one()
    case = make.mdt_case(db, cac)
    client = make.client_record(db, shelter, keys)
    cases.link_client(db, case, shelter, client, actor=None, at=clock(), confirmed=True)
    cases.link_client(db, case, welfare_row, None, actor=None, at=clock(), confirmed=True)
    db.commit()
    return ShelterCase(case, shelter, quiet, welfare)


def signed_request(url: str, sender: Elsewhere, payload: dict, *, now: float):
    """(body, headers) of a request `sender`'s node signs for `url`."""
    body = json.dumps(payload).encode()
    headers = transport.signed_request_headers(
        url, body, key_id=sender.key_id, signing_key=sender.signing_key, now=now
    )
    return body, headers
