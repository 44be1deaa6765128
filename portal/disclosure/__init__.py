"""The disclosure point: the only code that reads another agency's sections."""

from portal.disclosure.cache import RequestCache
from portal.disclosure.gates import Gate
from portal.disclosure.point import (
    CONSENT_EXPIRED,
    CONSENT_REVOKED,
    GATES,
    NO_CONSENT,
    NOT_LINKED,
    POLICY,
    Decision,
    Released,
    ReleasedLine,
    ReleasedUnseen,
    Withheld,
    answer,
    disclose,
    parse_purpose,
    preview,
)

__all__ = [
    "CONSENT_EXPIRED",
    "CONSENT_REVOKED",
    "GATES",
    "NOT_LINKED",
    "NO_CONSENT",
    "POLICY",
    "Decision",
    "Gate",
    "Released",
    "ReleasedLine",
    "ReleasedUnseen",
    "RequestCache",
    "Withheld",
    "answer",
    "disclose",
    "parse_purpose",
    "preview",
]
