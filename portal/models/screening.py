"""Screening, the 24–48 hour risk screen, safety-plan review state and mandated reports
(issue 20). Each row belongs to the agency that recorded it (`agency_id`, the owner).

Plain columns hold what the clocks and the coordinator's rows must count in SQL (times,
bands, choices); whatever a person wrote (notes, reasons, labels) is sealed with the
owner's data key, as section content is. Partners never read these tables: the screening
and the safety plan reach them only as sealed section versions, through the disclosure
point.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class ScreeningTrigger(StrEnum):
    INDICATOR = "indicator"
    DISCLOSURE = "disclosure"
    RETURN_FROM_MISSING = "return_from_missing"
    INTAKE = "intake"

    @property
    def label(self) -> str:
        return {
            "indicator": "an indicator was seen",
            "disclosure": "the client disclosed",
            "return_from_missing": "return from missing",
            "intake": "intake",
        }[self.value]


class ScreeningAction(StrEnum):
    MDT_REFERRAL = "mdt_referral"
    FORENSIC_INTERVIEW = "forensic_interview"
    NONE = "none"

    @property
    def label(self) -> str:
        return {
            "mdt_referral": "referral to the MDT",
            "forensic_interview": "forensic interview",
            "none": "none",
        }[self.value]


class AgeGroup(StrEnum):
    MINOR = "minor"
    ADULT = "adult"


class MdtChoice(StrEnum):
    """An adult's own word on MDT involvement; a minor's path starts without it."""

    YES = "yes"
    NOT_NOW = "not_now"

    @property
    def label(self) -> str:
        return {"yes": "wants MDT involvement", "not_now": "not now"}[self.value]


class Screening(SQLModel, table=True):
    """One screening for trafficking indicators. A draft until finalised; editable for
    seven days after, then locked: later changes are amendments, kept beside it."""

    __table_args__ = (
        Index("ix_screening_agency_status", "agency_id", "finalised_at", "created_at"),
        Index("ix_screening_agency_concern", "agency_id", "concern", "age_group"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    tool_key: str = Field(max_length=40)
    tool_version: str = Field(max_length=40)
    screened_at: datetime = Field(sa_type=UTCDateTime)
    screener_id: int | None = Field(default=None, foreign_key="staff_user.id")
    trigger: str = Field(max_length=30)
    band: str = Field(max_length=40)
    concern: str = Field(max_length=10)  # none | possible | clear, from the tool catalogue
    age_group: str = Field(max_length=10)
    action: str = Field(max_length=30)
    mdt_choice: str | None = Field(default=None, max_length=10)
    mdt_case_id: int | None = Field(default=None, foreign_key="mdt_case.id")
    key_id: str = Field(max_length=80)
    notes_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finalised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ScreeningAmendment(SQLModel, table=True):
    """A change to a locked screening: what changed, why, who and when, kept for good."""

    __tablename__ = "screening_amendment"

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = Field(foreign_key="screening.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    key_id: str = Field(max_length=80)
    change_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class RiskScreen(SQLModel, table=True):
    """The 24–48 hour risk-screen clock of one identification: due from identification,
    done when the screen (survivor and each household member) and a first safety plan are
    both recorded. `due_at` is fixed when the clock starts, as the convening deadline is.
    `stopped_at`: the screening that identified the survivor no longer shows a clear
    concern (edited or amended down), so there is nothing left to screen against; kept,
    with whatever was recorded, and never counted as running, done or late."""

    __tablename__ = "risk_screen"
    __table_args__ = (Index("ix_risk_screen_open", "agency_id", "done_at", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    screening_id: int | None = Field(default=None, foreign_key="screening.id")
    identified_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    window_hours: int
    screened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    screened_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    first_plan_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    key_id: str = Field(max_length=80)
    notes_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class HouseholdRelation(StrEnum):
    MINOR_CHILD = "minor_child"
    VULNERABLE_FAMILY = "vulnerable_family"

    @property
    def label(self) -> str:
        return {
            "minor_child": "minor child",
            "vulnerable_family": "vulnerable family member",
        }[self.value]


class RiskScreenPerson(SQLModel, table=True):
    """A minor child or vulnerable family member the risk screen covers, with their own
    risk notes (label and notes sealed: no names in plain columns)."""

    __tablename__ = "risk_screen_person"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    risk_screen_id: int = Field(foreign_key="risk_screen.id", index=True)
    relation: str = Field(max_length=20)
    added_at: datetime = Field(sa_type=UTCDateTime)
    screened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    key_id: str = Field(max_length=80)
    content_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SafetyPlanState(SQLModel, table=True):
    """Where a client's safety plan stands, for the clocks: its latest version, its review
    date, and whether a move has made it due for review since."""

    __tablename__ = "safety_plan_state"
    __table_args__ = (
        UniqueConstraint("agency_id", "client_id"),
        Index("ix_safety_plan_state_review", "agency_id", "review_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id")
    client_id: int = Field(foreign_key="client.id")
    plan_version: int | None = None  # None: a move came before any plan
    planned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_date: date | None = None
    moved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # due since a move


class ReportRecipient(StrEnum):
    CHILD_ABUSE_HOTLINE = "child_abuse_hotline"
    LAW_ENFORCEMENT = "law_enforcement"

    @property
    def label(self) -> str:
        return {
            "child_abuse_hotline": "the child-abuse hotline",
            "law_enforcement": "law enforcement",
        }[self.value]


class MandatedReport(SQLModel, table=True):
    """A mandated report about a minor: a disclosure the law compels, to whom, when, by
    whom and under which report number."""

    __tablename__ = "mandated_report"
    __table_args__ = (Index("ix_mandated_report_agency_made", "agency_id", "made_at"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agency_id: int = Field(foreign_key="agency.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    screening_id: int | None = Field(default=None, foreign_key="screening.id")
    case_id: int | None = Field(default=None, foreign_key="mdt_case.id")
    recipient: str = Field(max_length=30)
    made_at: datetime = Field(sa_type=UTCDateTime)
    made_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    report_number: str = Field(max_length=40)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")


# The places the notes of these tables are sealed for (portal.crypto.seal_json's
# `bound_to`): each names the owner, the client and the row, so notes copied onto another
# row, of this client or another, by someone who can write the database never open there.
def screening_sealed_for(agency_id: int, client_id: int, screening_id: int) -> str:
    return f"screening:{agency_id}:{client_id}:{screening_id}"


def amendment_sealed_for(
    agency_id: int, client_id: int, screening_id: int, amendment_id: int
) -> str:
    return f"screening-amendment:{agency_id}:{client_id}:{screening_id}:{amendment_id}"


def risk_screen_sealed_for(agency_id: int, client_id: int, risk_screen_id: int) -> str:
    return f"risk-screen:{agency_id}:{client_id}:{risk_screen_id}"


def risk_person_sealed_for(
    agency_id: int, client_id: int, risk_screen_id: int, person_id: int
) -> str:
    return f"risk-screen-person:{agency_id}:{client_id}:{risk_screen_id}:{person_id}"
