"""The consent release document: its fields, and a strict mapping to and from JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from typing import Any, TypeVar

from consent.canonical import canonical_bytes

# Signed bytes say which kind of document they are, so a signature made over a revocation
# can never be presented as a signature over a release (or the other way round).
# Format 2 adds who must sign for a minor (`minor_rule`) and the digest of the statement
# text shown (`statements_sha256`); releases signed in format 1 still read and verify.
RELEASE_DOCUMENT_V1 = "mdt.consent.release/1"
RELEASE_DOCUMENT = "mdt.consent.release/2"
_FORMATS = {RELEASE_DOCUMENT_V1: 1, RELEASE_DOCUMENT: 2}

E = TypeVar("E", bound=StrEnum)


class ReleaseFormatError(ValueError):
    """A document that cannot be read as a release: wrong shape, unknown or mistyped field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Purpose(StrEnum):
    MDT_CASE_REVIEW = "mdt_case_review"
    CARE_COORDINATION = "care_coordination"
    REFERRAL = "referral"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").replace("mdt", "MDT")


class Capacity(StrEnum):
    SELF = "self"
    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    CUSTODIAN_BY_COURT_ORDER = "custodian_by_court_order"


class MinorRule(StrEnum):
    """Who must sign for a minor, as the MDT's jurisdiction decides."""

    # The minor and a parent, legal guardian or custodian who is not a restricted person:
    # what VAWA asks of grantees (34 U.S.C. 12291(b)(2)(B)) for an unemancipated minor.
    MINOR_AND_GUARDIAN = "minor_and_guardian"
    # The minor alone, where the jurisdiction lets a minor consent on their own.
    MINOR_ALONE = "minor_alone"


class SignatureMethod(StrEnum):
    TYPED = "typed"
    PAPER = "paper"


@dataclass(frozen=True)
class Signer:
    name: str
    capacity: Capacity


@dataclass(frozen=True)
class StaffRef:
    """A staff member named on a document: the witness, or whoever recorded a revocation."""

    user_id: str
    name: str


@dataclass(frozen=True)
class DateExpiry:
    at: datetime


@dataclass(frozen=True)
class EventExpiry:
    event: str
    # Optional in the format so that validate() can name it when a form left it out;
    # a release is never open-ended, so a missing latest_at makes it invalid.
    latest_at: datetime | None


Expiry = DateExpiry | EventExpiry


@dataclass(frozen=True)
class Statements:
    """The required statements, as the text the client was shown (None when missing)."""

    revocation: str | None
    no_conditioning: str | None
    redisclosure: str | None
    compelled_disclosure: str | None


STATEMENT_KEYS = ("revocation", "no_conditioning", "redisclosure", "compelled_disclosure")


def statements_digest(statements: Statements) -> str:
    """SHA-256 (hex) of the exact statement text shown, over its RFC 8785 canonical form.

    A verifier can compare it with the digest of a catalogue's text for the release's
    language, and learn whether the client saw that very text, word for word."""
    text = {key: getattr(statements, key) for key in STATEMENT_KEYS}
    return sha256(canonical_bytes(text)).hexdigest()


def default_statements() -> Statements:
    """Plain-language English texts for the four required statements."""
    return Statements(
        revocation=(
            "You can take back (revoke) this permission at any time. Tell any staff member at "
            "the agency that is sharing your information, in person, by phone or in writing. "
            "Taking it back stops sharing from then on; it cannot undo sharing that already "
            "happened."
        ),
        no_conditioning=(
            "You do not have to sign this form. Your services, housing, safety planning and "
            "help from this agency do not depend on whether you sign."
        ),
        redisclosure=(
            "The agencies named here may use your information only for the purpose written on "
            "this form. They may not share it with anyone else without your written permission, "
            "unless the law requires it."
        ),
        compelled_disclosure=(
            "Some of the agencies named here are part of a government system (for example law "
            "enforcement, child welfare or a court). A law, subpoena or court order may require "
            "them to disclose what they receive, and this agency cannot stop that."
        ),
    )


