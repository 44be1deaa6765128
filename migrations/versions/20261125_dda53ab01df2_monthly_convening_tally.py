"""monthly convening tally

The daily convening tally summed by calendar month, so the compliance rate over a year
reads about a dozen rows per referral source plus the days where a window starts
mid-month, instead of a row per day and source. Backfilled from the daily tally; from
here on the services keep both in the same transaction.

Revision ID: dda53ab01df2
Revises: c3836efd8aab
Create Date: 2026-11-25 15:50:47.698823
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dda53ab01df2"
down_revision: str | None = "c3836efd8aab"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO convening_tally_month
    (coordinating_agency_id, month, referral_source,
     opened, convened_in_time, convened_late)
SELECT coordinating_agency_id, {month}, referral_source,
    SUM(opened), SUM(convened_in_time), SUM(convened_late)
FROM convening_tally
GROUP BY coordinating_agency_id, {month}, referral_source
"""
FIRST_OF_MONTH = {
    "sqlite": "date(intake_date, 'start of month')",
    "postgresql": "CAST(date_trunc('month', intake_date) AS date)",
}


def upgrade() -> None:
    op.create_table(
        "convening_tally_month",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinating_agency_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("referral_source", sa.String(length=40), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("convened_in_time", sa.Integer(), nullable=False),
        sa.Column("convened_late", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coordinating_agency_id"],
            ["agency.id"],
            name=op.f("fk_convening_tally_month_coordinating_agency_id_agency"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_convening_tally_month")),
        sa.UniqueConstraint(
            "coordinating_agency_id",
            "month",
            "referral_source",
            name=op.f("uq_convening_tally_month_coordinating_agency_id_month_referral_source"),
        ),
    )
    with op.batch_alter_table("convening_tally_month", schema=None) as batch_op:
        batch_op.create_index(
            "ix_convening_tally_month_cover",
            [
                "coordinating_agency_id",
                "month",
                "referral_source",
                "opened",
                "convened_in_time",
            ],
            unique=False,
        )
    month = FIRST_OF_MONTH[op.get_bind().dialect.name]
    op.execute(BACKFILL.format(month=month))


def downgrade() -> None:
    with op.batch_alter_table("convening_tally_month", schema=None) as batch_op:
        batch_op.drop_index("ix_convening_tally_month_cover")
    op.drop_table("convening_tally_month")
