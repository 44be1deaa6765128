"""What an agency's lead should notice in its own log: refused attempts on its accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from portal.audit import AuditTag
from portal.models import Agency, AuditEntry

WINDOW = timedelta(days=14)
# Failed sign-ins are everyday typos until they repeat.
REPEATED_FAILURES = 3

WORDING = {
    AuditTag.ADMINISTRATOR_REFUSED: "The administrator tried to manage your staff and was refused",
    AuditTag.SIGN_IN_FAILED: "Failed sign-ins on your agency's accounts",
    AuditTag.SIGN_IN_THROTTLED: "Sign-ins slowed down after repeated failures",
    # Whoever sends it knew the password: one is worth the lead's attention.
    AuditTag.SECOND_FACTOR_FAILED: "Wrong two-step codes after a correct password",
}


@dataclass(frozen=True)
class Alert:
    tag: str
    count: int
    last_at: datetime

    @property
    def label(self) -> str:
        return WORDING[AuditTag(self.tag)]


def for_lead(db: Session, agency: Agency, *, now: datetime) -> list[Alert]:
    rows = db.exec(
        select(AuditEntry.tag, func.count(), func.max(AuditEntry.at))
        .where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.at >= now - WINDOW,
            AuditEntry.tag.in_([str(tag) for tag in WORDING]),
        )
        .group_by(AuditEntry.tag)
    ).all()
    alerts = [Alert(tag, count, last_at) for tag, count, last_at in rows]
    return sorted(
        (a for a in alerts if a.tag != AuditTag.SIGN_IN_FAILED or a.count >= REPEATED_FAILURES),
        key=lambda a: list(WORDING).index(AuditTag(a.tag)),
    )
