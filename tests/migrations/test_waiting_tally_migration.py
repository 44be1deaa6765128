"""The waiting tally is backfilled from the unconvened cases by its migration."""

from datetime import UTC, date, datetime

from sqlalchemy import text

from portal import migrate

BEFORE_WAITING = "a91d2c4e7b30"
BEFORE = BEFORE_WAITING  # where `engine_before` starts (conftest)
WAITING_TALLY = "b7e4f1a93c06"


def _agencies(connection, stamp) -> None:
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


def test_waiting_rows_count_the_unconvened_cases_per_day_deadline_and_source(
    engine_before,
):
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    stamp = at if engine_before.dialect.name == "postgresql" else at.replace(tzinfo=None)
    oct1, oct15, nov1 = date(2026, 10, 1), date(2026, 10, 15), date(2026, 11, 1)
    cases = [
        # (agency, source, status, intake, deadline, first MDT)
        (1, "hotline", "open", oct1, oct15, None),
        (1, "hotline", "closed", oct1, oct15, None),  # closed cases wait too
        (1, "hotline", "open", oct1, oct15, oct1),  # convened: not waiting
        (1, "hotline", "open", oct1, date(2026, 10, 22), None),  # another deadline
        (1, "school", "open", oct1, oct15, None),
        (2, "hotline", "open", oct1, oct15, None),
        (1, "hotline", "open", nov1, date(2026, 11, 15), None),
        (1, "hotline", "open", nov1, None, None),  # no deadline: never pending, no row
    ]
    with engine_before.begin() as connection:
        _agencies(connection, stamp)
        for number, (agency_id, source, status, intake, due, first) in enumerate(cases):
            connection.execute(
                text(
                    "INSERT INTO mdt_case (public_id, reference, coordinating_agency_id,"
                    " status, created_at, intake_date, referral_source, convening_due,"
                    " first_mdt_date) VALUES (:p, :r, :a, :st, :at, :i, :s, :d, :f)"
                ),
                {
                    "p": f"bbbbbbbb-0000-4000-8000-{number:012d}",
                    "r": f"MDT-2026-{number:04d}",
                    "a": agency_id,
                    "st": status,
                    "at": stamp,
                    "i": intake,
                    "s": source,
                    "d": due,
                    "f": first,
                },
            )
    migrate.upgrade(engine_before, WAITING_TALLY)
    with engine_before.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT coordinating_agency_id, referral_source, intake_date, convening_due,"
                " waiting FROM convening_waiting"
            )
        ).all()

    def as_date(value):
        return value if isinstance(value, date) else date.fromisoformat(value)

    assert {(a, s, as_date(i), as_date(d), w) for a, s, i, d, w in rows} == {
        (1, "hotline", oct1, oct15, 2),
        (1, "hotline", oct1, date(2026, 10, 22), 1),
        (1, "school", oct1, oct15, 1),
        (2, "hotline", oct1, oct15, 1),
        (1, "hotline", nov1, date(2026, 11, 15), 1),
    }
