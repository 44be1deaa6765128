"""What an audit entry's hash covers, and the hash: RFC 8785 canonical JSON of the entry's
columns, hashed with SHA-256. Read by the appends (`chain`) and by whatever walks a log
(`walk`, `verify`): apart from both, so that neither needs the other."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring  # the C encoder, as json.dumps uses
from typing import Any

import consent
from portal.audit.times import format_at
from portal.models import ENTRY_FORMAT, AuditEntry

# What an entry's hash covers, per entry format: every column but `id` (the database's, not
# the log's) and `entry_hash` itself. Spelled out rather than read from the table, so that
# adding a column is a decision (a test fails until it is made) and never silently changes
# old hashes. Format 1 named actors and clients by this node's integer ids; format 2 names
# them by public id and hashes every column (the format-1 ids included, always empty), so
# no column of a new entry can be changed unseen.
FORMAT_1_FIELDS = (
    "agency_id",
    "log_key",
    "seq",
    "prev_hash",
    "tag",
    "at",
    "actor_user_id",
    "actor_agency_id",
    "actor_role",
    "subject",
    "detail",
    "client_address",
    "case_ref",
    "client_id",
    "section_key",
    "purpose",
    "decision",
    "gate",
    "release_ref",
    "policy_rule",
)
HASHED_FIELDS = (*FORMAT_1_FIELDS, "format", "actor_user_ref", "actor_agency_ref", "client_ref")
FIELDS_BY_FORMAT = {1: FORMAT_1_FIELDS, ENTRY_FORMAT: HASHED_FIELDS}


def flat_members(members: Iterable[tuple[str, Any]]) -> list[str] | None:
    """Each member of a flat object spelled as RFC 8785 JSON (see `flat_json`)."""
    parts = []
    for name, value in members:
        kind = type(value)
        if value is None:
            parts.append(name + "null")
        elif kind is str:
            parts.append(name + encode_basestring(value))
        elif kind is int and -(2**53) < value < 2**53:
            parts.append(name + str(value))
        elif isinstance(value, str) and kind is not bool:
            # A str enum (a gate): its characters, as RFC 8785 and the column hold them.
            parts.append(name + encode_basestring(str.__str__(value)))
        else:
            return None
    return parts


def flat_json(members: Iterable[tuple[str, Any]]) -> str | None:
    """RFC 8785 canonical JSON of a flat object, from its members already in key order
    (each name already spelled as JSON, colon included); None when a value is not a
    string, an integer JSON numbers hold exactly, or null.

    For that shape the standard library's C string encoder (the one `json.dumps` uses with
    ensure_ascii=False) writes exactly RFC 8785's escapes, and integers need no exponent."""
    parts = flat_members(members)
    if parts is None:
        return None
    return "{" + ",".join(parts) + "}"


def canonical_content(content: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of an entry's content.

    An entry is flat: ASCII keys, and values that are strings, integers or null, which
    the fast form writes at a fraction of the general encoder's cost (every append and
    every verification pays it). Any other shape goes through the general encoder. A
    property test holds the two equal.
    """
    if all(type(key) is str and key.isascii() for key in content):
        flat = flat_json((encode_basestring(key) + ":", content[key]) for key in sorted(content))
        if flat is not None:
            return flat.encode()
    return consent.canonical_bytes(dict(content))


class Spelling:
    """One format's hashed fields in RFC 8785 order (ASCII names sort by code point),
    each name already spelled as JSON."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.names = tuple(sorted(fields))
        self.spelled = tuple(encode_basestring(name) + ":" for name in self.names)
        self.at, self.seq = self.names.index("at"), self.names.index("seq")
        self.log_key, self.prev_hash = self.names.index("log_key"), self.names.index("prev_hash")


SPELLINGS = {format_: Spelling(fields) for format_, fields in FIELDS_BY_FORMAT.items()}


def entry_hash(values: Mapping[str, Any] | AuditEntry, *, seq: int | None = None) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of the entry's content (`seq` overrides),
    over the fields of the entry's own format."""
    get = values.get if isinstance(values, Mapping) else (lambda name: getattr(values, name))
    spelling = SPELLINGS.get(get("format") or 1)
    if spelling is None:
        raise ValueError(f"unknown audit entry format {get('format')!r}")
    content = [get(name) for name in spelling.names]
    content[spelling.at] = format_at(content[spelling.at])
    if seq is not None:
        content[spelling.seq] = seq
    flat = flat_json(zip(spelling.spelled, content, strict=True))
    if flat is not None:
        return hashlib.sha256(flat.encode()).hexdigest()
    whole = dict(zip(spelling.names, content, strict=True))
    return hashlib.sha256(canonical_content(whole)).hexdigest()
