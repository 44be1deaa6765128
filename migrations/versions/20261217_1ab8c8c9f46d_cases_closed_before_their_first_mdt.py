"""cases closed before their first MDT leave the convening rate

A case closed before its first MDT, on or before its deadline (the survivor moved away,
the referral was declined), was counted as late once its deadline passed: a team's figure
went down for a meeting nobody missed. `mdt_case.closed_on` keeps the day a case was
closed (in the MDT's zone; None while open); the tallies count such cases in
`closed_before_mdt`, and the waiting tally no longer holds them. The covering indexes of
the tallies take the new column, so the rate still reads them alone.

Existing closed cases take the day of their last "closed" event, in the MDT's zone
(PORTAL_MDT_TIMEZONE, as the portal reads it; America/New_York when unset). Cases closed
without such an event (bulk-loaded), and the copies a node keeps of cases coordinated
elsewhere (their node keeps their figures), get none and count as before.

Revision ID: 1ab8c8c9f46d
Revises: c5e1a7f3b920
Create Date: 2026-12-17 09:00:00
"""

import os
from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "1ab8c8c9f46d"
down_revision: str | None = "c5e1a7f3b920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The last close of each case closed now, whose coordinating agency this node hosts.
LAST_CLOSES = """
SELECT case_event.case_id, MAX(case_event.at) AS at
FROM case_event
JOIN mdt_case ON mdt_case.id = case_event.case_id
JOIN agency ON agency.id = mdt_case.coordinating_agency_id
JOIN node ON node.id = agency.node_id
WHERE mdt_case.status = 'closed' AND case_event.kind = 'closed' AND node.is_local
GROUP BY case_event.case_id
"""
# Tally rows are a few per day and source: each is recounted from its cases, closed before
# their first MDT by their deadline as convening.closed_before_mdt decides it.
DAY_ROWS = """
UPDATE convening_tally SET closed_before_mdt = (
    SELECT COUNT(*) FROM mdt_case c
    WHERE c.coordinating_agency_id = convening_tally.coordinating_agency_id
    AND c.referral_source = convening_tally.referral_source
    AND c.intake_date = convening_tally.intake_date
    AND c.closed_on IS NOT NULL AND c.first_mdt_date IS NULL
    AND c.convening_due IS NOT NULL AND c.closed_on <= c.convening_due)
"""
MONTH_ROWS = """
UPDATE convening_tally_month SET closed_before_mdt = (
    SELECT COALESCE(SUM(convening_tally.closed_before_mdt), 0) FROM convening_tally
    WHERE convening_tally.coordinating_agency_id = convening_tally_month.coordinating_agency_id
    AND convening_tally.referral_source = convening_tally_month.referral_source
    AND {month} = convening_tally_month.month)
"""
FIRST_OF_MONTH = {
    "sqlite": "date(convening_tally.intake_date, 'start of month')",
    "postgresql": "CAST(date_trunc('month', convening_tally.intake_date) AS date)",
}
# `sign` -1 on the way up (they wait no more), +1 on the way down (every status waits).
WAITING_ROWS = """
UPDATE convening_waiting SET waiting = waiting + {sign} * (
    SELECT COUNT(*) FROM mdt_case c
    WHERE c.coordinating_agency_id = convening_waiting.coordinating_agency_id
    AND c.referral_source = convening_waiting.referral_source
    AND c.intake_date = convening_waiting.intake_date
    AND c.convening_due = convening_waiting.convening_due
    AND c.closed_on IS NOT NULL AND c.first_mdt_date IS NULL
    AND c.closed_on <= c.convening_due)
"""
COVER = {
    "convening_tally": (
        "ix_convening_tally_cover",
        ["coordinating_agency_id", "intake_date", "referral_source", "opened", "convened_in_time"],
    ),
    "convening_tally_month": (
        "ix_convening_tally_month_cover",
        ["coordinating_agency_id", "month", "referral_source", "opened", "convened_in_time"],
    ),
}


def _closed_on_backfill(connection) -> None:
    zone = ZoneInfo(os.environ.get("PORTAL_MDT_TIMEZONE") or "America/New_York")
    closes = connection.execute(
        sa.text(LAST_CLOSES).columns(
            sa.column("case_id", sa.Integer()), sa.column("at", sa.DateTime(timezone=True))
        )
    ).all()
    days = [
        {
            "case_id": case_id,
            # SQLite keeps no zone: what it holds is UTC.
            "closed_on": (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).date(),
        }
        for case_id, at in closes
    ]
    if days:
        connection.execute(
            sa.text("UPDATE mdt_case SET closed_on = :closed_on WHERE id = :case_id").bindparams(
                sa.bindparam("closed_on", type_=sa.Date())
            ),
            days,
        )


def upgrade() -> None:
    with op.batch_alter_table("mdt_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
    for table, (index, columns) in COVER.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "closed_before_mdt", sa.Integer(), nullable=False, server_default=sa.text("0")
                )
            )
            batch_op.drop_index(index)
            batch_op.create_index(index, [*columns, "closed_before_mdt"], unique=False)
    connection = op.get_bind()
    _closed_on_backfill(connection)
    op.execute(DAY_ROWS)
    op.execute(MONTH_ROWS.format(month=FIRST_OF_MONTH[connection.dialect.name]))
    op.execute(WAITING_ROWS.format(sign=-1))


def downgrade() -> None:
    op.execute(WAITING_ROWS.format(sign=1))
    for table, (index, columns) in COVER.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
            batch_op.create_index(index, columns, unique=False)
            batch_op.drop_column("closed_before_mdt")
    # In place on both databases (SQLite 3.35+): a batch copy of mdt_case would drop the
    # table under the rows that refer to it, which SQLite's foreign keys refuse.
    op.execute("ALTER TABLE mdt_case DROP COLUMN closed_on")
