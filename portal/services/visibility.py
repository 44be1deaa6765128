"""Who may see which case or client: the one predicate, in SQL, behind every list, count,
search, export and loader (so a count or a page number never tells of a record the
viewer may not see).

A case is visible to an agency that coordinates it or is linked to it; a client only to
the agency that serves them. A survivor-mentor who reads cases in no other role sees, of
those, only the cases they hold (`held_by`). A list that must use an index per half (the
dashboard's) reads the two halves below; they are the same predicate, split for the
planner.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists

from portal.models import CaseLink, Client, MdtCase, MentorAssignment


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
