"""Cases closed before their first MDT by their deadline leave the convening tallies'
rate when the migration that counts them runs, and come back when it is undone."""

from datetime import UTC, date, datetime

from sqlalchemy import text

from portal import migrate

BEFORE = "c5e1a7f3b920"
CLOSED_BEFORE_MDT = "1ab8c8c9f46d"
OCT1, DUE = date(2026, 10, 1), date(2026, 10, 15)


def _stamp(engine, at: datetime):
    return at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None)


def _as_date(value):
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)


# (reference, agency, source, status, first MDT, case events as (kind, UTC instant))
CASES = [
    # Closed, reopened and closed again by its deadline: the last close counts.
    (
        "LEFT-1",
        1,
        "hotline",
        "closed",
        None,
        [
            ("closed", datetime(2026, 10, 2, 15, tzinfo=UTC)),
            ("reopened", datetime(2026, 10, 2, 16, tzinfo=UTC)),
            ("closed", datetime(2026, 10, 3, 15, tzinfo=UTC)),
        ],
    ),
    # 22:00 on the deadline in New York, already the next day in UTC: by the deadline.
    ("LEFT-2", 1, "hotline", "closed", None, [("closed", datetime(2026, 10, 16, 2, tzinfo=UTC))]),
    ("LEFT-3", 1, "school", "closed", None, [("closed", datetime(2026, 10, 5, 15, tzinfo=UTC))]),
    # Closed without a meeting after the deadline: late, as before.
    ("LATE", 1, "hotline", "closed", None, [("closed", datetime(2026, 10, 20, 15, tzinfo=UTC))]),
    # Convened, then closed: counted by its meeting.
    (
        "MET",
        1,
        "hotline",
        "closed",
        date(2026, 10, 10),
        [("closed", datetime(2026, 10, 12, 15, tzinfo=UTC))],
    ),
    ("OPEN", 1, "hotline", "open", None, []),
    ("BULK", 1, "hotline", "closed", None, []),  # closed with no event: as before
    # Another node's case, whose copy this node keeps: its node keeps its figures.
    ("COPY", 3, "hotline", "closed", None, [("closed", datetime(2026, 10, 3, 15, tzinfo=UTC))]),
]


def _old_data(connection, stamp) -> None:
    """Cases and the tallies the services kept before: every unconvened case waiting."""
    for node_id, is_local in ((1, True), (2, False)):
        connection.execute(
            text(
                "INSERT INTO node (id, name, base_url, is_local, created_at)"
                " VALUES (:id, :n, :u, :l, :at)"
            ),
            {
                "id": node_id,
                "n": f"node {node_id}",
                "u": f"http://n{node_id}",
                "l": is_local,
                "at": stamp,
            },
        )
    for agency_id, node_id in ((1, 1), (3, 2)):
        connection.execute(
            text(
                "INSERT INTO agency (id, public_id, name, kind, discipline, node_id,"
                " requires_totp, is_active, created_at) VALUES (:id, :p, :n, 'community',"
                " 'advocacy', :node, false, true, :at)"
            ),
            {
                "id": agency_id,
                "p": f"aaaaaaaa-0000-4000-8000-00000000000{agency_id}",
                "n": f"Agency {agency_id}",
                "node": node_id,
                "at": stamp,
            },
        )
    for number, (reference, agency_id, source, status, first, events) in enumerate(CASES):
        case_id = number + 1
        connection.execute(
            text(
                "INSERT INTO mdt_case (id, public_id, reference, coordinating_agency_id,"
                " status, created_at, intake_date, referral_source, convening_due,"
                " first_mdt_date) VALUES (:id, :p, :r, :a, :st, :at, :i, :s, :d, :f)"
            ),
            {
                "id": case_id,
                "p": f"bbbbbbbb-0000-4000-8000-{number:012d}",
                "r": reference,
                "a": agency_id,
                "st": status,
                "at": stamp,
                "i": OCT1,
                "s": source,
                "d": DUE,
                "f": first,
            },
        )
        for kind, at in events:
            connection.execute(
                text("INSERT INTO case_event (case_id, kind, at) VALUES (:c, :k, :at)"),
                {"c": case_id, "k": kind, "at": at if stamp.tzinfo else at.replace(tzinfo=None)},
            )
    # As cases.open_case and meetings.mark_reviewed kept them for agency 1's cases.
    for source, opened, in_time, waiting in (("hotline", 6, 1, 5), ("school", 1, 0, 1)):
        connection.execute(
            text(
                "INSERT INTO convening_tally (coordinating_agency_id, intake_date,"
                " referral_source, opened, convened_in_time, convened_late)"
                " VALUES (1, :d, :s, :o, :g, 0)"
            ),
            {"d": OCT1, "s": source, "o": opened, "g": in_time},
        )
        connection.execute(
            text(
                "INSERT INTO convening_tally_month (coordinating_agency_id, month,"
                " referral_source, opened, convened_in_time, convened_late)"
                " VALUES (1, :d, :s, :o, :g, 0)"
            ),
            {"d": OCT1, "s": source, "o": opened, "g": in_time},
        )
        connection.execute(
            text(
                "INSERT INTO convening_waiting (coordinating_agency_id, referral_source,"
                " intake_date, convening_due, waiting) VALUES (1, :s, :i, :d, :w)"
            ),
            {"s": source, "i": OCT1, "d": DUE, "w": waiting},
        )


def _waiting(connection) -> dict:
    rows = connection.execute(text("SELECT referral_source, waiting FROM convening_waiting"))
    return dict(rows.all())


def test_closed_cases_get_their_day_and_the_tallies_leave_out_those_closed_in_time(
    engine_before, monkeypatch
):
    monkeypatch.delenv("PORTAL_MDT_TIMEZONE", raising=False)  # America/New_York
    with engine_before.begin() as connection:
        _old_data(connection, _stamp(engine_before, datetime(2026, 11, 2, 15, tzinfo=UTC)))
    migrate.upgrade(engine_before, CLOSED_BEFORE_MDT)
    with engine_before.connect() as connection:
        closed_on = {
            reference: _as_date(day)
            for reference, day in connection.execute(
                text("SELECT reference, closed_on FROM mdt_case")
            ).all()
        }
        days = dict(
            connection.execute(
                text("SELECT referral_source, closed_before_mdt FROM convening_tally")
            ).all()
        )
        months = dict(
            connection.execute(
                text("SELECT referral_source, closed_before_mdt FROM convening_tally_month")
            ).all()
        )
        waiting = _waiting(connection)
    assert closed_on == {
        "LEFT-1": date(2026, 10, 3),
        "LEFT-2": DUE,
        "LEFT-3": date(2026, 10, 5),
        "LATE": date(2026, 10, 20),
        "MET": date(2026, 10, 12),
        "OPEN": None,
        "BULK": None,
        "COPY": None,
    }
    assert days == months == {"hotline": 2, "school": 1}
    # Still waiting: OPEN, LATE and BULK; the cases left out wait no more.
    assert waiting == {"hotline": 3, "school": 0}

    migrate.downgrade(engine_before, BEFORE)
    with engine_before.connect() as connection:
        assert _waiting(connection) == {"hotline": 5, "school": 1}
