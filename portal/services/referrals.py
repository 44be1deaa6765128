"""Minors with a clear concern and no MDT case that partners' disclosure points referred to
the coordinating agency (issue 20, seed 004), as the coordinator reads them; and the MDT
case opened from one.

Each partner hosted here is asked at its own point (`portal.disclosure.referrals`), which
decides and writes the owner's log; the coordinator's receipts are written from what came
back. Partners hosted elsewhere are asked over the same point by
`portal.federation.referrals`, which turns their answers into the same values. Nothing a
partner told is stored: every view asks again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.disclosure import Released, RequestCache
from portal.disclosure import referrals as point
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    AgencyKind,
    AuditEntry,
    CaseLink,
    Discipline,
    MdtCase,
    Node,
)
from portal.models.case import CaseStatus, ReferralSource
from portal.placeholders import Gate, sentence
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import case_records, cases, casework

PURPOSE = point.PURPOSE
SECTION = point.SECTION


@dataclass(frozen=True)
class Referral:
    """One minor a partner's point told the coordinator of: the owner's own reference, when
    they were screened and the result band; and what the owner shared it under."""

    owner: Agency
    ref: str  # the owner's screening's public id: the referral's reference on both sides
    client_reference: str  # the owner's own client reference, never a name
    screened_at: datetime | None
    result: str
    release_ref: str | None
    legal_basis: str | None

    def screened_on(self, tz: ZoneInfo) -> date | None:
        return None if self.screened_at is None else self.screened_at.astimezone(tz).date()


@dataclass(frozen=True)
class WithheldCount:
    """Minors a partner's point did not tell of, for one gate: a count, never who."""

    gate: str
    label: str
    count: int


@dataclass(frozen=True)
class PartnerAnswer:
    """What one partner's point answered the coordinator's question."""

    owner: Agency
    referrals: tuple[Referral, ...] = ()
    withheld: tuple[WithheldCount, ...] = ()
    refused: str | None = None  # the whole question withheld: the placeholder's sentence
    more: bool = False
    unavailable: str | None = None  # an owner elsewhere that did not answer, and why

    @property
    def count(self) -> int:
        return len(self.referrals) + sum(w.count for w in self.withheld)


def _values(decision: Released) -> dict[str, object]:
    by_label = {row.label: row.value for row in decision.content.rows}
    return {f.key: by_label.get(f.label) for f in catalogue().get(SECTION).fields}


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def partner_answer(found: point.Referrals) -> PartnerAnswer:
    """The typed view of one owner's answer (here or elsewhere alike)."""
    if found.refused is not None:
        return PartnerAnswer(found.owner, refused=sentence(found.refused.why))
    referrals = []
    for decision in found.released:
        values = _values(decision)
        if not values["referral"] or not values["client_reference"]:
            continue  # nothing left to tell of (it was linked to a case meanwhile)
        referrals.append(
            Referral(
                found.owner,
                str(values["referral"]),
                str(values["client_reference"]),
                _when(values["screened_at"]),
                str(values["result"] or ""),
                decision.release_ref,
                decision.legal_basis,
            )
        )
    counts: dict[str, int] = {}
    for decision in found.withheld:
        counts[decision.gate] = counts.get(decision.gate, 0) + 1
    withheld = tuple(
        WithheldCount(gate, Gate(gate).label, count) for gate, count in sorted(counts.items())
    )
    return PartnerAnswer(found.owner, tuple(referrals), withheld, more=found.more)


def partners_here(db: Session, coordinating: Agency) -> list[Agency]:
    """The active agencies hosted on this node other than the coordinating agency."""
    return list(
        db.exec(
            select(Agency)
            .join(Node, Node.id == Agency.node_id)
            .where(Node.is_local.is_(True), Agency.is_active, Agency.id != coordinating.id)
            .order_by(Agency.name)
        ).all()
    )


def ask_here(
    db: Session,
    requester: Requester,
    owners: list[Agency],
    *,
    coordinating: str | None,
    at: datetime,
    tz: tzinfo,
    age_of_majority: int,
    keys: KeyWrapper,
    between: Callable[[], None] | None = None,
    only: str | None = None,
) -> dict[str, PartnerAnswer]:
    """Each owner hosted here asked at its own point; both sides audited. By owner public id.
    `only`: the one referral a page is about (see `point.answer`).

    `between` as in `case_records.decide`: a page commits the owners' entries there; None
    keeps both sides in the caller's one transaction."""
    if not owners:
        return {}
    requester = requester.asking(PURPOSE)
    cache = RequestCache()
    requester_agency = cache.agency(db, requester.agency)
    if between is None:
        lock_logs(db, [owner.id for owner in owners] + [requester_agency.id])
    owners_entries: list[dict] = []
    receipts: list[dict] = []
    found = {}
    for owner in owners:
        answered = point.answer(
            db,
            requester,
            owner,
            coordinating=coordinating,
            at=at,
            tz=tz,
            age_of_majority=age_of_majority,
            keys=keys,
            cache=cache,
            entries_into=owners_entries,
            only=only,
        )
        receipts.extend(
            point.received_entries(requester, answered, at=at, agency_id=requester_agency.id)
        )
        found[owner.public_id] = partner_answer(answered)
    case_records.write_sides(db, owners_entries, receipts, between=between)
    return found


