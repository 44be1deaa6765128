"""What the node's administrator looks after: agencies, their staff, live sessions and
signing keys, and the node's own health. Counts only: nothing about any survivor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from portal import migrate
from portal.auth.sessions import signed_in_now
from portal.auth.throttle import DATABASE
from portal.models import (
    Agency,
    AgencyKey,
    KeyPurpose,
    Node,
    Role,
    StaffRole,
    StaffUser,
    WebSession,
)


@dataclass(frozen=True)
class AgencyLine:
    agency: Agency
    active_staff: int
    leads: int
    signed_in: int  # people signed in now, however many sessions (browsers) each has
    signing_key_since: datetime | None


@dataclass(frozen=True)
class NodeHealth:
    database: str  # "PostgreSQL" or "SQLite"
    migrations_current: bool
    throttle_store: str  # where failed sign-ins are counted: "database", "Redis" or "memory"


def agency_lines(
    db: Session, *, now: datetime, idle: timedelta, absolute: timedelta
) -> list[AgencyLine]:
    """One line per agency; every count made in SQL, grouped by agency."""
    active = dict(
        db.exec(
            select(StaffUser.agency_id, func.count(StaffUser.id))
            .where(StaffUser.is_active)
            .group_by(StaffUser.agency_id)
        ).all()
    )
    leads = dict(
        db.exec(
            select(StaffUser.agency_id, func.count(StaffUser.id))
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffUser.is_active, StaffRole.role == Role.AGENCY_LEAD.value)
            .group_by(StaffUser.agency_id)
        ).all()
    )
    live = dict(
        db.exec(
            select(StaffUser.agency_id, func.count(func.distinct(WebSession.user_id)))
            .join(StaffUser, StaffUser.id == WebSession.user_id)
            .where(signed_in_now(now=now, idle=idle, absolute=absolute))
            .group_by(StaffUser.agency_id)
        ).all()
    )
    keys = dict(
        db.exec(
            select(AgencyKey.agency_id, func.max(AgencyKey.created_at))
            .where(AgencyKey.purpose == KeyPurpose.SIGNING.value, AgencyKey.retired_at.is_(None))
            .group_by(AgencyKey.agency_id)
        ).all()
    )
    return [
        AgencyLine(
            agency=agency,
            active_staff=active.get(agency.id, 0),
            leads=leads.get(agency.id, 0),
            signed_in=live.get(agency.id, 0),
            signing_key_since=keys.get(agency.id),
        )
        # The agencies this node hosts: a roster member elsewhere is run by its own node.
        for agency in db.exec(
            select(Agency)
            .join(Node, Node.id == Agency.node_id)
            .where(Node.is_local.is_(True))
            .order_by(Agency.name)
        ).all()
    ]


def node_health(db: Session, *, ratelimit_storage: str) -> NodeHealth:
    connection = db.connection()
    return NodeHealth(
        database="PostgreSQL" if connection.dialect.name == "postgresql" else "SQLite",
        migrations_current=migrate.current_revision(connection) == migrate.head_revision(),
        throttle_store=(
            "database"
            if ratelimit_storage == DATABASE
            else "memory"
            if ratelimit_storage.startswith("memory")
            else "Redis"
        ),
    )
