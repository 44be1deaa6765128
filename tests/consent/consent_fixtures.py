"""Builders and fixed data for the consent library tests (self-contained: no portal imports)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from nacl.signing import SigningKey

from consent import (
    Capacity,
    DateExpiry,
    KeyRing,
    Purpose,
    Release,
    SignatureMethod,
    Signer,
    StaffRef,
    default_statements,
    key_id_for,
    statements_digest,
)

DISCLOSER = "agency-harbor-house"
COMMUNITY = "agency-lantern-mentors"
SYSTEM = "agency-county-child-welfare"
AGENCY_KINDS = {DISCLOSER: "community", COMMUNITY: "community", SYSTEM: "system"}
AGENCY_NAMES = {
    DISCLOSER: "Harbor House (fictional)",
    COMMUNITY: "Lantern Mentors (fictional)",
    SYSTEM: "County Child Welfare (fictional)",
}
SECTION_KEYS = frozenset({"contact", "safety_plan", "mental_health", "legal", "housing"})

SIGNED_AT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
EFFECTIVE_AT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 3, 1, tzinfo=UTC)
KEYS_CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)

# Fixed seeds: tests never draw randomness, so a failure replays exactly.
HARBOR_KEY = SigningKey(bytes([1]) * 32)
HARBOR_NEW_KEY = SigningKey(bytes([2]) * 32)
LANTERN_KEY = SigningKey(bytes([3]) * 32)
HARBOR_KID = key_id_for(DISCLOSER, HARBOR_KEY.verify_key)
HARBOR_NEW_KID = key_id_for(DISCLOSER, HARBOR_NEW_KEY.verify_key)
LANTERN_KID = key_id_for(COMMUNITY, LANTERN_KEY.verify_key)


def build_release(**changes: Any) -> Release:
    """A complete, valid release for a fictional adult client; override any field.

    The digest of the statements follows the statements unless a test sets it itself."""
    release = Release(
        release_id="rel-7f3c2a",
        client_ref="client-0042",
        disclosing_agency=DISCLOSER,
        recipients=(COMMUNITY, SYSTEM),
        sections=("contact", "safety_plan"),
        purpose=Purpose.CARE_COORDINATION,
        signer=Signer(name="Alex Example", capacity=Capacity.SELF),
        second_signer=None,
        second_signer_required=False,
        client_is_minor=False,
        effective_at=EFFECTIVE_AT,
        expiry=DateExpiry(at=EXPIRES_AT),
        statements=default_statements(),
        language="en",
        witness=StaffRef(user_id="staff-17", name="Sam Caseworker"),
        signed_at=SIGNED_AT,
        signature_method=SignatureMethod.TYPED,
    )
    release = replace(release, **changes)
    if "statements_sha256" not in changes:
        release = replace(release, statements_sha256=statements_digest(release.statements))
    return release


def build_keyring() -> KeyRing:
    ring = KeyRing()
    ring.add(DISCLOSER, HARBOR_KEY.verify_key, created_at=KEYS_CREATED_AT)
    ring.add(COMMUNITY, LANTERN_KEY.verify_key, created_at=KEYS_CREATED_AT)
    return ring
