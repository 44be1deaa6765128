"""Rotating the node's key-encryption key (KEK), in two steps with both keys accepted between.

1. `rotate_secrets_file`: the secrets file gets a new KEK, the old one kept in its list of
   previous KEKs; the node's processes, restarted, wrap under the new one and open under
   either (portal.crypto.KeyWrapper). No database row changes.
2. `rewrap_batch`: everything still wrapped under a previous KEK (agency keys, staff TOTP
   secrets, TOTP secrets being enrolled) wrapped again under the current one, an agency at
   a time, a batch per transaction: stopped at any point, nothing is lost, and a second run
   re-wraps what the first did not reach.
3. `forget_previous_keks`: once `survey` finds nothing that opens only under a previous
   KEK, the previous KEKs leave the file.

The file is only ever replaced whole (a new file beside it, flushed to disk, renamed over
it): at every moment it is the old file or the new one, never neither, never half of one.
"""

from __future__ import annotations

import base64
import fcntl
import glob
import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nacl.exceptions import CryptoError
from sqlalchemy import func, update
from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.models import Agency, AgencyKey, StaffUser, WebSession
from portal.settings import PREVIOUS_KEKS_FIELD, read_secrets_file, stored_previous_keks


def new_kek() -> str:
    """A fresh random KEK, as the secrets file and PORTAL_KEK hold one (base64)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


# --- the secrets file ----------------------------------------------------------------------


@contextmanager
def _held(path: Path) -> Iterator[dict]:
    """The secrets file's values, read while no other rotation or forgetting changes the
    file (a lock on its folder: the file itself is replaced, so a lock on it would not
    hold)."""
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield read_secrets_file(path)
    finally:
        os.close(folder)  # and the lock with it


def _replace(path: Path, values: dict) -> None:
    """The file replaced whole by `values`: written beside it with mode 0600 (and its owner),
    flushed to disk, then renamed over it, and the rename flushed."""
    owner = path.stat()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if os.geteuid() == 0:  # root rotating the service account's file keeps it theirs
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
            json.dump(values, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def rotate_secrets_file(path: Path, *, new: str) -> int:
    """The file's KEK replaced by `new`, the replaced one first among its previous KEKs;
    returns how many previous KEKs the file now keeps."""
    with _held(path) as stored:
        previous = list(
            dict.fromkeys((stored["key_encryption_key"], *stored_previous_keks(stored, path)))
        )
        _replace(path, {**stored, "key_encryption_key": new, PREVIOUS_KEKS_FIELD: previous})
    return len(previous)


def previous_in_file(path: Path) -> int:
    """How many previous KEKs the secrets file keeps."""
    return len(stored_previous_keks(read_secrets_file(path), path))


class SecretsFileChanged(Exception):
    """The secrets file's KEK is not the one the database was checked against."""


def forget_previous_keks(path: Path, *, checked: str) -> int:
    """The file's previous KEKs removed; returns how many. `checked`: the KEK under which
    the database was found to open whole (`survey`); if a rotation has changed
    the file's KEK since, nothing is removed (SecretsFileChanged)."""
    with _held(path) as stored:
        if stored["key_encryption_key"] != checked:
            raise SecretsFileChanged(path)
        forgotten = len(stored_previous_keks(stored, path))
        if forgotten:
            _replace(path, {k: v for k, v in stored.items() if k != PREVIOUS_KEKS_FIELD})
        _remove_leftovers(path)
    return forgotten


def _remove_leftovers(path: Path) -> None:
    """Files a write of the secrets file left beside it when it was stopped between writing
    and renaming (kill -9, a power cut): each holds a KEK this command is meant to leave
    on no disk. Called under the folder's lock, while no write is under way."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.new"):
        leftover.unlink(missing_ok=True)


# --- what is wrapped under the KEK ----------------------------------------------------------


@dataclass(frozen=True)
class WrappedKind:
    """One column wrapped under the KEK: `rows(agency id)` selects (id, wrapped) of an
    agency's rows that hold something."""

    name: str  # as the command prints it
    key: str  # as the audit entry's detail names it
    table: type
    column: str
    rows: Callable


def _agency_keys(agency_id: int):
    return select(AgencyKey.id, AgencyKey.wrapped_secret).where(AgencyKey.agency_id == agency_id)


def _totp_secrets(agency_id: int):
    return select(StaffUser.id, StaffUser.totp_secret).where(
        StaffUser.agency_id == agency_id, StaffUser.totp_secret.is_not(None)
    )


