"""Failed sign-in throttling per account and per address, checked before hashing."""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    """Counts failures only; a successful sign-in never uses up an allowance.

    The default storage is this process's memory; point PORTAL_RATELIMIT_STORAGE at a
    shared store (e.g. redis://) when several workers serve one node.
    """

    def __init__(self, storage_uri: str, per_account: str, per_address: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account = parse(per_account)
        self._per_address = parse(per_address)

    def allowed(self, username: str, address: str) -> bool:
        return self._limiter.test(
            self._per_account, "account", username.casefold()
        ) and self._limiter.test(self._per_address, "address", address)

    def failed(self, username: str, address: str) -> None:
        self._limiter.hit(self._per_account, "account", username.casefold())
        self._limiter.hit(self._per_address, "address", address)

    def reset(self) -> None:
        self._limiter.storage.reset()
