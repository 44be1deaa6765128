"""The roster: the MDT's membership as the MOU records it, signed by the coordinating agency.

A document, the same on every node: each member agency's public id, name, kind,
discipline, node address, current and retired Ed25519 public keys, and the MOU it signed.
Canonical JSON (RFC 8785) signed with Ed25519, in the same envelope as a consent release
(`{"roster": ..., "signature": {"alg", "kid", "sig"}}`), so a partner checks it with the
consent library's tools. A node trusts exactly the keys the roster in force names.

Pure: no database. `portal.federation.membership` stores and applies it.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

import consent
from consent.document import format_time, parse_time
from consent.keys import b64url_decode, b64url_encode
from consent.signing import ALGORITHM, envelope_dict
from portal.models import AgencyKind, Discipline

FORMAT = "mdt-roster/1"
MAX_ROSTER_BYTES = 512 * 1024


class RosterError(ValueError):
    """The document is not a roster this node can accept; the message says why, in words."""


class RosterSignatureError(RosterError):
    """The signature does not verify, or is by a key this node does not trust for it."""


class RosterConflict(RosterError):
    """A well-signed roster that disagrees with this node (older, or not its keys)."""


@dataclass(frozen=True)
class MemberKey:
    key_id: str
    verify_key: VerifyKey
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def current(self) -> bool:
        return self.retired_at is None

    @property
    def public_key(self) -> str:
        return b64url_encode(bytes(self.verify_key))


@dataclass(frozen=True)
class Mou:
    signed_on: date
    review_due: date


@dataclass(frozen=True)
class Member:
    agency: str  # public id
    name: str
    kind: str
    discipline: str
    node: str  # the node's base URL, no trailing slash
    keys: tuple[MemberKey, ...]
    mou: Mou | None

    @property
    def current_keys(self) -> tuple[MemberKey, ...]:
        return tuple(key for key in self.keys if key.current)

    @property
    def kind_label(self) -> str:
        return AgencyKind(self.kind).label


@dataclass(frozen=True)
class Roster:
    version: int
    issued_at: datetime
    coordinating_agency: str
    members: tuple[Member, ...]

    def member(self, agency: str) -> Member | None:
        return next((m for m in self.members if m.agency == agency), None)

    def key(self, key_id: str) -> tuple[Member, MemberKey] | None:
        """The member a key id belongs to and the key, current or retired."""
        for member in self.members:
            for key in member.keys:
                if key.key_id == key_id:
                    return member, key
        return None

    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted({m.node for m in self.members}))

    @property
    def coordinator(self) -> Member:
        found = self.member(self.coordinating_agency)
        assert found is not None  # parse() refuses a roster without it
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "issued_at": format_time(self.issued_at),
            "coordinating_agency": self.coordinating_agency,
            "members": [member_dict(m) for m in self.members],
        }


def member_dict(member: Member) -> dict[str, Any]:
    return {
        "agency": member.agency,
        "name": member.name,
        "kind": member.kind,
        "discipline": member.discipline,
        "node": member.node,
        "keys": [
            {
                "kid": key.key_id,
                "public_key": key.public_key,
                "created_at": format_time(key.created_at),
                "retired_at": None if key.retired_at is None else format_time(key.retired_at),
            }
            for key in member.keys
        ],
        "mou": None
        if member.mou is None
        else {
            "signed_on": member.mou.signed_on.isoformat(),
            "review_due": member.mou.review_due.isoformat(),
        },
    }


def node_url(value: object, where: str = "node") -> str:
    """A node's base URL: http or https, a host, no query or fragment; no trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise RosterError(f"{where}: a node address (https://host) is required")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RosterError(f"{where}: {value!r} is not an http(s) address")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise RosterError(f"{where}: {value!r} must be a plain base address")
    return value.strip().rstrip("/")


def _text(data: dict, key: str, where: str, *, max_length: int = 120) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise RosterError(f"{where}.{key}: expected text of at most {max_length} characters")
    # An agency's name is read by people on every node: nothing in it they cannot see
    # (a zero-width space makes a second agency look like the first), nor a terminal's
    # control sequence, nor a NUL no database stores.
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise RosterError(f"{where}.{key}: holds invisible or control characters")
    return value


