"""What the demo's records say happened is dated on or before the demo's today. Synthetic
data only."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from sqlmodel import select

from portal.demo import seed as demo
from portal.models import SectionEntry
from portal.services import section_versions

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 2)

# A section's dates of what has happened (the others, a review or a hearing, are to come).
HAPPENED = {("needs_assessment", "assessed_on"), ("placement_housing", "moved_on")}


def test_the_demos_records_of_what_happened_are_dated_on_or_before_today(db, keys):
    """Every needs assessment the demo seeded read 'Assessed on 2026-12-13' when its today
    was 6 December (and a placement 'Moved to new housing on' a day to come): the seed dated
    every date field of a section 3 to 40 days ahead, a review's as an assessment's."""
    demo.seed(db, keys=keys, at=AT, today=TODAY, rng=random.Random(2026))
    db.flush()
    ahead, read = [], 0
    for entry in db.exec(select(SectionEntry)).all():
        content = section_versions.open_content(db, entry, keys=keys)
        for section, field in HAPPENED:
            if entry.section_key == section and content.get(field):
                read += 1
                if date.fromisoformat(content[field]) > TODAY:
                    ahead.append(f"{section}.{field} = {content[field]}")
    assert read, "the demo seeded no needs assessment or placement"
    assert not ahead, f"dated after the demo's today ({TODAY}): {ahead[:3]}"
