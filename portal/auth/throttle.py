"""Failed sign-in throttling: an exponential delay per address and per account-and-address.

Nothing is counted per account alone: a limit on the account would let anyone lock its
real owner out by failing on their username. Instead the address that keeps failing
slows down, and so does that address on that account, each failure past a few free ones
doubling the wait (capped). The owner, from their own address, signs in as usual; their
agency's lead sees the failures (portal/services/alerts.py).

Counts live in a `limits` storage (memory:// in one process; redis:// when several
workers serve one node), so the store is a setting, not code.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits.storage import MemoryStorage, storage_from_string


@dataclass(frozen=True)
class ThrottleRules:
    free_per_pair: int = 3  # failures on one account from one address before any delay
    free_per_address: int = 20  # failures from one address, whatever the accounts
    base_seconds: float = 1.0  # the first delay; each failure after doubles it
    cap_seconds: float = 900.0  # never more than this
    window_seconds: int = 3600  # failures are forgotten an hour after the first


class LoginThrottle:
    def __init__(self, storage_uri: str, rules: ThrottleRules | None = None) -> None:
        self._storage = storage_from_string(storage_uri)
        self.rules = rules or ThrottleRules()

    def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        return [
            (f"address/{address}", self.rules.free_per_address),
            (f"pair/{username.casefold()}/{address}", self.rules.free_per_pair),
        ]

    def wait(self, username: str, address: str) -> float:
        """Seconds this account-and-address must still wait before a try is heard."""
        now = time.time()
        waits = [0.0]
        for key, _ in self._keys(username, address):
            if self._storage.get(f"portal-login-wait/{key}") > 0:
                waits.append(self._storage.get_expiry(f"portal-login-wait/{key}") - now)
        return max(waits)

    def allowed(self, username: str, address: str) -> bool:
        return self.wait(username, address) <= 0

    def failed(self, username: str, address: str) -> None:
        rules = self.rules
        for key, free in self._keys(username, address):
            count = self._storage.incr(f"portal-login-fail/{key}", rules.window_seconds)
            if count > free:
                delay = min(rules.base_seconds * 2 ** (count - free - 1), rules.cap_seconds)
                self._storage.clear(f"portal-login-wait/{key}")
                self._storage.incr(f"portal-login-wait/{key}", self._expiry(delay))

    def _expiry(self, seconds: float):
        # Redis (and memcached) expire in whole seconds: a fractional delay is an error
        # there, so it is rounded up; the in-process store keeps the exact delay.
        if isinstance(self._storage, MemoryStorage):
            return seconds
        return max(1, math.ceil(seconds))

    def succeeded(self, username: str, address: str) -> None:
        """The owner got in: their typos from here are forgotten (the address's are not)."""
        pair = f"pair/{username.casefold()}/{address}"
        self._storage.clear(f"portal-login-fail/{pair}")
        self._storage.clear(f"portal-login-wait/{pair}")

    def reset(self) -> None:
        self._storage.reset()
