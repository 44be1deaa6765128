"""Consent releases: the document, its canonical form, signing, verification, revocation, status."""

from consent.canonical import CanonicalFormError, canonical_bytes
from consent.document import (
    Capacity,
    DateExpiry,
    EventExpiry,
    Expiry,
    MinorRule,
    Purpose,
    Release,
    ReleaseFormatError,
    SignatureMethod,
    Signer,
    StaffRef,
    Statements,
    default_statements,
    statements_digest,
)
from consent.fhir import to_fhir_consent
from consent.keys import KeyEntry, KeyRing, key_id_for
from consent.minors import AGE_OF_MAJORITY, age_on, is_minor
from consent.revocation import Revocation, SignedRevocation, sign_revocation, verify_revocation
from consent.signing import (
    EnvelopeError,
    SignedRelease,
    Verification,
    VerifyCode,
    load_envelope,
    sign_release,
    verify,
)
from consent.status import (
    Coverage,
    CoverageCode,
    ReleaseState,
    ReleaseStatus,
    covers,
    release_end,
    status,
)
from consent.validate import Problem, remaining_capacities, validate

__all__ = [
    "AGE_OF_MAJORITY",
    "CanonicalFormError",
    "Capacity",
    "Coverage",
    "CoverageCode",
    "DateExpiry",
    "EnvelopeError",
    "EventExpiry",
    "Expiry",
    "KeyEntry",
    "KeyRing",
    "MinorRule",
    "Problem",
    "Purpose",
    "Release",
    "ReleaseFormatError",
    "ReleaseState",
    "ReleaseStatus",
    "Revocation",
    "SignatureMethod",
    "SignedRelease",
    "SignedRevocation",
    "Signer",
    "StaffRef",
    "Statements",
    "Verification",
    "VerifyCode",
    "age_on",
    "canonical_bytes",
    "covers",
    "default_statements",
    "is_minor",
    "key_id_for",
    "load_envelope",
    "release_end",
    "remaining_capacities",
    "sign_release",
    "sign_revocation",
    "statements_digest",
    "status",
    "to_fhir_consent",
    "validate",
    "verify",
    "verify_revocation",
]
