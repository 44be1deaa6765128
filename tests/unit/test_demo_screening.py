"""The demo seeds what issue 20 asks to be seen (the README says where to look)."""

import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.demo import seed as demo
from portal.models.screening import MandatedReport, Screening
from portal.screening_tools import catalogue
from portal.services import screening_panel

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def test_the_demo_has_every_band_an_overdue_risk_screen_a_move_and_a_report(db, keys):
    by_key = demo.seed(
        db, keys=keys, at=AT, today=date(2026, 11, 2), case_count=4, rng=random.Random(3), tz=NY
    )
    seen = set(db.exec(select(Screening.tool_key, Screening.band)).all())
    assert seen == {(t.key, b.key) for t in catalogue().tools for b in t.bands}
    panel = screening_panel.screening_panel(
        db, by_key["cac"], now=AT, tz=NY, today=AT.astimezone(NY).date()
    )
    assert panel.clock_counts.overdue >= 1
    assert any(row.after_move for row in panel.reviews)
    assert panel.drafts_total == 1 and panel.minors_total >= 1
    assert len(db.exec(select(MandatedReport)).all()) == 1 and panel.reports_recent == 1
