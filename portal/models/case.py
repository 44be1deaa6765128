"""MDT cases: the shared coordination record and its links to agencies' clients."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReferralSource(StrEnum):
    HOTLINE = "hotline"
    LAW_ENFORCEMENT = "law_enforcement"
    CHILD_WELFARE = "child_welfare"
    SCHOOL = "school"
    HEALTH_PROVIDER = "health_provider"
    COMMUNITY_AGENCY = "community_agency"
    JUVENILE_JUSTICE = "juvenile_justice"
    FAMILY = "family"
    SELF = "self"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"self": "self-referral"}.get(self.value, self.value.replace("_", " "))


class MdtCaseBase(SQLModel):
    intake_date: date
    referral_source: str = Field(max_length=40)


class MdtCase(MdtCaseBase, table=True):
    __tablename__ = "mdt_case"
    __table_args__ = (
        UniqueConstraint("reference"),
        # MDT workflow (issue 6): the coordinator dashboard is answered from these alone.
        # Partial: only cases with no first MDT yet, a few hundred however many cases
        # there are. With status leading, "open, by deadline" is read in index order (the
        # awaiting list stops at its page) and the clock counts are ranges of it (the
        # rate's pending cases come from ConveningWaiting instead). The predicate is an
        # IS NULL, never a bound value, so PostgreSQL's generic (prepared) plans can use it.
        Index(
            "ix_mdt_case_unconvened",
            "coordinating_agency_id",
            "status",
            "convening_due",
            "reference",
            "intake_date",
            "referral_source",
            sqlite_where=text("first_mdt_date IS NULL"),
            postgresql_where=text("first_mdt_date IS NULL"),
        ),
        Index(
            "ix_mdt_case_compliance",
            "coordinating_agency_id",
            "intake_date",
            "referral_source",
            "convening_due",
            "first_mdt_date",
        ),
        Index(
            "ix_mdt_case_review",
            "coordinating_agency_id",
            "status",
            "last_review_date",
            "intake_date",
        ),
        # Partial, as above: open cases never reviewed, oldest intake first, so "no review
        # in N days" reads its page in order instead of sorting every never-reviewed case.
        Index(
            "ix_mdt_case_never_reviewed",
            "coordinating_agency_id",
            "status",
            "intake_date",
            sqlite_where=text("last_review_date IS NULL"),
            postgresql_where=text("last_review_date IS NULL"),
        ),
        # Partial the other way: convened cases only. A full index here would also hold
        # every unconvened case under NULL, and SQLite's planner, costing NULL like any
        # other value, would pick it over ix_mdt_case_unconvened and sort the lot.
        Index(
            "ix_mdt_case_first_mdt",
            "coordinating_agency_id",
            "first_mdt_date",
            sqlite_where=text("first_mdt_date IS NOT NULL"),
            postgresql_where=text("first_mdt_date IS NOT NULL"),
        ),
        Index("ix_mdt_case_next_review", "coordinating_agency_id", "status", "next_review_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    reference: str = Field(max_length=20)  # pseudonymous, e.g. MDT-2026-7KQ4XH
    coordinating_agency_id: int = Field(foreign_key="agency.id", index=True)
    status: str = Field(default=CaseStatus.OPEN, max_length=10, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # MDT workflow (issue 6). The deadline is fixed when the case opens (intake + the
    # window then in force), so a later change of the setting does not rewrite history.
    convening_due: date | None = None
    first_mdt_date: date | None = None  # the first meeting that reviewed the case
    # The day (in the MDT's zone) its coordinator closed it; None while it is open. A case
    # closed before its first MDT and by its deadline is left out of the convening rate.
    closed_on: date | None = None
    last_review_date: date | None = None
    review_every_days: int | None = None  # the cadence the MDT chose for this case
    next_review_date: date | None = None


class CaseLink(SQLModel, table=True):
    """Which agency's own client record belongs to which MDT case."""

    __tablename__ = "case_link"
    __table_args__ = (UniqueConstraint("case_id", "agency_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="mdt_case.id", index=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    linked_at: datetime = Field(sa_type=UTCDateTime)
    # The agency confirms the link from its own side before its records join the case.
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # The client's release under which the link was confirmed (issue 14: it names the
    # coordinating agency for MDT case review). Once it is no longer in effect the link
    # stays, as history, but nothing more of this client reaches a partner through it.
    # A public id, not a key: on a federated MDT the release lives on the owner's node.
    release_ref: str | None = Field(default=None, max_length=36)
    # An owner hosted elsewhere being asked to confirm (`links.request_link`), since when:
    # claimed and committed before its node is asked, so that of two asking at once one
    # asks and no lock waits on the other node; cleared with the answer. Older than the
    # federation's timeout and a margin, it is stale (the asking process ended mid-ask).
    asking_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
