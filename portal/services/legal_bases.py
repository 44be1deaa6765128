"""An agency lead records the statute their agency shares under in place of a release.

Many states authorise child-welfare and law-enforcement agencies to share within a
child-abuse MDT by statute. A lead of a system-based agency may record such a basis for
their own agency — citation, the sections it covers, the purpose, for minors only or not —
signed with the agency's key; the disclosure point then accepts it in place of a release
for what it covers, and names it in the owner's audit entry and on what it shows. Never
for a community-based agency, whose survivors' releases are the only way to share.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from nacl.signing import SigningKey
from sqlmodel import Session, select

import consent
from portal.audit import AuditTag, effective_after_disclosures, lock_logs, record
from portal.crypto import KeyWrapper
from portal.errors import Conflict, Invalid, NotFound
from portal.keyring import current_key
from portal.models import Actor, Agency, AgencyKind, KeyPurpose, LegalBasis
from portal.sections import Section, catalogue
from portal.services import validation


def shareable_sections() -> list[Section]:
    """What a basis may cover: any section, the MDT's own records included (a basis stands
    in for the release of the agency's survivor on a case); never the fact of taking part,
    which is only ever a community-based agency's to disclose."""
    return [s for s in catalogue().sections if s.source != "participation"]


def record_basis(
    db: Session,
    agency: Agency,
    *,
    citation: object,
    sections: list[str],
    purpose: object,
    minors_only: bool,
    under_age: object = consent.AGE_OF_MAJORITY,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> LegalBasis:
    """`under_age`, for a basis for minors only: the age the statute's protection ends at
    (its "child"), which is not always the age of majority; signed with the rest."""
    if agency.kind != AgencyKind.SYSTEM:
        raise Invalid(
            "citation",
            "Only a system-based agency can share under a legal basis; a community-based "
            "agency shares only under the survivor's release.",
        )
    shareable = {s.key for s in shareable_sections()}
    values = validation.collect(
        citation=lambda: validation.text(citation, "citation", max_length=200, label="Citation"),
        sections=lambda: _sections(sections, shareable),
        purpose=lambda: validation.choice(purpose, "purpose", consent.Purpose),
        under_age=lambda: _under_age(under_age) if minors_only else None,
    )
    # The agency's log (where the basis is written) before the check: one citation
    # recorded twice at once is one basis, which one retirement ends.
    lock_logs(db, [agency.id])
    if any(b.citation == values["citation"] and b.retired_at is None for b in bases_of(db, agency)):
        raise Conflict("citation", "Your agency already shares under this citation.")
    document = {
        "agency": agency.public_id,
        "citation": values["citation"],
        "sections": sorted(values["sections"]),
        "purpose": str(values["purpose"]),
        "minors_only": bool(minors_only),
        **({"minors_under_age": values["under_age"]} if minors_only else {}),
        "recorded_at": at.astimezone(UTC).isoformat(),
        "recorded_by": actor.public_id if actor else None,
    }
    text = consent.canonical_bytes(document)
    key = current_key(db, agency.id, KeyPurpose.SIGNING)
    signature = SigningKey(keys.unwrap(key.wrapped_secret)).sign(text).signature
    basis = LegalBasis(
        agency_id=agency.id,
        citation=values["citation"],
        sections=",".join(document["sections"]),
        purpose=document["purpose"],
        minors_only=bool(minors_only),
        document=text.decode(),
        signature=base64.b64encode(signature).decode(),
        key_id=key.key_id,
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(basis)
    db.flush()
    record(
        db,
        AuditTag.LEGAL_BASIS_RECORDED,
        agency_id=agency.id,
        actor=actor,
        subject=basis.public_id,
        detail=_what_it_covers(basis, document),
        at=at,
    )
    return basis


# The ages a statute's "child" ends at in the bases a lead may record.
UNDER_AGES = range(12, 22)


def _under_age(value: object) -> int:
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 2) or int(text) not in UNDER_AGES:
        raise Invalid(
            "under_age",
            f"Enter the age the statute's protection ends at: a whole number from "
            f"{UNDER_AGES.start} to {UNDER_AGES.stop - 1}.",
        )
    return int(text)


def _sections(chosen: list[str], shareable: set[str]) -> list[str]:
    picked = [str(key) for key in chosen if key]
    if not picked:
        raise Invalid("sections", "Choose the sections the law lets your agency share.")
    if any(key not in shareable for key in picked):
        raise Invalid("sections", "Choose sections from the list.")
    return sorted(set(picked))


def active_basis(db: Session, agency: Agency, public_id: str) -> LegalBasis:
    """One of the agency's own legal bases in force (404 for any other), as it is now."""
    basis = db.exec(
        select(LegalBasis)
        .where(
            LegalBasis.public_id == public_id,
            LegalBasis.agency_id == agency.id,
            LegalBasis.retired_at.is_(None),
        )
        .execution_options(populate_existing=True)
    ).first()
    if basis is None:
        raise NotFound("legal basis")
    return basis


def retire_basis(
    db: Session, agency: Agency, public_id: str, *, actor: Actor, at: datetime
) -> LegalBasis:
    lock_logs(db, [agency.id])  # a second retirement at once waits, then finds it retired
    at = effective_after_disclosures(db, agency.id, at=at)
    basis = active_basis(db, agency, public_id)
    basis.retired_at = at
    basis.retired_by_id = actor.id if actor else None
    db.add(basis)
    record(
        db,
        AuditTag.LEGAL_BASIS_RETIRED,
        agency_id=agency.id,
        actor=actor,
        subject=basis.public_id,
        detail=_what_it_covers(basis, json.loads(basis.document)),
        at=at,
    )
    return basis


def _what_it_covers(basis: LegalBasis, document: dict) -> dict:
    """What a basis lets the agency share, as its log keeps it: "what changed in our
    policy" is answered from the log alone."""
    return {
        "citation": basis.citation,
        "sections": document["sections"],
        "purpose": document["purpose"],
        "minors_only": bool(basis.minors_only),
        **({"under_age": basis.under_age(document)} if basis.minors_only else {}),
    }


def bases_of(db: Session, agency: Agency) -> list[LegalBasis]:
    return list(
        db.exec(
            select(LegalBasis)
            .where(LegalBasis.agency_id == agency.id)
            .order_by(LegalBasis.created_at, LegalBasis.id)
        ).all()
    )
