"""A form saved once, however often it is sent.

A mentor on a slow phone taps Save twice, or a browser resends a POST: the same form
arrives twice, and each copy would save a record of its own (two accompaniments, one court
date twice on the calendar, one subpoena twice in a survivor's accounting of disclosures).
Each such form carries a random token (`new_token`, put in by the template's `once()`);
the transaction that saves the form keeps it (`first_time`), so a second copy finds it and
saves nothing, and a save rolled back keeps nothing. Concurrent copies are decided by the
token's primary key: on PostgreSQL the second waits for the first's commit, on SQLite the
claim is the transaction's first write, taken after the first copy has committed.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, select

from portal.db import insert_of
from portal.errors import Invalid
from portal.models import FormSubmission

FIELD = "submission"
KEPT = timedelta(days=30)
_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_token() -> str:
    return secrets.token_urlsafe(18)


def first_time(db: Session, token: str | None, *, at: datetime) -> bool:
    """True the first time a form with this token is saved, kept with this unit of work's
    writes; False when it was saved before. A form without a token (an older page, a
    script) is saved each time it is sent."""
    if not token:
        return True
    if not _SHAPE.fullmatch(token):
        raise Invalid(FIELD, "This form was not one the portal showed; open the page again.")
    insert = insert_of(db)
    claim = insert(FormSubmission).values(token=token, saved_at=at).on_conflict_do_nothing()
    first = db.execute(claim.returning(FormSubmission.token)).first() is not None
    if first:  # a form is not sent again a month on: its token need not be kept that long
        db.execute(delete(FormSubmission).where(FormSubmission.saved_at < at - KEPT))
    return first


def remember(db: Session, token: str | None, outcome: str) -> None:
    """Where the form's first copy sent the person (a page's path), for a second copy."""
    if token:
        db.execute(
            update(FormSubmission).where(FormSubmission.token == token).values(outcome=outcome)
        )


def outcome_of(db: Session, token: str) -> str | None:
    return db.exec(select(FormSubmission.outcome).where(FormSubmission.token == token)).first()