def find(answer: PartnerAnswer | None, ref: str) -> Referral:
    """The referral `ref` in an owner's fresh answer; 404 when the owner no longer tells of
    it (linked to a case since, the release revoked, the policy changed)."""
    found = next((r for r in (answer.referrals if answer else ()) if r.ref == ref), None)
    if found is None:
        raise NotFound("referral")
    return found


_SOURCES = {
    Discipline.CHILD_WELFARE: ReferralSource.CHILD_WELFARE,
    Discipline.LAW_ENFORCEMENT: ReferralSource.LAW_ENFORCEMENT,
    Discipline.PROSECUTION: ReferralSource.LAW_ENFORCEMENT,
    Discipline.HEALTH: ReferralSource.HEALTH_PROVIDER,
    Discipline.MENTAL_HEALTH: ReferralSource.HEALTH_PROVIDER,
    Discipline.EDUCATION: ReferralSource.SCHOOL,
    Discipline.JUVENILE_JUSTICE: ReferralSource.JUVENILE_JUSTICE,
}


def referral_source_of(owner: Agency) -> str:
    """The referral source a case opened from this owner's referral starts with."""
    fallback = (
        ReferralSource.COMMUNITY_AGENCY
        if owner.kind == AgencyKind.COMMUNITY
        else ReferralSource.OTHER
    )
    return _SOURCES.get(owner.discipline, fallback).value


def waiting_on(db: Session, coordinating: Agency, owner: Agency) -> list[MdtCase]:
    """Open cases this agency coordinates that invite `owner` and still wait for it to name
    its client: a case opened from one of its referrals may already be among them."""
    return list(
        db.exec(
            select(MdtCase)
            .join(CaseLink, CaseLink.case_id == MdtCase.id)
            .where(
                MdtCase.coordinating_agency_id == coordinating.id,
                MdtCase.status == CaseStatus.OPEN,
                CaseLink.agency_id == owner.id,
                CaseLink.confirmed_at.is_(None),
            )
            .order_by(MdtCase.created_at.desc())
            .limit(10)
        ).all()
    )


def _opened_from(db: Session, referral: Referral, coordinating: Agency) -> MdtCase | None:
    """The open case already opened from this referral that still waits on its owner, as
    the coordinating agency's log records the opening (a form sent twice opens one)."""
    marker = f'"referral":{json.dumps(referral.ref)}'
    opened = db.exec(
        select(AuditEntry.subject).where(
            AuditEntry.agency_id == coordinating.id,
            AuditEntry.tag == AuditTag.REFERRAL_CASE_OPENED.value,
            AuditEntry.detail.contains(marker, autoescape=True),
        )
    ).all()
    waiting = {case.reference: case for case in waiting_on(db, coordinating, referral.owner)}
    return next((waiting[ref] for ref in opened if ref in waiting), None)


def open_case_from(
    db: Session,
    referral: Referral,
    coordinating: Agency,
    *,
    referral_source: object,
    actor: Actor,
    at: datetime,
    tz: ZoneInfo,
    today: date,
    window_days: int,
) -> MdtCase:
    """Open the MDT case at intake from a partner's referral (the 14-day clock from the day
    the minor was screened) and invite the owner. The owner names its own client on the
    case from its side (or, elsewhere, on the coordinator's request), under a release
    naming the coordinating agency for MDT case review: joining is the survivor's choice."""
    if referral.owner.id == coordinating.id:
        raise Invalid("referral", "Your agency's own screenings start the MDT path themselves.")
    lock_logs(db, [coordinating.id])  # one opening at a time: a second one sees the first
    already = _opened_from(db, referral, coordinating)
    if already is not None:
        raise Conflict(
            "referral",
            f"{already.reference} was opened from this referral and is waiting for "
            f"{referral.owner.name} to name its client: it is that case.",
        )
    screened = referral.screened_on(tz) or today
    case = cases.open_case(
        db,
        coordinating,
        intake_date=min(screened, today).isoformat(),
        referral_source=referral_source,
        actor=actor,
        at=at,
        today=today,
        window_days=window_days,
    )
    casework.add_agency(db, case, referral.owner.public_id, actor=actor, at=at)
    record(
        db,
        AuditTag.REFERRAL_CASE_OPENED,
        agency_id=coordinating.id,
        actor=actor,
        subject=case.reference,
        detail={"owner": referral.owner.public_id, "referral": referral.ref},
        at=at,
    )
    return case
