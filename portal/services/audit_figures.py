"""The agency lead's figures for the dashboard: this week's disclosures by partner, the last
checkpoint and whether it still holds, failed sign-ins. Confined to the lead's own log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from portal.audit import AuditTag, checkpoints
from portal.models import Agency, AgencyKey, AuditCheckpoint, AuditEntry, KeyPurpose

WEEK_DAYS = 7
FAILED_SIGN_INS = (
    AuditTag.SIGN_IN_FAILED.value,
    AuditTag.SIGN_IN_THROTTLED.value,
    AuditTag.SECOND_FACTOR_FAILED.value,
)


@dataclass(frozen=True)
class PartnerFigures:
    agency_name: str
    released: int
    withheld: int


@dataclass(frozen=True)
class CheckpointCheck:
    checkpoint: AuditCheckpoint | None
    holds: bool | None  # None: there is no checkpoint to check
    problem: str = ""


@dataclass(frozen=True)
class LeadFigures:
    since: date
    partners: list[PartnerFigures]
    checkpoint: CheckpointCheck
    failed_sign_ins: int


def lead_figures(db: Session, agency: Agency, *, today: date, tz: ZoneInfo) -> LeadFigures:
    since_day = today - timedelta(days=WEEK_DAYS - 1)
    since = datetime.combine(since_day, time(0), tzinfo=tz)
    return LeadFigures(
        since_day,
        _by_partner(db, agency, since),
        last_checkpoint(db, agency),
        _failed_sign_ins(db, agency, since),
    )


def _by_partner(db: Session, agency: Agency, since: datetime) -> list[PartnerFigures]:
    """Sections released and withheld to each other agency, counted in SQL. Entries name
    the viewer's agency by public id (it may be hosted on another node); one this node
    does not know is shown by that id. Another agency's records released under our
    survivor's release were not ours to release, and are not counted."""
    rows = db.exec(
        select(AuditEntry.actor_agency_ref, Agency.name, AuditEntry.decision, func.count())
        .join(Agency, Agency.public_id == AuditEntry.actor_agency_ref, isouter=True)
        .where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.actor_agency_ref.is_not(None),
            AuditEntry.actor_agency_ref != agency.public_id,
            AuditEntry.decision.is_not(None),
            AuditEntry.tag != AuditTag.DISCLOSURE_RELIED_ON.value,
            AuditEntry.at >= since,
        )
        .group_by(AuditEntry.actor_agency_ref, Agency.name, AuditEntry.decision)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for ref, name, decision, count in rows:
        counts.setdefault(name or f"agency {ref}", {})[decision] = count
    return [
        PartnerFigures(name, c.get("released", 0), c.get("withheld", 0))
        for name, c in sorted(counts.items())
    ]


def _failed_sign_ins(db: Session, agency: Agency, since: datetime) -> int:
    return db.exec(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.tag.in_(FAILED_SIGN_INS),
            AuditEntry.at >= since,
        )
    ).one()


def last_checkpoint(db: Session, agency: Agency) -> CheckpointCheck:
    """The newest checkpoint, checked as `portal audit verify` checks one: its signature by
    the agency's key, and the entry it vouches for still carrying the hash it signed. (The
    whole chain's walk stays with the command: it reads every entry.)"""
    checkpoint = db.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.agency_id == agency.id)
        .order_by(AuditCheckpoint.seq.desc())
    ).first()
    if checkpoint is None:
        return CheckpointCheck(None, None)
    entry_hash = db.exec(
        select(AuditEntry.entry_hash).where(
            AuditEntry.log_key == checkpoint.log_key, AuditEntry.seq == checkpoint.seq
        )
    ).first()
    if entry_hash != checkpoint.entry_hash:
        return CheckpointCheck(checkpoint, False, "the entry it signed has changed or is gone")
    public_key = db.exec(
        select(AgencyKey.public_key).where(
            AgencyKey.agency_id == agency.id,
            AgencyKey.key_id == checkpoint.key_id,
            AgencyKey.purpose == KeyPurpose.SIGNING,
        )
    ).first()
    if public_key is None or not checkpoints.signature_holds(checkpoint, public_key):
        return CheckpointCheck(checkpoint, False, "its signature does not verify")
    return CheckpointCheck(checkpoint, True)
