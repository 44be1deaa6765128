"""Survivor-mentors: assignments to MDT cases, accompaniment entries and upcoming dates.

Assignments are coordination data kept with the case. Accompaniment entries and the dates
a mentor enters belong to the mentor's agency (`agency_id`, the owner): no other agency
reads these tables; a partner asks the owner's disclosure point for the
`mentor_accompaniment` section.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class AccompanimentKind(StrEnum):
    COURT_APPEARANCE = "court_appearance"
    LAW_ENFORCEMENT_INTERVIEW = "law_enforcement_interview"
    STATE_ATTORNEY = "state_attorney"
    MEDICAL = "medical"
    MENTAL_HEALTH = "mental_health"
    HOUSING_PLACEMENT = "housing_placement"
    BENEFITS_AGENCY = "benefits_agency"
    SCHOOL = "school"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "court_appearance": "Court appearance",
            "law_enforcement_interview": "Law-enforcement interview",
            "state_attorney": "State attorney's office",
            "medical": "Medical",
            "mental_health": "Mental health",
            "housing_placement": "Housing placement",
            "benefits_agency": "Benefits or other agency",
            "school": "School",
            "other": "Other",
        }[self.value]


class PlaceType(StrEnum):
    """Where it happened, as a kind of place: an address is never recorded."""

    COURTHOUSE = "courthouse"
    POLICE_OFFICE = "police_office"
    PROSECUTOR_OFFICE = "prosecutor_office"
    HOSPITAL_CLINIC = "hospital_clinic"
    COUNSELLING_OFFICE = "counselling_office"
    SHELTER_HOUSING = "shelter_housing"
    AGENCY_OFFICE = "agency_office"
    SCHOOL = "school"
    COMMUNITY_SPACE = "community_space"
    PHONE_VIDEO = "phone_video"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "courthouse": "Courthouse",
            "police_office": "Law-enforcement office",
            "prosecutor_office": "State attorney's office",
            "hospital_clinic": "Hospital or clinic",
            "counselling_office": "Counselling or mental-health office",
            "shelter_housing": "Shelter or housing",
            "agency_office": "Benefits or agency office",
            "school": "School",
            "community_space": "Community space",
            "phone_video": "By phone or video",
            "other": "Other",
        }[self.value]


class Outcome(StrEnum):
    WENT_AHEAD = "went_ahead"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    SURVIVOR_DECLINED = "survivor_declined"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "went_ahead": "Went ahead",
            "rescheduled": "Rescheduled",
            "cancelled": "Cancelled by the other party",
            "survivor_declined": "Survivor chose not to go",
            "other": "Other",
        }[self.value]


class MentorAssignment(SQLModel, table=True):
    """One period of one mentor on one case. Reassignment ends a row and starts another,
    so the rows are the history: who (assigned_by), from (previous_mentor), to (mentor),
    when (assigned_at), why (reason)."""

    __tablename__ = "mentor_assignment"
    __table_args__ = (
        # At most one current mentor per case, even when two people assign at once.
        Index(
            "uq_mentor_assignment_current_case",
            "case_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_mentor_assignment_mentor_ended", "mentor_id", "ended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    case_id: int = Field(foreign_key="mdt_case.id", index=True)
    mentor_id: int = Field(foreign_key="staff_user.id")
    mentor_agency_id: int = Field(foreign_key="agency.id", index=True)
    previous_mentor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    assigned_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    reason: str | None = Field(default=None, max_length=300)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    end_reason: str | None = Field(default=None, max_length=300)


class AccompanimentBase(SQLModel):
    occurred_on: date
    kind: str = Field(max_length=40)
    duration_minutes: int
    place_type: str = Field(max_length=40)
    outcome: str = Field(max_length=40)
    follow_up_needed: bool = False
    # What needs following up; the mentor can make an MDT task of it (follow_up_task_id).
    follow_up: str | None = Field(default=None, max_length=300)
    notes: str | None = Field(default=None, sa_type=Text)


class Accompaniment(AccompanimentBase, table=True):
    __tablename__ = "accompaniment"
    __table_args__ = (
        Index("ix_accompaniment_agency_occurred", "agency_id", "occurred_on"),
        Index("ix_accompaniment_case_agency", "case_id", "agency_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id")  # the owner: the mentor's program
    case_id: int = Field(foreign_key="mdt_case.id")
    mentor_id: int = Field(foreign_key="staff_user.id", index=True)  # the author
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Deleted by its author inside the edit window: kept, out of every list and total.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The MDT task the mentor made of this entry's follow-up (at most one per entry).
    follow_up_task_id: int | None = Field(
        default=None, foreign_key="task.id", unique=True, index=True
    )


class AccompanimentAmendment(AccompanimentBase, table=True):
    """A correction made after the edit window: the values it replaced, so the entry as
    first written (and each later version) stays visible to the program lead."""

    __tablename__ = "accompaniment_amendment"

    id: int | None = Field(default=None, primary_key=True)
    accompaniment_id: int = Field(foreign_key="accompaniment.id", index=True)
    amended_at: datetime = Field(sa_type=UTCDateTime)
    amended_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    reason: str = Field(max_length=300)


class MentorAppointment(SQLModel, table=True):
    """A court date or appointment a mentor knows of and enters for a case."""

    __tablename__ = "mentor_appointment"
    __table_args__ = (Index("ix_mentor_appointment_agency_starts", "agency_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id")  # the mentor's program owns it
    case_id: int = Field(foreign_key="mdt_case.id", index=True)
    mentor_id: int = Field(foreign_key="staff_user.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=40)
    place_type: str = Field(max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def duration_label(minutes: int) -> str:
    """A duration as people say it: "1 h 30 min", "45 min"."""
    hours, rest = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if p)
