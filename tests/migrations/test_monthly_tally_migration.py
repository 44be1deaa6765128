"""The monthly convening tally is backfilled from the daily tally by its migration."""

from datetime import UTC, date, datetime

from sqlalchemy import text

from portal import migrate

BEFORE_MONTHS = "c3836efd8aab"
BEFORE = BEFORE_MONTHS  # where `engine_before` starts (conftest)
MONTHLY_TALLY = "dda53ab01df2"


def test_month_rows_sum_the_day_rows_per_agency_and_source(engine_before):
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    stamp = at if engine_before.dialect.name == "postgresql" else at.replace(tzinfo=None)
    days = [
        # (agency, intake day, source, opened, in time, late)
        (1, date(2026, 9, 30), "hotline", 3, 1, 1),
        (1, date(2026, 10, 1), "hotline", 2, 2, 0),
        (1, date(2026, 10, 31), "hotline", 4, 1, 2),
        (1, date(2026, 10, 15), "school", 1, 0, 0),
        (2, date(2026, 10, 15), "hotline", 5, 3, 1),
        (1, date(2025, 10, 15), "hotline", 7, 6, 1),  # same month a year before
    ]
    with engine_before.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO node (id, name, base_url, is_local, created_at)"
                " VALUES (1, 'node', 'http://localhost', true, :at)"
            ),
            {"at": stamp},
        )
        for agency_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO agency (id, public_id, name, kind, discipline, node_id,"
                    " requires_totp, is_active, created_at) VALUES (:id, :p, :n, 'community',"
                    " 'advocacy', 1, false, true, :at)"
                ),
                {
                    "id": agency_id,
                    "p": f"aaaaaaaa-0000-4000-8000-00000000000{agency_id}",
                    "n": f"Agency {agency_id}",
                    "at": stamp,
                },
            )
        for agency_id, day, source, opened, good, late in days:
            connection.execute(
                text(
                    "INSERT INTO convening_tally (coordinating_agency_id, intake_date,"
                    " referral_source, opened, convened_in_time, convened_late)"
                    " VALUES (:a, :d, :s, :o, :g, :l)"
                ),
                {"a": agency_id, "d": day, "s": source, "o": opened, "g": good, "l": late},
            )
    migrate.upgrade(engine_before, MONTHLY_TALLY)
    with engine_before.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT coordinating_agency_id, month, referral_source, opened,"
                " convened_in_time, convened_late FROM convening_tally_month"
            )
        ).all()
    as_dates = {
        (a, m if isinstance(m, date) else date.fromisoformat(m), s, o, g, lt)
        for a, m, s, o, g, lt in rows
    }
    assert as_dates == {
        (1, date(2026, 9, 1), "hotline", 3, 1, 1),
        (1, date(2026, 10, 1), "hotline", 6, 3, 2),
        (1, date(2026, 10, 1), "school", 1, 0, 0),
        (2, date(2026, 10, 1), "hotline", 5, 3, 1),
        (1, date(2025, 10, 1), "hotline", 7, 6, 1),
    }
