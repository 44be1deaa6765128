"""Survivor-mentor programs: who is a mentor, who leads a program, whom a viewer may assign.

Who may see what:
- a mentor sees only the cases they are currently assigned to, and their program's
  entries and dates on those cases;
- a mentor program's lead sees their own program's mentors, entries and reports;
- an MDT coordinator assigns mentors to the cases their agency coordinates, and sees who
  the mentor is, never the entries (notes stay in the mentor program's records).
Anything outside that answers NotFound, exactly like a record that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, select

from portal.auth.sessions import Viewer
from portal.errors import NotFound
from portal.models import (
    Agency,
    Discipline,
    MentorAssignment,
    Role,
    StaffRole,
    StaffUser,
)


@dataclass(frozen=True)
class Assigner:
    """Who acts, outside a web request (the demo seed, the command line): what a Viewer
    carries, without a session."""

    user: StaffUser
    agency: Agency
    roles: frozenset[str]


def is_mentor_program(agency: Agency) -> bool:
    return agency.is_active and agency.discipline == Discipline.SURVIVOR_MENTOR


def is_program_lead(viewer: Viewer) -> bool:
    return Role.AGENCY_LEAD in viewer.roles and is_mentor_program(viewer.agency)


def require_program_lead(viewer: Viewer) -> Agency:
    """The lead's own mentor program; any other viewer is shown nothing (404)."""
    if not is_program_lead(viewer):
        raise NotFound("page")
    return viewer.agency


def mentors_query():
    """Active staff holding the survivor-mentor role at an active mentor program."""
    return (
        select(StaffUser, Agency)
        .join(Agency, Agency.id == StaffUser.agency_id)
        .join(StaffRole, StaffRole.user_id == StaffUser.id)
        .where(
            StaffRole.role == Role.SURVIVOR_MENTOR,
            StaffUser.is_active.is_(True),
            Agency.is_active.is_(True),
            Agency.discipline == Discipline.SURVIVOR_MENTOR,
        )
    )


@dataclass(frozen=True)
class MentorChoice:
    public_id: str
    name: str
    agency_name: str


def mentor_choices(db: Session, viewer: Viewer) -> list[MentorChoice]:
    """Mentors this viewer may assign: every program's for a coordinator, a lead's own."""
    query = mentors_query()
    if Role.MDT_COORDINATOR not in viewer.roles:
        if not is_program_lead(viewer):
            return []
        query = query.where(StaffUser.agency_id == viewer.agency.id)
    rows = db.exec(query.order_by(Agency.name, StaffUser.display_name)).all()
    return [MentorChoice(u.public_id, u.display_name, a.name) for u, a in rows]


def access_program_mentor(db: Session, viewer: Viewer, public_id: str) -> StaffUser:
    """A mentor of the lead's own program; another program's mentor answers 404."""
    agency = require_program_lead(viewer)
    held = select(MentorAssignment.mentor_id).where(MentorAssignment.mentor_agency_id == agency.id)
    mentors = select(StaffRole.user_id).where(StaffRole.role == Role.SURVIVOR_MENTOR)
    mentor = db.exec(
        select(StaffUser).where(
            StaffUser.public_id == public_id,
            StaffUser.agency_id == agency.id,
            or_(StaffUser.id.in_(mentors), StaffUser.id.in_(held)),
        )
    ).first()
    if mentor is None:
        raise NotFound("mentor")
    return mentor
