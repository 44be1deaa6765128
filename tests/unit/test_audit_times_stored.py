"""An audit entry's time is stored as every other time is, so a search by date finds an entry
made on the stroke of midnight: on SQLite, where a time is text, the log's own fast writes
once stored a whole second without its fraction ("00:00:00"), which sorts before the
"00:00:00.000000" a search compares with, so the day's first entry fell out of its day and
into the day before. Synthetic data only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.audit import AuditTag, record
from portal.models import AuditEntry
from portal.services import audit_log

import factories as make

NY = ZoneInfo("America/New_York")
MIDNIGHT = datetime.combine(date(2026, 11, 3), time(), NY)  # 05:00:00 UTC


def test_an_entry_on_the_stroke_of_midnight_is_found_on_its_own_day(db, keys):
    agency = make.agency(db, keys)
    record(db, AuditTag.CASE_OPENED, agency_id=agency.id, subject="MDT-2026-0001", at=MIDNIGHT)
    db.flush()

    def found(day_from: date, day_to: date) -> list[str]:
        filters = audit_log.AuditFilters(date_from=day_from, date_to=day_to)
        page = audit_log.search(db, agency, filters, tz=NY)
        return [row.entry.subject for row in page.rows if row.entry.tag == AuditTag.CASE_OPENED]

    assert found(date(2026, 11, 3), date(2026, 11, 3)) == ["MDT-2026-0001"]
    assert found(date(2026, 11, 2), date(2026, 11, 2)) == []
    assert db.exec(select(AuditEntry.id).where(AuditEntry.at == MIDNIGHT.astimezone(UTC))).all()
