"""Request and response shapes of /api/v1 (pydantic; they also feed the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiError(BaseModel):
    error: str
    field: str | None = None


class CasePublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Opaque case id")
    reference: str = Field(description="Pseudonymous reference, e.g. MDT-2026-7KQ4XH")
    intake_date: date
    convening_due: date
    status: str
    referral_source: str


class CaseList(BaseModel):
    items: list[CasePublic]
    total: int
    limit: int
    offset: int


class ClientRef(BaseModel):
    id: str = Field(description="Opaque client id (your agency's own client)")
    reference: str = Field(description="Your agency's own reference for the client")


class ClientList(BaseModel):
    items: list[ClientRef]


class SectionWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: dict[str, str | list[str] | dict[str, dict[str, str]] | None] = Field(
        description="Field key to value, as the section catalogue defines the fields",
        max_length=50,
    )


class SectionSaved(BaseModel):
    client: str
    section: str
    version: int
    saved_at: datetime


class SectionRow(BaseModel):
    label: str
    type: str
    value: str | list[str] | dict[str, dict[str, str]] | None


class SectionDecision(BaseModel):
    section: str
    title: str
    decision: str = Field(description="released | withheld")
    gate: str | None = Field(default=None, description="which gate withheld it")
    reason: str | None = None
    version: int | None = None
    rows: list[SectionRow] | None = None
    notices: list[str] = Field(
        default_factory=list,
        description="statements that must accompany the content wherever it is shown or "
        "passed on (42 CFR 2.32's notice for substance use records)",
    )


class OwnerBlock(BaseModel):
    agency: str
    name: str
    kind: str
    sections: list[SectionDecision]
    # An owner on another node that did not answer (issue 16): why, and no sections.
    unavailable: str | None = None


class CaseSummary(BaseModel):
    case: str
    reference: str
    purpose: str
    owners: list[OwnerBlock]
