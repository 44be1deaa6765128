"""Audit entries written on SQLite with a whole second spelled without its fraction (as the
log's fast writes spelled it before 1bdfeab15f39) are spelled with it after the migration:
found by a search for their day, and their log still verifies. Synthetic data only."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import text

from portal import migrate
from portal.audit import AuditTag, record, verify
from portal.services import audit_log

import factories as make
from databases import setup_unit

BEFORE = "8d4a1c6e2f57"
NY = ZoneInfo("America/New_York")
MIDNIGHT = datetime.combine(date(2026, 11, 3), time(), NY)


def test_whole_seconds_are_spelled_with_their_fraction_and_the_log_still_verifies(
    engine_before, keys
):
    sqlite = engine_before.dialect.name == "sqlite"
    with setup_unit(engine_before) as db:
        agency = make.agency(db, keys)
        record(db, AuditTag.CASE_OPENED, agency_id=agency.id, subject="MDT-2026-0001", at=MIDNIGHT)
        if sqlite:  # as the fast writes spelled a whole second before
            db.exec(text("UPDATE audit_entry SET at = substr(at, 1, 19)"))
    migrate.upgrade(engine_before)

    with setup_unit(engine_before) as db:
        spellings = db.exec(text("SELECT DISTINCT length(CAST(at AS TEXT)) FROM audit_entry"))
        if sqlite:
            assert spellings.scalars().all() == [26]
        day = audit_log.AuditFilters(date_from=MIDNIGHT.date(), date_to=MIDNIGHT.date())
        found = audit_log.search(db, agency, day, tz=NY).rows
        assert [r.entry.subject for r in found if r.entry.tag == AuditTag.CASE_OPENED] == [
            "MDT-2026-0001"
        ]
        assert verify.verify_log(db, agency.public_id).ok