@dataclass(frozen=True)
class Release:
    release_id: str
    client_ref: str
    disclosing_agency: str
    recipients: tuple[str, ...]
    sections: tuple[str, ...]
    purpose: Purpose
    signer: Signer | None
    second_signer: Signer | None
    second_signer_required: bool
    client_is_minor: bool
    effective_at: datetime
    expiry: Expiry
    statements: Statements
    language: str | None
    witness: StaffRef | None
    signed_at: datetime | None
    signature_method: SignatureMethod
    # Format 2: computed from the client's birth date at the moment of signing, with the
    # jurisdiction's rule for minors; None for an adult.
    minor_rule: MinorRule | None = None
    statements_sha256: str | None = None
    version: int = 2

    def to_dict(self) -> dict[str, Any]:
        data = {
            "document": RELEASE_DOCUMENT if self.version == 2 else RELEASE_DOCUMENT_V1,
            "release_id": self.release_id,
            "client_ref": self.client_ref,
            "disclosing_agency": self.disclosing_agency,
            "recipients": list(self.recipients),
            "sections": list(self.sections),
            "purpose": self.purpose.value,
            "signer": _signer_to_dict(self.signer),
            "second_signer": _signer_to_dict(self.second_signer),
            "second_signer_required": self.second_signer_required,
            "client_is_minor": self.client_is_minor,
            "effective_at": format_time(self.effective_at),
            "expiry": _expiry_to_dict(self.expiry),
            "statements": {key: getattr(self.statements, key) for key in STATEMENT_KEYS},
            "language": self.language,
            "witness": staff_to_dict(self.witness),
            "signed_at": None if self.signed_at is None else format_time(self.signed_at),
            "signature_method": self.signature_method.value,
        }
        if self.version == 2:
            data["minor_rule"] = None if self.minor_rule is None else self.minor_rule.value
            data["statements_sha256"] = self.statements_sha256
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Release:
        fields = Fields(data, "release")
        document = fields.get("document")
        version = _FORMATS.get(document) if isinstance(document, str) else None
        if version is None:
            expected = " or ".join(repr(name) for name in _FORMATS)
            raise ReleaseFormatError("document", f"expected {expected}")
        fields.expect_keys(
            required=(
                "document",
                "release_id",
                "client_ref",
                "disclosing_agency",
                "recipients",
                "sections",
                "purpose",
                "signer",
                "second_signer_required",
                "client_is_minor",
                "effective_at",
                "expiry",
                "statements",
                "signature_method",
                *(("minor_rule", "statements_sha256") if version == 2 else ()),
            ),
            optional=("second_signer", "language", "witness", "signed_at"),
        )
        return cls(
            release_id=fields.text("release_id"),
            client_ref=fields.text("client_ref"),
            disclosing_agency=fields.text("disclosing_agency"),
            recipients=fields.texts("recipients"),
            sections=fields.texts("sections"),
            purpose=fields.choice("purpose", Purpose),
            signer=_signer_from(fields, "signer"),
            second_signer=_signer_from(fields, "second_signer"),
            second_signer_required=fields.flag("second_signer_required"),
            client_is_minor=fields.flag("client_is_minor"),
            effective_at=fields.time("effective_at"),
            expiry=_expiry_from(fields.sub("expiry")),
            statements=_statements_from(fields.sub("statements")),
            language=fields.optional_text("language"),
            witness=staff_from(fields, "witness", optional=True),
            signed_at=fields.optional_time("signed_at"),
            signature_method=fields.choice("signature_method", SignatureMethod),
            minor_rule=(
                fields.choice("minor_rule", MinorRule)
                if version == 2 and fields.get("minor_rule") is not None
                else None
            ),
            statements_sha256=fields.optional_text("statements_sha256") if version == 2 else None,
            version=version,
        )


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, seconds always, microseconds only when present."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times in a release must be timezone-aware")
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def parse_time(field: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise ReleaseFormatError(field, "expected a UTC time such as 2026-03-01T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReleaseFormatError(field, f"{value!r} is not an ISO-8601 time") from None
    # One spelling per instant: signed bytes must not have two readings of the same time.
    try:
        spelled = None if moment.tzinfo is None else format_time(moment)
    except OverflowError:  # an offset that carries it past year 1 or 9999
        raise ReleaseFormatError(field, f"{value!r} is outside the calendar") from None
    if spelled != value:
        raise ReleaseFormatError(
            field, "times must be UTC written with a Z, e.g. 2026-03-01T00:00:00Z"
        )
    return moment.astimezone(UTC)


def staff_to_dict(staff: StaffRef | None) -> dict[str, str] | None:
    return None if staff is None else {"user_id": staff.user_id, "name": staff.name}


def staff_from(fields: Fields, key: str, *, optional: bool = False) -> StaffRef | None:
    if optional and fields.get(key) is None:
        return None
    sub = fields.sub(key)
    sub.expect_keys(required=("user_id", "name"))
    return StaffRef(user_id=sub.text("user_id"), name=sub.text("name"))


def _signer_to_dict(signer: Signer | None) -> dict[str, str] | None:
    return None if signer is None else {"name": signer.name, "capacity": signer.capacity.value}


def _signer_from(fields: Fields, key: str) -> Signer | None:
    if fields.get(key) is None:
        return None
    sub = fields.sub(key)
    sub.expect_keys(required=("name", "capacity"))
    return Signer(name=sub.text("name"), capacity=sub.choice("capacity", Capacity))


def _expiry_to_dict(expiry: Expiry) -> dict[str, Any]:
    if isinstance(expiry, DateExpiry):
        return {"kind": "date", "at": format_time(expiry.at)}
    latest = None if expiry.latest_at is None else format_time(expiry.latest_at)
    return {"kind": "event", "event": expiry.event, "latest_at": latest}


def _expiry_from(fields: Fields) -> Expiry:
    kind = fields.text("kind")
    if kind == "date":
        fields.expect_keys(required=("kind", "at"))
        return DateExpiry(at=fields.time("at"))
    if kind == "event":
        fields.expect_keys(required=("kind", "event"), optional=("latest_at",))
        return EventExpiry(event=fields.text("event"), latest_at=fields.optional_time("latest_at"))
    raise ReleaseFormatError(fields.path("kind"), "expected 'date' or 'event'")


def _statements_from(fields: Fields) -> Statements:
    # Missing statements are a validation problem, not a format error, so that staff see
    # them named alongside everything else wrong with the form.
    fields.expect_keys(optional=STATEMENT_KEYS)
    return Statements(**{key: fields.optional_text(key) for key in STATEMENT_KEYS})


class Fields:
    """Typed access to one JSON object, naming the dotted field path in every error."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ReleaseFormatError(path, "expected an object")
        self._data = data
        self._path = path

    def path(self, key: str) -> str:
        return key if self._path in ("release", "revocation") else f"{self._path}.{key}"

    def expect_keys(
        self, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> None:
        for key in self._data:
            if key not in required and key not in optional:
                raise ReleaseFormatError(self.path(str(key)), "unknown field")
        for key in required:
            if key not in self._data:
                raise ReleaseFormatError(self.path(key), "missing")

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def sub(self, key: str) -> Fields:
        return Fields(self._data.get(key), self.path(key))

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if not isinstance(value, str):
            raise ReleaseFormatError(self.path(key), "expected text")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self._data.get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        value = self._data.get(key)
        if not isinstance(value, bool):
            raise ReleaseFormatError(self.path(key), "expected true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._data.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ReleaseFormatError(self.path(key), "expected a list of texts")
        return tuple(value)

    def choice(self, key: str, enum: type[E]) -> E:
        value = self.text(key)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise ReleaseFormatError(self.path(key), f"expected one of: {allowed}") from None

    def time(self, key: str) -> datetime:
        return parse_time(self.path(key), self._data.get(key))

    def optional_time(self, key: str) -> datetime | None:
        return None if self._data.get(key) is None else self.time(key)
