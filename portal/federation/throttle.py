"""How many notices one agency elsewhere may send this node in a window, where each notice
sets the node to work for every owner (a participation-changed notice: every point asked
again, every owner told again). A partner's node in a loop, or a partner's stolen key, must
not keep the coordinator's node doing that: past the count the notice is answered 429 with
Retry-After, and its sender keeps it owed (`links.tell_owed` sends it again later).

Counted where failed sign-ins are (`portal.auth.throttle`): the node's database by default,
in the request's own transaction, so every worker counts together; or the `limits`
storage the node's PORTAL_RATELIMIT_STORAGE (or Redis) names. A refused notice's request
is rolled back: it does not lengthen its own wait.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass

from sqlmodel import Session

from portal.auth.throttle import DATABASE, DatabaseCounts, LimitsCounts


@dataclass(frozen=True)
class NoticeRules:
    per_window: int = 30  # notices from one agency that are heard in a window
    window_seconds: int = 600  # a window starts with the first notice counted in it


class NoticeThrottle:
    def __init__(
        self, storage_uri: str, rules: NoticeRules | None = None, *, node_key: str
    ) -> None:
        self._counts = DatabaseCounts() if storage_uri == DATABASE else LimitsCounts(storage_uri)
        self.rules = rules or NoticeRules()
        # Its own key, not the session key itself nor sign-in's: one secret, one use.
        self._key = hmac.digest(node_key.encode(), b"portal federation notices", hashlib.sha256)

    def wait(self, db: Session, agency: str) -> int:
        """Count a notice from `agency` (its public id); 0 when it is heard now, else the
        whole seconds until its window ends."""
        key = hmac.new(self._key, f"notices/{agency}".encode(), hashlib.sha256).hexdigest()
        count = self._counts.incr(db, key, self.rules.window_seconds)
        if count <= self.rules.per_window:
            return 0
        until = self._counts.until(db, key)
        left = self.rules.window_seconds if until is None else until - time.time()
        return max(1, math.ceil(left))
