"""Failed sign-in throttling: an exponential delay per address and per account-and-address.

Nothing is counted per account alone: a limit on the account would let anyone lock its
real owner out by failing on their username. Instead the address that keeps failing
slows down, and so does that address on that account, each failure past a few free ones
doubling the wait (capped). The owner, from their own address, signs in as usual; their
agency's lead sees the failures (portal/services/alerts.py).

The counts live in the node's database by default (`DATABASE`), in the request's own
transaction: every worker of the node counts together, with no other service, and a
failure is counted exactly when its audit entry is kept. A `limits` storage URI
(redis://, or memory:// for one process) keeps them there instead, for nodes that share a
Redis.

Every key is a keyed hash (HMAC-SHA-256 under a key derived from the node's session key)
of what it counts, whichever store holds it: the keys name a typed username, which may be
a password typed into the wrong field, and a plain hash of it could be tested against
guesses by anyone who reads the store.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass

from limits.storage import MemoryStorage, storage_from_string
from sqlalchemy import case, delete, select
from sqlmodel import Session

from portal.db import insert_of
from portal.models import SignInCount

DATABASE = "database"  # the setting (PORTAL_RATELIMIT_STORAGE) for the node's database
FAILURES, WAIT = "portal-login-fail", "portal-login-wait"  # what a stored key counts


@dataclass(frozen=True)
class ThrottleRules:
    free_per_pair: int = 3  # failures on one account from one address before any delay
    free_per_address: int = 20  # failures from one address, whatever the accounts
    # Wrong second-factor codes on one account, from any address: whoever sends them knows
    # the password, and new addresses must not bring new guesses.
    free_codes_per_account: int = 10
    codes_per_session: int = 5  # a password-stage session ends after this many
    base_seconds: float = 1.0  # the first delay; each failure after doubles it
    cap_seconds: float = 900.0  # never more than this
    window_seconds: int = 3600  # failures are forgotten an hour after the first


class LoginThrottle:
    """`db`: the request's session, in whose transaction the database's counts are read
    and moved (a `limits` storage ignores it)."""

    def __init__(
        self, storage_uri: str, rules: ThrottleRules | None = None, *, node_key: str
    ) -> None:
        self._counts = DatabaseCounts() if storage_uri == DATABASE else LimitsCounts(storage_uri)
        self.rules = rules or ThrottleRules()
        # Its own key, not the session key itself: one secret, one use.
        self._key = hmac.digest(node_key.encode(), b"portal sign-in counts", hashlib.sha256)

    def _keys(
        self, username: str, address: str, *, second_factor: bool = False
    ) -> list[tuple[str, int]]:
        keys = [
            (f"address/{_network(address)}", self.rules.free_per_address),
            (self._pair(username, address), self.rules.free_per_pair),
        ]
        if second_factor:
            keys.append((self._account(username), self.rules.free_codes_per_account))
        return keys

    @staticmethod
    def _pair(username: str, address: str) -> str:
        return f"pair/{username.casefold()}/{_network(address)}"

    @staticmethod
    def _account(username: str) -> str:
        return f"codes/{username.casefold()}"

    def _stored(self, kind: str, key: str) -> str:
        """The name a count is stored under: never the key itself (see the module's note)."""
        return hmac.new(self._key, f"{kind}/{key}".encode(), hashlib.sha256).hexdigest()

    def wait(
        self, db: Session, username: str, address: str, *, second_factor: bool = False
    ) -> float:
        """Seconds this account-and-address must still wait before a try is heard."""
        now = time.time()
        waits = [0.0]
        for key, _ in self._keys(username, address, second_factor=second_factor):
            until = self._counts.until(db, self._stored(WAIT, key))
            if until is not None:
                waits.append(until - now)
        return max(waits)

    def allowed(
        self, db: Session, username: str, address: str, *, second_factor: bool = False
    ) -> bool:
        return self.wait(db, username, address, second_factor=second_factor) <= 0

    def failed(
        self, db: Session, username: str, address: str, *, second_factor: bool = False
    ) -> None:
        rules = self.rules
        for key, free in self._keys(username, address, second_factor=second_factor):
            count = self._counts.incr(db, self._stored(FAILURES, key), rules.window_seconds)
            if count > free:
                delay = min(rules.base_seconds * 2 ** (count - free - 1), rules.cap_seconds)
                self._counts.hold(db, self._stored(WAIT, key), delay)

    def code_failed_in_session(self, db: Session, session_id: str) -> bool:
        """Count a wrong code in this password-stage session; True once it has had its
        share, and must end (its holder signs in again, counted as any sign-in)."""
        count = self._counts.incr(
            db, self._stored(FAILURES, f"session/{session_id}"), self.rules.window_seconds
        )
        return count >= self.rules.codes_per_session

    def succeeded(self, db: Session, username: str, address: str) -> None:
        """The owner got in: their typos from here are forgotten (the address's are not)."""
        for key in (self._pair(username, address), self._account(username)):
            for kind in (FAILURES, WAIT):
                self._counts.clear(db, self._stored(kind, key))


def _network(address: str) -> str:
    """Who an address is, for counting: an IPv6 customer holds a whole /64, and each of its
    addresses must not bring fresh free guesses."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


class LimitsCounts:
    """Counts in a `limits` storage: memory:// (this process only) or a Redis. The stores'
    methods take a key already hashed (`LoginThrottle._stored`)."""

    def __init__(self, storage_uri: str) -> None:
        self._storage = storage_from_string(storage_uri)

    def incr(self, _db: Session, key: str, expiry: float) -> int:
        return self._storage.incr(key, expiry)

    def hold(self, _db: Session, key: str, seconds: float) -> None:
        """`key` stands for `seconds` from now (a wait)."""
        self._storage.clear(key)
        self._storage.incr(key, self._expiry(seconds))

    def until(self, _db: Session, key: str) -> float | None:
        """When `key` lapses (seconds since the epoch), or None when it is not held."""
        return self._storage.get_expiry(key) if self._storage.get(key) > 0 else None

    def clear(self, _db: Session, key: str) -> None:
        self._storage.clear(key)

    def _expiry(self, seconds: float):
        # Redis (and memcached) expire in whole seconds: a fractional delay is an error
        # there, so it is rounded up; the in-process store keeps the exact delay.
        if isinstance(self._storage, MemoryStorage):
            return seconds
        return max(1, math.ceil(seconds))


_COUNTS = SignInCount.__table__


class DatabaseCounts:
    """Counts in the node's database (`sign_in_count`), in the caller's transaction: one
    atomic statement moves a count, so workers failing on the same key at once each see
    their own failure counted. Rows past their time are deleted as new failures come."""

    def incr(self, db: Session, key: str, expiry: float) -> int:
        now = time.time()
        db.execute(delete(_COUNTS).where(_COUNTS.c.expires_at <= now))
        upsert = insert_of(db)(_COUNTS).values(key=key, count=1, expires_at=now + expiry)
        return db.execute(
            upsert.on_conflict_do_update(
                index_elements=[_COUNTS.c.key],
                # A count whose window passed starts again (the delete above raced it).
                set_={
                    "count": case((_COUNTS.c.expires_at <= now, 1), else_=_COUNTS.c.count + 1),
                    "expires_at": case(
                        (_COUNTS.c.expires_at <= now, upsert.excluded.expires_at),
                        else_=_COUNTS.c.expires_at,
                    ),
                },
            ).returning(_COUNTS.c.count)
        ).scalar_one()

    def hold(self, db: Session, key: str, seconds: float) -> None:
        """`key` stands for `seconds` from now (a wait)."""
        upsert = insert_of(db)(_COUNTS).values(key=key, count=1, expires_at=time.time() + seconds)
        db.execute(
            upsert.on_conflict_do_update(
                index_elements=[_COUNTS.c.key],
                set_={"count": 1, "expires_at": upsert.excluded.expires_at},
            )
        )

    def until(self, db: Session, key: str) -> float | None:
        """When `key` lapses (seconds since the epoch), or None when it is not held."""
        return db.execute(
            select(_COUNTS.c.expires_at).where(
                _COUNTS.c.key == key, _COUNTS.c.expires_at > time.time()
            )
        ).scalar_one_or_none()

    def clear(self, db: Session, key: str) -> None:
        db.execute(delete(_COUNTS).where(_COUNTS.c.key == key))
