"""Request and response shapes of /api/v1 (pydantic; they also feed the OpenAPI document)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class ApiError(BaseModel):
    error: str
    field: str | None = None


class CasePublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Opaque case id")
    reference: str = Field(description="Pseudonymous reference, e.g. MDT-2026-0042")
    intake_date: date
    convening_due: date
    status: str
    referral_source: str


class CaseList(BaseModel):
    items: list[CasePublic]
    total: int
    limit: int
    offset: int