def _name_key(name: str) -> str:
    """Two names people would read as one: compatibility forms and case folded."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _day(data: dict, key: str, where: str) -> date:
    try:
        return date.fromisoformat(data[key])
    except (KeyError, TypeError, ValueError):
        raise RosterError(f"{where}.{key}: expected a date (YYYY-MM-DD)") from None


def _time(value: Any, where: str) -> datetime:
    try:
        return parse_time(where, value)
    except consent.ReleaseFormatError as error:
        raise RosterError(str(error)) from None


def _expect_keys(data: Any, where: str, required: set[str], optional: set[str] = frozenset()):
    if not isinstance(data, dict):
        raise RosterError(f"{where}: expected an object")
    missing = required - set(data)
    if missing:
        raise RosterError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = set(data) - required - set(optional)
    if unknown:
        raise RosterError(f"{where}: unknown field {', '.join(sorted(unknown))}")


def parse_member(data: Any, where: str) -> Member:
    _expect_keys(data, where, {"agency", "name", "kind", "discipline", "node", "keys"}, {"mou"})
    agency = _text(data, "agency", where, max_length=36)
    kind = data["kind"]
    if kind not in {k.value for k in AgencyKind}:
        raise RosterError(f"{where}.kind: expected community or system")
    if data["discipline"] not in {d.value for d in Discipline}:
        raise RosterError(f"{where}.discipline: not a discipline the portal knows")
    if not isinstance(data["keys"], list) or not data["keys"]:
        raise RosterError(f"{where}.keys: expected a list of public keys")
    keys = []
    for index, item in enumerate(data["keys"]):
        at = f"{where}.keys[{index}]"
        _expect_keys(item, at, {"kid", "public_key", "created_at"}, {"retired_at"})
        try:
            verify_key = VerifyKey(b64url_decode(item["public_key"]))
        except (ValueError, TypeError, CryptoError):
            raise RosterError(f"{at}.public_key: not an Ed25519 public key") from None
        # A key id is checked, never trusted: it must be the agency's id for this key.
        if consent.key_id_for(agency, verify_key) != item["kid"]:
            raise RosterError(f"{at}.kid: does not match the public key and agency")
        retired = item.get("retired_at")
        keys.append(
            MemberKey(
                item["kid"],
                verify_key,
                _time(item["created_at"], f"{at}.created_at"),
                None if retired is None else _time(retired, f"{at}.retired_at"),
            )
        )
    if not any(key.current for key in keys):
        raise RosterError(f"{where}.keys: no current key (every key is retired)")
    mou = None
    if data.get("mou") is not None:
        _expect_keys(data["mou"], f"{where}.mou", {"signed_on", "review_due"})
        mou = Mou(
            _day(data["mou"], "signed_on", f"{where}.mou"),
            _day(data["mou"], "review_due", f"{where}.mou"),
        )
        if mou.review_due < mou.signed_on:
            raise RosterError(f"{where}.mou.review_due: before the date it was signed")
    return Member(
        agency=agency,
        name=_text(data, "name", where),
        kind=kind,
        discipline=data["discipline"],
        node=node_url(data["node"], f"{where}.node"),
        keys=tuple(keys),
        mou=mou,
    )


def parse(body: Any) -> Roster:
    required = {"format", "version", "issued_at", "coordinating_agency", "members"}
    _expect_keys(body, "roster", required)
    if body["format"] != FORMAT:
        raise RosterError(f"roster.format: expected {FORMAT}")
    version = body["version"]
    if type(version) is not int or version < 1:
        raise RosterError("roster.version: expected a whole number from 1")
    if not isinstance(body["members"], list) or not body["members"]:
        raise RosterError("roster.members: expected a list of member agencies")
    members = tuple(
        parse_member(item, f"roster.members[{index}]") for index, item in enumerate(body["members"])
    )
    seen: set[str] = set()
    for member in members:
        if member.agency in seen:
            raise RosterError(f"roster.members: agency {member.agency} is listed twice")
        seen.add(member.agency)
    names = [_name_key(m.name) for m in members]
    if len(set(names)) != len(names):
        raise RosterError("roster.members: two members have the same name")
    roster = Roster(
        version=version,
        issued_at=_time(body["issued_at"], "roster.issued_at"),
        coordinating_agency=body["coordinating_agency"],
        members=members,
    )
    if roster.member(roster.coordinating_agency) is None:
        raise RosterError("roster.coordinating_agency: not one of the members")
    return roster


@dataclass(frozen=True)
class SignedRoster:
    roster: Roster
    key_id: str
    signature: bytes

    def to_dict(self) -> dict[str, Any]:
        return envelope_dict("roster", self.roster.to_dict(), self.key_id, self.signature)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def sign(roster: Roster, signing_key: SigningKey, key_id: str) -> SignedRoster:
    """Signed by the coordinating agency, with a key the roster itself lists: a current one,
    or, in a handover, the retired key the roster held by every node trusts (a node checks
    a roster against the roster it holds, never against the roster's own word)."""
    if key_id != consent.key_id_for(roster.coordinating_agency, signing_key.verify_key):
        raise RosterError(f"key {key_id} is not the coordinating agency's")
    listed = roster.key(key_id)
    if listed is None:
        raise RosterError(f"key {key_id} is not a key of the roster it signs")
    signature = signing_key.sign(consent.canonical_bytes(roster.to_dict())).signature
    return SignedRoster(roster, key_id, signature)


def load(data: bytes) -> dict:
    """Untrusted bytes -> the envelope, its shape checked, or RosterError. Nothing in it is
    trusted yet: `verify()` says who signed it, and only then does `parse()` read it."""
    try:
        envelope = consent.load_envelope(data, MAX_ROSTER_BYTES, body_key="roster")
    except consent.EnvelopeError as error:
        raise RosterError(str(error).rstrip(".").replace("The document", "the file")) from None
    if envelope["signature"]["alg"] != ALGORITHM:
        raise RosterError(f"signature.alg: expected {ALGORITHM}")
    return envelope


def pinned_key(envelope: dict, key_id: str) -> dict[str, VerifyKey]:
    """For a node's first roster: the key the operator was given out of band, by its id,
    taken from the document. A key id is a hash of the key, so the document cannot swap
    another key in under it; it must be a current key of the coordinating agency."""
    body = envelope["roster"]
    coordinator = body.get("coordinating_agency") if isinstance(body, dict) else None
    for member in body.get("members", []) if isinstance(body, dict) else []:
        if not isinstance(member, dict) or member.get("agency") != coordinator:
            continue
        for item in member.get("keys", []):
            if isinstance(item, dict) and item.get("kid") == key_id:
                try:
                    verify_key = VerifyKey(b64url_decode(item.get("public_key")))
                except (ValueError, TypeError, CryptoError):
                    break
                if consent.key_id_for(coordinator, verify_key) == key_id and not item.get(
                    "retired_at"
                ):
                    return {key_id: verify_key}
    raise RosterSignatureError(
        f"the key {key_id} is not a current key of the coordinating agency in this roster"
    )


def verify(envelope: dict, trusted: dict[str, VerifyKey]) -> None:
    """The signature over the canonical body, by one of the `trusted` keys (key id -> key).

    Checked before anything of the document is used."""
    key_id = envelope["signature"]["kid"]
    verify_key = trusted.get(key_id)
    if verify_key is None:
        raise RosterSignatureError(
            f"signed with key {key_id}, which is not a key this node trusts to sign the roster"
        )
    try:
        verify_key.verify(
            consent.canonical_bytes(envelope["roster"]),
            b64url_decode(envelope["signature"]["sig"]),
        )
    except (BadSignatureError, ValueError, consent.CanonicalFormError):
        raise RosterSignatureError(
            "the signature does not match the document (bad signature)"
        ) from None
