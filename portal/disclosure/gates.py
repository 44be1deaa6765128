"""Which gate withheld a section: the vocabulary of every placeholder and audit entry."""

from __future__ import annotations

from enum import StrEnum


class Gate(StrEnum):
    POLICY = "policy"  # the owner's policy does not release this section to this requester
    NOT_LINKED = "not_linked"  # the owner's records are not (yet) a confirmed part of the case
    NO_CONSENT = "no_consent"  # no release in effect covers it
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_REVOKED = "consent_revoked"

    @property
    def label(self) -> str:
        return {
            Gate.POLICY: "disclosure policy",
            Gate.NOT_LINKED: "not linked to this case",
            Gate.NO_CONSENT: "no consent",
            Gate.CONSENT_EXPIRED: "consent expired",
            Gate.CONSENT_REVOKED: "consent revoked",
        }[self]
