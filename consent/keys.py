"""The key ring: which Ed25519 public key belongs to which agency, and when it was in use."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from consent.document import Fields, ReleaseFormatError, format_time


def key_id_for(agency_id: str, verify_key: VerifyKey) -> str:
    """`<agency_id>:<first 16 hex chars of SHA-256 of the raw 32-byte public key>`.

    Derived from the key itself so that a key id can never be re-pointed at another key,
    and prefixed with the agency so a log line says whose key it was.
    """
    digest = hashlib.sha256(bytes(verify_key)).hexdigest()
    return f"{agency_id}:{digest[:16]}"


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: anything else raises ValueError."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("expected unpadded base64url text")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Rejects non-alphabet characters and non-canonical trailing bits alike.
    if b64url_encode(raw) != text:
        raise ValueError("expected unpadded base64url text")
    return raw


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    agency_id: str
    verify_key: VerifyKey
    created_at: datetime
    retired_at: datetime | None = None

    def in_use_at(self, moment: datetime) -> bool:
        """True when a document signed at `moment` may carry this key's signature."""
        if moment < self.created_at:
            return False
        return self.retired_at is None or moment < self.retired_at


class KeyRing:
    """Public keys by key id. Retired keys stay, so documents signed before retirement verify."""

    def __init__(self, entries: Iterable[KeyEntry] = ()) -> None:
        self._entries: dict[str, KeyEntry] = {}
        for entry in entries:
            self._entries[entry.key_id] = entry

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key_id: str) -> KeyEntry | None:
        return self._entries.get(key_id)

    def add(self, agency_id: str, verify_key: VerifyKey, *, created_at: datetime) -> str:
        key_id = key_id_for(agency_id, verify_key)
        if key_id in self._entries:
            raise ValueError(f"key {key_id} is already in the ring")
        self._entries[key_id] = KeyEntry(key_id, agency_id, verify_key, created_at)
        return key_id

    def retire(self, key_id: str, *, at: datetime) -> None:
        entry = self._entries[key_id]
        if entry.retired_at is not None and entry.retired_at <= at:
            return  # already retired earlier; never move a retirement later
        self._entries[key_id] = replace(entry, retired_at=at)

    def rotate(self, agency_id: str, verify_key: VerifyKey, *, at: datetime) -> str:
        """Retire every key of the agency still in use at `at` and add the new one from `at`."""
        for entry in list(self._entries.values()):
            if entry.agency_id == agency_id and entry.in_use_at(at):
                self.retire(entry.key_id, at=at)
        return self.add(agency_id, verify_key, created_at=at)

    def current_key_id(self, agency_id: str, *, at: datetime) -> str | None:
        usable = [e for e in self if e.agency_id == agency_id and e.in_use_at(at)]
        return max(usable, key=lambda e: e.created_at).key_id if usable else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    "kid": entry.key_id,
                    "agency_id": entry.agency_id,
                    "public_key": b64url_encode(bytes(entry.verify_key)),
                    "created_at": format_time(entry.created_at),
                    "retired_at": None
                    if entry.retired_at is None
                    else format_time(entry.retired_at),
                }
                for entry in self
            ]
        }

    @classmethod
    def from_dict(cls, data: Any) -> KeyRing:
        top = Fields(data, "keyring")
        top.expect_keys(required=("keys",))
        items = data["keys"]
        if not isinstance(items, list):
            raise ReleaseFormatError("keyring.keys", "expected a list")
        entries = []
        for index, item in enumerate(items):
            fields = Fields(item, f"keyring.keys[{index}]")
            fields.expect_keys(
                required=("kid", "agency_id", "public_key", "created_at"), optional=("retired_at",)
            )
            try:
                verify_key = VerifyKey(b64url_decode(fields.text("public_key")))
            except (ValueError, TypeError, CryptoError):
                raise ReleaseFormatError(
                    fields.path("public_key"), "not an Ed25519 public key"
                ) from None
            agency_id = fields.text("agency_id")
            # The id is checked, not trusted: a ring file must not alias one key under another id.
            if key_id_for(agency_id, verify_key) != fields.text("kid"):
                raise ReleaseFormatError(
                    fields.path("kid"), "does not match the public key and agency"
                )
            entries.append(
                KeyEntry(
                    key_id=fields.text("kid"),
                    agency_id=agency_id,
                    verify_key=verify_key,
                    created_at=fields.time("created_at"),
                    retired_at=fields.optional_time("retired_at"),
                )
            )
        return cls(entries)
