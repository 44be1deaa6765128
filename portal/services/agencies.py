"""Agencies and the node that hosts them."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlmodel import Session, select

from portal.audit import AuditTag, lock_logs, record
from portal.auth.sessions import Viewer
from portal.crypto import KeyWrapper
from portal.errors import Conflict, Forbidden, NotFound
from portal.models import Actor, Agency, AgencyKind, Discipline, Node, Role
from portal.services import staff, validation
from portal.services.keys import create_agency_keys

LOCAL_NODE_NAME = "local"


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def local_node(db: Session, *, at: datetime, base_url: str = "http://127.0.0.1:8000") -> Node:
    node = db.exec(select(Node).where(Node.is_local.is_(True))).first()
    if node is None:
        node = Node(name=LOCAL_NODE_NAME, base_url=base_url, is_local=True, created_at=at)
        db.add(node)
        db.flush()
    return node


def agency_fields(*, name: object, kind: object, discipline: object) -> dict:
    """A new agency's fields as they are stored, or Invalid naming every one that is
    wrong. Reads nothing from the database, so a caller may check them before it makes
    anything (`portal init`, before it applies the migrations)."""
    return validation.collect(
        name=lambda: validation.text(name, "name", max_length=120),
        kind=lambda: validation.choice(kind, "kind", AgencyKind),
        discipline=lambda: validation.choice(discipline, "discipline", Discipline),
    )


def create_agency(
    db: Session,
    *,
    name: object,
    kind: object,
    discipline: object,
    requires_totp: bool = False,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> Agency:
    """A new agency on this node, with its data and signing keys."""
    values = agency_fields(name=name, kind=kind, discipline=discipline)
    # Compared as a reader sees them, in Python: SQLite's lower() folds only ASCII, so
    # "Élan" and "élan" were two agencies to it, and one to whoever picks a release's
    # recipient by name. A node knows tens of agencies, not thousands. No unique key can
    # say so: the node's log is held first, and a second creation at once reads the names
    # once the first has committed.
    lock_logs(db, [None])
    wanted = _name_key(values["name"])
    if any(_name_key(known) == wanted for known in db.exec(select(Agency.name)).all()):
        raise Conflict("name", "An agency with this name already exists.")
    node = local_node(db, at=at)
    agency = Agency(
        name=values["name"],
        kind=values["kind"],
        discipline=values["discipline"],
        node_id=node.id,
        requires_totp=bool(requires_totp),
        created_at=at,
    )
    db.add(agency)
    db.flush()
    create_agency_keys(db, agency, keys=keys, at=at)
    record(
        db,
        AuditTag.AGENCY_CREATED,
        agency_id=agency.id,
        actor=actor,
        subject=agency.public_id,
        detail={"name": agency.name, "kind": agency.kind},
        at=at,
    )
    return agency


def totp_kept_from(db: Session, viewer: Viewer, agency: Agency, *, at: datetime) -> bool:
    """Whether the agency's two-step sign-in requirement is its lead's to lift, not the
    viewer's: the node's administrator sets it for an agency still without a lead, and may
    always require it, but never weakens the sign-in of an agency that has a lead."""
    return Role.ADMINISTRATOR in viewer.roles and staff.has_lead(db, agency, at=at)


def set_requires_totp(
    db: Session, agency: Agency, required: bool, *, viewer: Viewer, at: datetime
) -> None:
    if agency.requires_totp == required:
        return
    if not required and totp_kept_from(db, viewer, agency, at=at):
        staff.refuse_administrator(
            db,
            agency,
            viewer=viewer,
            attempt="turn off two-step sign-in",
            subject=agency.public_id,
            reason=f"{agency.name} has an agency lead, who decides whether its staff "
            "may sign in without a second step.",
            at=at,
        )
    agency.requires_totp = required
    record(
        db,
        AuditTag.AGENCY_UPDATED,
        agency_id=agency.id,
        actor=viewer.user,
        subject=agency.public_id,
        detail={"requires_totp": required},
        at=at,
    )


def manageable_agencies(db: Session, viewer: Viewer) -> list[Agency]:
    """Administrators manage every agency on the node; an agency lead only their own.
    An agency hosted on another node (a roster member) is managed there, never here."""
    query = (
        select(Agency)
        .join(Node, Node.id == Agency.node_id)
        .where(Node.is_local.is_(True))
        .order_by(Agency.name)
    )
    if Role.ADMINISTRATOR not in viewer.roles:
        query = query.where(Agency.id == viewer.agency.id)
    return list(db.exec(query).all())


def access_agency(db: Session, viewer: Viewer, public_id: str) -> Agency:
    """The agency if the viewer may manage it; NotFound otherwise, as if it did not exist."""
    agency = db.exec(
        select(Agency)
        .join(Node, Node.id == Agency.node_id)
        .where(Agency.public_id == public_id, Node.is_local.is_(True))
    ).first()
    if agency is None:
        raise NotFound("agency")
    if Role.ADMINISTRATOR in viewer.roles or (
        Role.AGENCY_LEAD in viewer.roles and agency.id == viewer.agency.id
    ):
        return agency
    raise NotFound("agency")


def require_administrator(viewer: Viewer) -> None:
    if Role.ADMINISTRATOR not in viewer.roles:
        raise Forbidden()
