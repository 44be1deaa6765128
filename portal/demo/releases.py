"""Demo consent releases: every state a release can be in, on a good share of demo clients;
minors' releases signed by the minor and a parent or guardian, an adult's release in
Spanish, a restricted person with a reason, and a compelled disclosure (issue 19)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

import consent
from portal.crypto import KeyWrapper
from portal.models import (
    Agency,
    AgencyKey,
    Client,
    CompelledBasis,
    KeyPurpose,
    Role,
    StaffRole,
    StaffUser,
)
from portal.sections import catalogue
from portal.services import clients, compelled_disclosures, releases, restricted_persons

# Demo agencies have "had" their signing keys for a while, so releases signed in the
# demo's past verify like real ones (a signature older than its key would not).
KEY_HISTORY_DAYS = 400
RESTRICTED_NAME = "Rex Fictitious (demo)"
SPANISH_READER = ("Lucía", "Ejemplo (ficticia)")  # the demo's adult client who reads Spanish
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
    # Names and addresses are released on purpose, below, never at random; the MDT
    # referral of a minor is seeded on its own (demo/screening.py).
    section_keys = sorted(catalogue().keys() - {"identity", "safe_contact", "mdt_referral"})
    plans = ("active", "expired", "revoked", "not_yet_effective", "draft", "active")
    number = 0
    for agency in agencies:
        witness = agency_staff(db, agency)
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
        lead = _lead(db, agencies[0])
        restricted_persons.record_restricted_person(
            db,
            first,
            name=RESTRICTED_NAME,
            reason="suspected_exploiter",
            actor=lead,
            keys=keys,
            at=at,
        )
        compelled_disclosures.record_compelled_disclosure(
            db,
            first,
            given=compelled_disclosures.CompelledDisclosureInput(
                recipient="County Circuit Court (fictional)",
                basis=CompelledBasis.SUBPOENA,
                basis_detail="Subpoena duces tecum no. DEMO-2026-0117 (fictional)",
                sections=("safety_plan", "care_plan"),
                disclosed_on=today - timedelta(days=3),
                client_told=True,
                client_notice="Told in person by the advocate before the records were sent (demo).",
            ),
            today=today,
            actor=lead,
            at=at - timedelta(days=3),
        )
    _spanish_release(db, agencies[0], keys=keys, at=at, today=today)


def demo_signers(
    db: Session, client: Client, *, keys: KeyWrapper, at: datetime
) -> tuple[consent.Signer, consent.Signer | None]:
    """Who signs a demo release: the client, and for a minor a parent too (the default
    rule for minors: the minor and a parent, guardian or custodian)."""
    rules = releases.MinorSigning(tz=DEMO_TZ)
    signers = rules.signers(releases.birth_date_of(db, client, keys=keys), at)
    client_signs = consent.Signer("Client signature (demo)", consent.Capacity.SELF)
    if signers["second_signer_required"]:
        return client_signs, consent.Signer("Parent signature (demo)", consent.Capacity.PARENT)
    return client_signs, None


def agency_staff(db: Session, agency: Agency) -> StaffUser | None:
    """Who of the agency's staff the demo has write its clients' records (register them,
    witness releases, screen, write sections): its first member who is not the node's
    administrator, who runs the node and never receives survivor information (DESIGN.md),
    so never appears in an agency's log as having written or read any."""
    administrators = select(StaffRole.user_id).where(StaffRole.role == Role.ADMINISTRATOR)
    return db.exec(
        select(StaffUser)
        .where(StaffUser.agency_id == agency.id, StaffUser.id.not_in(administrators))
        .order_by(StaffUser.id)
    ).first()


def _lead(db: Session, agency: Agency) -> StaffUser | None:
    leads = select(StaffRole.user_id).where(StaffRole.role == Role.AGENCY_LEAD)
    return db.exec(
        select(StaffUser)
        .where(StaffUser.agency_id == agency.id, StaffUser.id.in_(leads))
        .order_by(StaffUser.id)
    ).first()


def _spanish_release(db: Session, agency: Agency, *, keys: KeyWrapper, at, today) -> None:
    """An adult client who reads Spanish, with a release prepared, printed and signed in it."""
    witness = _lead(db, agency)
    partners = releases.recipient_choices(db, agency)
    if witness is None or not partners:
        return
    client = clients.register_client(
        db,
        agency,
        clients.Identity(*SPANISH_READER, date(1996, 4, 12)),
        reference=f"{agency.name[:3].upper()}-ES-1",
        preferred_language="es",
        actor=witness,
        keys=keys,
        at=at - timedelta(days=20),
    )
    _release(
        db,
        client,
        "active",
        recipients=partners[:2],
        sections=["safety_plan", "needs_assessment"],
        witness=witness,
        keys=keys,
        at=at,
        today=today,
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
        keys=keys,
        rules=releases.MinorSigning(tz=DEMO_TZ),
        actor=witness,
        at=signed_at,
    )
    if plan == "draft":
        return
    signer, second_signer = demo_signers(db, client, keys=keys, at=signed_at)
    releases.sign(
        db,
        row,
        signer=signer,
        second_signer=second_signer,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        rules=releases.MinorSigning(tz=DEMO_TZ),
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
