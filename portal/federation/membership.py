"""The roster as this node holds it: import (signature first), sign (on the coordinating
agency's node), and what the roster makes of this node's tables.

Every member agency has a row here, so the disclosure point, releases and case links name
an agency hosted elsewhere exactly as one hosted here; an agency hosted elsewhere has no
key on this node, only the public keys the roster lists (DESIGN.md, "Roster").
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nacl.signing import SigningKey, VerifyKey
from sqlmodel import Session, func, select

import consent
from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.federation import roster as rosters
from portal.federation.roster import (
    Member,
    MemberKey,
    Mou,
    Roster,
    RosterConflict,
    RosterError,
    SignedRoster,
)
from portal.hosting import is_local
from portal.keyring import current_key
from portal.models import Agency, AgencyKey, KeyPurpose, Node, RosterDocument

# A roster is immutable once signed: parsed once per version and process.
_parsed: dict[tuple[int, str], Roster] = {}
_parsed_lock = threading.Lock()


def held(db: Session) -> tuple[RosterDocument, Roster] | None:
    """The roster in force on this node (the newest imported), or None before the first."""
    document = db.exec(
        select(RosterDocument).order_by(RosterDocument.version.desc()).limit(1)
    ).first()
    if document is None:
        return None
    cache_key = (document.version, document.signed_by)
    with _parsed_lock:
        found = _parsed.get(cache_key)
    if found is None:
        found = rosters.parse(rosters.load(document.envelope.encode())["roster"])
        with _parsed_lock:
            _parsed[cache_key] = found
    return document, found


def partner_keys(db: Session) -> list[consent.KeyEntry]:
    """The signing keys, current and retired, of the agencies hosted on other nodes, as the
    roster in force lists them: "any partner verifies [a release] with the roster key"."""
    found = held(db)
    if found is None:
        return []
    here = {a.public_id for a in local_agencies(db)}
    return [
        consent.KeyEntry(
            key_id=key.key_id,
            agency_id=member.agency,
            verify_key=key.verify_key,
            created_at=key.created_at,
            retired_at=key.retired_at,
        )
        for member in found[1].members
        if member.agency not in here
        for key in member.keys
    ]


def local_agencies(db: Session) -> list[Agency]:
    return list(
        db.exec(
            select(Agency)
            .join(Node, Node.id == Agency.node_id)
            .where(Node.is_local.is_(True))
            .order_by(Agency.name)
        ).all()
    )


def node_of(db: Session, agency: Agency) -> Node:
    return db.get(Node, agency.node_id)


def local_node_url(db: Session) -> str | None:
    """This node's address as the roster gives it, once a roster names one of its agencies."""
    found = held(db)
    if found is None:
        return None
    mine = {a.public_id for a in local_agencies(db)}
    urls = {m.node for m in found[1].members if m.agency in mine}
    return next(iter(urls)) if len(urls) == 1 else None


@dataclass(frozen=True)
class Imported:
    version: int
    members: int
    here: int  # members hosted on this node
    unchanged: bool = False


def import_roster(db: Session, data: bytes, *, pin: str | None, at: datetime) -> Imported:
    """Check the signature first, then that the roster agrees with this node, then apply.

    Trusted signers: the coordinating agency's current keys in the roster held now, or,
    for a node's first roster (or a change of coordinating agency), the key id `pin`
    given by the operator, who had it from the coordinating agency out of band."""
    envelope = rosters.load(data)
    current = held(db)
    if pin is not None:
        trusted = rosters.pinned_key(envelope, pin)
    elif current is None:
        raise RosterError(
            "this node holds no roster yet: give the coordinating agency's key id with "
            "--coordinator-key (from `portal roster export` on its node)"
        )
    else:
        trusted = {key.key_id: key.verify_key for key in current[1].coordinator.current_keys}
    rosters.verify(envelope, trusted)
    roster = rosters.parse(envelope["roster"])
    if current is not None:
        _document, old = current
        if roster.version == old.version and roster.to_dict() == old.to_dict():
            return Imported(roster.version, len(roster.members), 0, unchanged=True)
        if roster.version <= old.version:
            raise RosterConflict(
                f"roster version {roster.version} is not newer than version {old.version}, "
                "held now (an older roster cannot replace a newer one)"
            )
        if pin is None and roster.coordinating_agency != old.coordinating_agency:
            raise RosterConflict(
                "the roster names another coordinating agency: import it with "
                "--coordinator-key to confirm the new coordinator's key"
            )
    here = _apply(db, roster, at=at)
    db.add(
        RosterDocument(
            version=roster.version,
            coordinating_agency=roster.coordinating_agency,
            signed_by=envelope["signature"]["kid"],
            envelope=_canonical_envelope(envelope),
            imported_at=at,
        )
    )
    db.flush()
    record(
        db,
        AuditTag.ROSTER_IMPORTED,
        agency_id=None,
        subject=str(roster.version),
        detail={
            "signed_by": envelope["signature"]["kid"],
            "members": len(roster.members),
            "hosted_here": here,
        },
        at=at,
    )
    return Imported(roster.version, len(roster.members), here)