def _pending_totp_secrets(agency_id: int):
    return (
        select(WebSession.id, WebSession.pending_totp_secret)
        .join(StaffUser, StaffUser.id == WebSession.user_id)
        .where(StaffUser.agency_id == agency_id, WebSession.pending_totp_secret.is_not(None))
    )


KINDS = (
    WrappedKind("agency keys", "agency_keys", AgencyKey, "wrapped_secret", _agency_keys),
    WrappedKind("staff TOTP secrets", "totp_secrets", StaffUser, "totp_secret", _totp_secrets),
    WrappedKind(
        "TOTP secrets being enrolled",
        "pending_totp_secrets",
        WebSession,
        "pending_totp_secret",
        _pending_totp_secrets,
    ),
)

# What became of each wrapped secret a batch read (or, PREVIOUS, how `survey` found it).
REWRAPPED, CURRENT, CHANGED, UNOPENED = "rewrapped", "current", "changed", "unopened"
PREVIOUS = "previous"


@dataclass(frozen=True)
class Position:
    """Where a run of batches is: the agency (the first with an id at least this), the
    kind, and the last row of that kind done."""

    agency_id: int = 0
    kind: int = 0
    after: int = 0


@dataclass
class Batch:
    next: Position | None  # None: every agency done
    counts: Counter  # (kind name, outcome) -> how many


def rewrap_batch(
    db: Session, position: Position, *, size: int, keys: KeyWrapper, at: datetime
) -> Batch:
    """Up to `size` of one agency's wrapped secrets from `position`, each that opens only
    under a previous KEK wrapped again under the current one, and written only if still
    what was read (a secret written meanwhile, a TOTP enrolment, is not overwritten); one
    entry in the agency's log naming how many. A batch never spans two agencies, so an
    agency with fewer than `size` secrets gets one entry. The caller commits."""
    agency_id = db.exec(select(func.min(Agency.id)).where(Agency.id >= position.agency_id)).one()
    if agency_id is None:
        return Batch(None, Counter())
    counts: Counter = Counter()
    rewrapped: Counter = Counter()
    taken = 0
    after = position.after
    following = Position(agency_id + 1)
    for index in range(position.kind, len(KINDS)):
        kind = KINDS[index]
        table = kind.table
        rows = db.exec(
            kind.rows(agency_id).where(table.id > after).order_by(table.id).limit(size - taken)
        ).all()
        for row_id, wrapped in rows:
            outcome = _rewrap(db, kind, row_id, bytes(wrapped), keys=keys)
            counts[kind.name, outcome] += 1
            if outcome == REWRAPPED:
                rewrapped[kind.key] += 1
        taken += len(rows)
        if taken >= size:
            following = Position(agency_id, index, rows[-1][0])
            break
        after = 0
    if rewrapped:
        record(
            db,
            AuditTag.KEY_REWRAPPED,
            agency_id=agency_id,
            actor=None,
            subject="key-encryption key",
            detail={"rewrapped": sum(rewrapped.values()), **rewrapped},
            at=at,
        )
    return Batch(following, counts)


def _rewrap(db: Session, kind: WrappedKind, row_id: int, wrapped: bytes, *, keys) -> str:
    try:
        secret, current = keys.opened(wrapped)
    except CryptoError:  # under a KEK this node no longer has, or damaged: left as it is
        return UNOPENED
    if current:
        return CURRENT
    table, column = kind.table, getattr(kind.table, kind.column)
    written = db.execute(
        update(table)
        .where(table.id == row_id, column == wrapped)
        .values({kind.column: keys.wrap(secret)})
    ).rowcount
    return REWRAPPED if written == 1 else CHANGED


def survey(db: Session, *, keys: KeyWrapper) -> Counter:
    """Per (kind name, outcome), how many wrapped secrets open under the current KEK
    (CURRENT), only under a previous one (PREVIOUS: what forgetting it would lose), or under
    none given (UNOPENED). Reads, changes nothing."""
    found: Counter = Counter()
    for kind in KINDS:
        column = getattr(kind.table, kind.column)
        for (wrapped,) in db.execute(select(column).where(column.is_not(None))):
            try:
                _, current = keys.opened(bytes(wrapped))
            except CryptoError:
                found[kind.name, UNOPENED] += 1
                continue
            found[kind.name, CURRENT if current else PREVIOUS] += 1
    return found
