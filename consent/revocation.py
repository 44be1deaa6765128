"""The revocation: a signed document, by the disclosing agency, that ends a release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nacl.signing import SigningKey

from consent.canonical import canonical_bytes
from consent.document import (
    Fields,
    ReleaseFormatError,
    StaffRef,
    format_time,
    staff_from,
    staff_to_dict,
)
from consent.keys import KeyRing
from consent.signing import Verification, check_key_id, envelope_dict, verify_document

REVOCATION_DOCUMENT = "mdt.consent.revocation/1"


@dataclass(frozen=True)
class Revocation:
    revocation_id: str
    release_id: str
    disclosing_agency: str
    revoked_at: datetime
    recorded_by: StaffRef
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": REVOCATION_DOCUMENT,
            "revocation_id": self.revocation_id,
            "release_id": self.release_id,
            "disclosing_agency": self.disclosing_agency,
            "revoked_at": format_time(self.revoked_at),
            "recorded_by": staff_to_dict(self.recorded_by),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Revocation:
        fields = Fields(data, "revocation")
        fields.expect_keys(
            required=(
                "document",
                "revocation_id",
                "release_id",
                "disclosing_agency",
                "revoked_at",
                "recorded_by",
            ),
            optional=("reason",),
        )
        if fields.text("document") != REVOCATION_DOCUMENT:
            raise ReleaseFormatError("document", f"expected {REVOCATION_DOCUMENT!r}")
        recorded_by = staff_from(fields, "recorded_by")
        assert recorded_by is not None  # staff_from only returns None when optional=True
        return cls(
            revocation_id=fields.text("revocation_id"),
            release_id=fields.text("release_id"),
            disclosing_agency=fields.text("disclosing_agency"),
            revoked_at=fields.time("revoked_at"),
            recorded_by=recorded_by,
            reason=fields.optional_text("reason"),
        )


@dataclass(frozen=True)
class SignedRevocation:
    revocation: Revocation
    key_id: str
    signature: bytes

    def to_dict(self) -> dict[str, Any]:
        return envelope_dict("revocation", self.revocation.to_dict(), self.key_id, self.signature)


def sign_revocation(
    revocation: Revocation, signing_key: SigningKey, key_id: str
) -> SignedRevocation:
    """Sign the canonical bytes of the revocation dict with the disclosing agency's key."""
    check_key_id(key_id, revocation.disclosing_agency, signing_key)
    signature = signing_key.sign(canonical_bytes(revocation.to_dict())).signature
    return SignedRevocation(revocation=revocation, key_id=key_id, signature=signature)


def verify_revocation(envelope: Any, keyring: KeyRing, *, at: datetime) -> Verification:
    """Check a revocation envelope as a release is checked; revoked_at is its signing time."""
    return verify_document(
        envelope,
        keyring,
        at=at,
        body_key="revocation",
        parse=Revocation.from_dict,
        agency_of=lambda revocation: revocation.disclosing_agency,
        signed_at_of=lambda revocation: revocation.revoked_at,
    )
