"""Who may see which case or client: the one predicate, in SQL, behind every list, count,
search, export and loader (so a count or a page number never tells of a record the
viewer may not see).

A case is visible to an agency that coordinates it or is linked to it; a client only to
the agency that serves them. A survivor-mentor who reads cases in no other role sees, of
those, only the cases they hold (`held_by`) and the clients of their caseload
(`client_held_by`): `caseload_holder` says whose caseload bounds a viewer. A list that
must use an index per half (the dashboard's) reads the two halves below; they are the
same predicate, split for the planner.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists

from portal.auth.permissions import caseload_only
from portal.auth.sessions import Viewer
from portal.models import CaseLink, Client, MdtCase, MentorAssignment, StaffUser


def coordinated_by(agency_id) -> ColumnElement[bool]:
    return MdtCase.coordinating_agency_id == agency_id


def linked_to(agency_id) -> ColumnElement[bool]:
    """Linked (looked up for this case, EXISTS: never the agency's whole list of links)."""
    return exists().where(CaseLink.case_id == MdtCase.id, CaseLink.agency_id == agency_id)


def case_visible_to(agency_id) -> ColumnElement[bool]:
    """SQL: the agency coordinates the case or is linked to it. `agency_id` may be a value
    or a bind parameter."""
    return coordinated_by(agency_id) | linked_to(agency_id)


def client_visible_to(agency_id) -> ColumnElement[bool]:
    """SQL: only the agency that serves a client ever loads its row."""
    return Client.agency_id == agency_id


def held_by(mentor_id) -> ColumnElement[bool]:
    """SQL: the mentor is the case's current mentor (an assignment not ended). `mentor_id`
    may be a value or a bind parameter."""
    return exists().where(
        MentorAssignment.case_id == MdtCase.id,
        MentorAssignment.mentor_id == mentor_id,
        MentorAssignment.ended_at.is_(None),
    )


def _linked_to_a_mentored_case(*assignment: ColumnElement[bool]) -> ColumnElement[bool]:
    """SQL: the client's agency links them to a case with a mentor assignment (of
    `assignment`)."""
    return exists().where(
        CaseLink.client_id == Client.id,
        CaseLink.agency_id == Client.agency_id,
        MentorAssignment.case_id == CaseLink.case_id,
        *assignment,
    )


def client_held_by(mentor_id) -> ColumnElement[bool]:
    """SQL: the client is in the survivor-mentor's caseload: linked by their agency to a
    case the mentor holds now, or registered by the mentor and on no case anyone was ever
    assigned to (the intake they are doing, before the coordinator assigns a mentor). Once
    assigned, the intake is over: a survivor moved to another mentor, or whose mentor was
    taken off, does not fall back to the one who registered them, nor once their record is
    withdrawn from that case (`Client.intake_ended_at`, set by the withdrawal). `mentor_id`
    may be a value or a bind parameter."""
    held = _linked_to_a_mentored_case(
        MentorAssignment.mentor_id == mentor_id, MentorAssignment.ended_at.is_(None)
    )
    intake = (
        (Client.created_by_id == mentor_id)
        & Client.intake_ended_at.is_(None)
        & ~_linked_to_a_mentored_case()
    )
    return held | intake


def caseload_holder(viewer: Viewer) -> StaffUser | None:
    """The mentor whose caseload bounds the cases and clients this viewer opens and lists,
    or None for a viewer who reads every case and client of their agency."""
    return viewer.user if caseload_only(viewer.roles) else None