def _canonical_envelope(envelope: dict) -> str:
    return json.dumps(envelope, indent=2, ensure_ascii=False) + "\n"


def _apply(db: Session, roster: Roster, *, at: datetime) -> int:
    """Rows for every member: agencies hosted elsewhere on nodes of their own; ours checked
    against the keys we hold. Returns how many members are hosted here."""
    local = {a.public_id: a for a in local_agencies(db)}
    ours = [m for m in roster.members if m.agency in local]
    urls = {m.node for m in ours}
    if len(urls) > 1:
        raise RosterConflict(
            "the roster places this node's agencies at different addresses: "
            + ", ".join(sorted(urls))
        )
    for member in ours:
        held = db.exec(
            select(AgencyKey.key_id, AgencyKey.retired_at).where(
                AgencyKey.agency_id == local[member.agency].id,
                AgencyKey.purpose == KeyPurpose.SIGNING,
            )
        ).all()
        held_keys = {key_id for key_id, _retired in held}
        strangers = [key.key_id for key in member.keys if key.key_id not in held_keys]
        if strangers:
            raise RosterConflict(
                f"the roster lists key {strangers[0]} for {member.name}, hosted on this node, "
                "which does not hold it"
            )
        # A roster made before this node rotated the agency's key (its old key current, the
        # new one missing) would have every node trust the retired, perhaps leaked, key as
        # the agency's and refuse the one it signs with now.
        in_use = {key_id for key_id, retired in held if retired is None}
        listed_current = {key.key_id for key in member.keys if key.current}
        if in_use and not in_use & listed_current:
            raise RosterConflict(
                f"the roster does not list {member.name}'s signing key in use on this node "
                f"({sorted(in_use)[0]}) as current: it was made before the key was rotated; "
                "sign a new roster"
            )
    local_node = db.exec(select(Node).where(Node.is_local.is_(True))).first()
    if urls and local_node is not None:
        local_node.base_url = next(iter(urls))
    nodes = {n.base_url: n for n in db.exec(select(Node).where(Node.is_local.is_(False))).all()}
    listed = set()
    for member in roster.members:
        if member.agency in local:
            continue
        if local_node is not None and member.node == local_node.base_url:
            raise RosterConflict(
                f"the roster places {member.name} on this node ({member.node}), which does "
                "not host it"
            )
        node = nodes.get(member.node)
        if node is None:
            node = Node(name=member.node[:120], base_url=member.node, is_local=False, created_at=at)
            db.add(node)
            db.flush()
            nodes[member.node] = node
        agency = db.exec(select(Agency).where(Agency.public_id == member.agency)).first()
        clash = db.exec(
            select(Agency).where(
                func.lower(Agency.name) == member.name.lower(), Agency.public_id != member.agency
            )
        ).first()
        if clash is not None:
            raise RosterConflict(
                f"the roster's {member.name} has the name of another agency on this node"
            )
        if agency is None:
            agency = Agency(
                public_id=member.agency,
                name=member.name,
                kind=member.kind,
                discipline=member.discipline,
                node_id=node.id,
                created_at=at,
            )
            db.add(agency)
        else:
            agency.name, agency.kind = member.name, member.kind
            agency.discipline = member.discipline
            agency.node_id, agency.is_active = node.id, True
        listed.add(member.agency)
    # A member dropped from the roster is no longer trusted: its requests are refused (its
    # key is gone from the roster) and it is shown as inactive.
    for agency in db.exec(
        select(Agency).join(Node, Node.id == Agency.node_id).where(Node.is_local.is_(False))
    ).all():
        if agency.public_id not in listed:
            agency.is_active = False
    db.flush()
    return len(ours)


# -- Signing, on the coordinating agency's node ------------------------------------------


def member_entry(db: Session, agency: Agency, *, node: str, mou: Mou | None = None) -> Member:
    """A member as this node knows it: its signing keys, current and retired."""
    keys = db.exec(
        select(AgencyKey)
        .where(AgencyKey.agency_id == agency.id, AgencyKey.purpose == KeyPurpose.SIGNING)
        .order_by(AgencyKey.created_at, AgencyKey.id)
    ).all()
    return Member(
        agency=agency.public_id,
        name=agency.name,
        kind=agency.kind,
        discipline=agency.discipline,
        node=rosters.node_url(node),
        keys=tuple(
            MemberKey(
                key.key_id,
                VerifyKey(base64.b64decode(key.public_key)),
                key.created_at,
                key.retired_at,
            )
            for key in keys
        ),
        mou=mou,
    )


