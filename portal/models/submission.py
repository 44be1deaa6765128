"""Forms already saved, by the token each form carries (portal/services/submissions.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime


class FormSubmission(SQLModel, table=True):
    """One form's token, kept from the transaction that saved the form: the same form sent
    again (a double tap on a slow phone, a resent POST) finds it here and saves nothing.
    The token is random and names nothing; nothing typed into the form is kept."""

    __tablename__ = "form_submission"

    token: str = Field(primary_key=True, max_length=64)
    saved_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # Where the first copy's answer sent the person (the case it opened): the second copy
    # is sent there too.
    outcome: str | None = Field(default=None, max_length=300)
