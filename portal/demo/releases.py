"""Demo consent releases: every state a release can be in, on a good share of demo clients."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

import consent
from portal.crypto import KeyWrapper
from portal.models import Agency, AgencyKey, Client, KeyPurpose, Role, StaffRole, StaffUser
from portal.sections import catalogue
from portal.services import releases, restricted_persons

# Demo agencies have "had" their signing keys for a while, so releases signed in the
# demo's past verify like real ones (a signature older than its key would not).
KEY_HISTORY_DAYS = 400
RESTRICTED_NAME = "Rex Fictitious (demo)"
DEMO_TZ = ZoneInfo("America/New_York")  # the demo runs with the default MDT time zone


def seed_consent(
    db: Session,
    agencies_by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    today: date,
    rng: random.Random,
) -> None:
    agencies = list(agencies_by_key.values())
    for key in db.exec(select(AgencyKey).where(AgencyKey.purpose == KeyPurpose.SIGNING)):
        key.created_at = at - timedelta(days=KEY_HISTORY_DAYS)
    section_keys = sorted(catalogue().keys() - {"identity"})
    plans = ("active", "expired", "revoked", "not_yet_effective", "draft", "active")
    number = 0
    for agency in agencies:
        administrators = select(StaffRole.user_id).where(StaffRole.role == Role.ADMINISTRATOR)
        witness = db.exec(
            select(StaffUser)
            .where(StaffUser.agency_id == agency.id, StaffUser.id.not_in(administrators))
            .order_by(StaffUser.id)
        ).first()
        if witness is None:
            continue
        rows = db.exec(
            select(Client).where(Client.agency_id == agency.id).order_by(Client.id)
        ).all()
        partners = [a for a in agencies if a.id != agency.id]
        for client in rows[: max(2, (len(rows) * 2) // 3)]:
            plan = plans[number % len(plans)]
            number += 1
            _release(
                db,
                client,
                plan,
                recipients=rng.sample(partners, min(len(partners), rng.randint(1, 3))),
                sections=rng.sample(section_keys, rng.randint(2, 4)),
                witness=witness,
                keys=keys,
                at=at,
                today=today,
            )
    first = db.exec(
        select(Client).where(Client.agency_id == agencies[0].id).order_by(Client.id)
    ).first()
    if first is not None:
        restricted_persons.record_restricted_person(
            db, first, name=RESTRICTED_NAME, reason="suspected_exploiter", actor=None, at=at
        )


def _midnight(day: date) -> datetime:
    # Release dates are calendar days in the MDT's time zone, as the release form makes them.
    return datetime.combine(day, time(0), tzinfo=DEMO_TZ)


def _release(db, client, plan, *, recipients, sections, witness, keys, at, today) -> None:
    # (signed days ago, effective days from today, days it runs)
    timing = {
        "active": (10, -10, 90),
        "expired": (120, -120, 90),
        "revoked": (40, -40, 90),
        "not_yet_effective": (1, 14, 90),
        "draft": (0, 0, 90),
    }[plan]
    signed_ago, starts_in, runs = timing
    signed_at = at - timedelta(days=signed_ago)
    effective_at = max(_midnight(today + timedelta(days=starts_in)), signed_at)
    row = releases.draft_release(
        db,
        client,
        recipients=[a.public_id for a in recipients],
        sections=sections,
        purpose=consent.Purpose.MDT_CASE_REVIEW.value,
        effective_at=effective_at,
        expiry=consent.DateExpiry(_midnight(today + timedelta(days=starts_in + runs))),
        client_is_minor=False,
        second_signer_required=False,
        language="en",
        actor=witness,
        at=signed_at,
    )
    if plan == "draft":
        return
    releases.sign(
        db,
        row,
        signer=consent.Signer("Client signature (demo)", consent.Capacity.SELF),
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=signed_at,
    )
    if plan == "revoked":
        releases.revoke(
            db,
            row,
            reason="The client asked to stop sharing (demo).",
            actor=witness,
            keys=keys,
            at=at - timedelta(days=5),
        )
