"""The one percentile every benchmark prints: nearest rank."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], share: float) -> float:
    """The smallest value that at least `share` of the values are at or below (nearest
    rank): p95 of 2 runs is the slower one, never the faster. NaN when there is none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