def sign_roster(
    db: Session,
    coordinator: Agency,
    entries: list,
    *,
    node: str,
    keys: KeyWrapper,
    at: datetime,
) -> SignedRoster:
    """The next version of the roster, signed by `coordinator` (hosted here) and taken
    into force here. `entries` are member entries (`portal roster entry` on each node) with
    their MOU; this node's agencies among them are refreshed from the keys held here, so a
    rotated key is in the next roster."""
    if not is_local(db, coordinator):
        raise RosterError(f"{coordinator.name} is not hosted on this node")
    local = {a.public_id: a for a in local_agencies(db)}
    members: dict[str, Member] = {}
    for index, entry in enumerate(entries):
        member = rosters.parse_member(entry, f"members[{index}]")
        if member.agency in local:
            member = member_entry(db, local[member.agency], node=node, mou=member.mou)
        members[member.agency] = member
    if coordinator.public_id not in members:
        members[coordinator.public_id] = member_entry(db, coordinator, node=node)
    current = held(db)
    version = current[1].version + 1 if current else 1
    key = _vouching_key(db, coordinator, current)
    # A handover (the coordinator rotated its key since the roster held): the key every
    # member trusts signs a roster that names it retired, as it is, beside the new one. A
    # node importing it trusts the new key from then on, and the old one for nothing: it
    # may have leaked. (Naming it current a last time let its holder ask every partner's
    # point as the coordinator until yet another roster came.)
    roster = Roster(
        version=version,
        issued_at=at,
        coordinating_agency=coordinator.public_id,
        members=tuple(sorted(members.values(), key=lambda m: m.name.casefold())),
    )
    signed = rosters.sign(roster, SigningKey(keys.unwrap(key.wrapped_secret)), key.key_id)
    # Taken here as every other node takes it: a handover is checked against the roster
    # held (which trusts the key it retires), any other roster against the key it names.
    handover = key.retired_at is not None
    import_roster(db, signed.to_json().encode(), pin=None if handover else key.key_id, at=at)
    record(
        db,
        AuditTag.ROSTER_SIGNED,
        agency_id=coordinator.id,
        subject=str(version),
        detail={"members": len(roster.members), "key": key.key_id},
        at=at,
    )
    return signed


def _vouching_key(db: Session, coordinator: Agency, current) -> AgencyKey:
    """The key to sign the next roster with: the one the roster held now names for the
    coordinator, which every member node trusts, when the coordinator has rotated its key
    since (the new roster names the new key, and vouched for so, the next is signed with
    it); else its current key."""
    key = current_key(db, coordinator.id, KeyPurpose.SIGNING)
    if current is None or current[1].coordinating_agency != coordinator.public_id:
        return key
    trusted = {k.key_id for k in current[1].coordinator.current_keys}
    if key.key_id in trusted:
        return key
    handover = db.exec(
        select(AgencyKey).where(
            AgencyKey.agency_id == coordinator.id,
            AgencyKey.purpose == KeyPurpose.SIGNING,
            AgencyKey.key_id.in_(trusted),
        )
    ).first()
    return handover or key


def entries_json(members: list[Member]) -> list[dict]:
    return [rosters.member_dict(m) for m in members]


# -- What people see ---------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    member: Member
    hosted_here: bool
    coordinating: bool


def members(db: Session) -> tuple[Roster | None, list[MemberRow]]:
    found = held(db)
    if found is None:
        return None, []
    roster = found[1]
    local = {a.public_id for a in local_agencies(db)}
    return roster, [
        MemberRow(m, m.agency in local, m.agency == roster.coordinating_agency)
        for m in sorted(roster.members, key=lambda m: m.name.casefold())
    ]


@dataclass(frozen=True)
class MouReview:
    member: Member
    review_due: date
    overdue: bool


def mou_reviews_due(db: Session, *, today: date, within_days: int = 60) -> list[MouReview]:
    """MOUs due for review within `within_days`, or past due: the coordinator's dashboard.
    A member with no MOU recorded is due at once."""
    found = held(db)
    if found is None:
        return []
    horizon = today + timedelta(days=within_days)
    due = []
    for member in found[1].members:
        review = member.mou.review_due if member.mou else today
        if review <= horizon:
            due.append(MouReview(member, review, review < today or member.mou is None))
    return sorted(due, key=lambda r: (r.review_due, r.member.name))


def coordinating_agency_id(db: Session) -> str | None:
    found = held(db)
    return None if found is None else found[1].coordinating_agency


def mdt_coordinator(db: Session, configured: str | None) -> str | None:
    """The public id of the MDT's coordinating agency as this node knows it: the signed
    roster's when the node holds one; on a node without a roster, the active agency hosted
    here that the node's settings name (`PORTAL_COORDINATING_AGENCY`, by public id or
    name); else None. Never what a requester says of itself."""
    from_roster = coordinating_agency_id(db)
    if from_roster is not None or not configured:
        return from_roster
    found = db.exec(
        select(Agency)
        .join(Node, Node.id == Agency.node_id)
        .where(
            (Agency.public_id == configured) | (Agency.name == configured),
            Agency.is_active,
            Node.is_local.is_(True),
        )
    ).all()
    return found[0].public_id if len(found) == 1 else None
