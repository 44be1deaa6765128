"""convening waiting tally

Cases not yet convened, counted per coordinating agency, referral source, intake day and
deadline. The compliance rate leaves out the cases still inside their window; read from
here that costs a row per day and source whose deadline is ahead, not a row per case.
Backfilled from mdt_case; from here on the services keep it with the other convening
tallies in the same transaction.

Revision ID: b7e4f1a93c06
Revises: a91d2c4e7b30
Create Date: 2026-11-25 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e4f1a93c06"
down_revision: str | None = "a91d2c4e7b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every status counts, as in the other tallies. A case without a deadline is never
# pending (the rate compares the deadline with today), so it gets no row.
BACKFILL = """
INSERT INTO convening_waiting
    (coordinating_agency_id, referral_source, intake_date, convening_due, waiting)
SELECT coordinating_agency_id, referral_source, intake_date, convening_due, COUNT(*)
FROM mdt_case
WHERE first_mdt_date IS NULL AND convening_due IS NOT NULL
GROUP BY coordinating_agency_id, referral_source, intake_date, convening_due
"""


def upgrade() -> None:
    op.create_table(
        "convening_waiting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinating_agency_id", sa.Integer(), nullable=False),
        sa.Column("referral_source", sa.String(length=40), nullable=False),
        sa.Column("intake_date", sa.Date(), nullable=False),
        sa.Column("convening_due", sa.Date(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coordinating_agency_id"],
            ["agency.id"],
            name=op.f("fk_convening_waiting_coordinating_agency_id_agency"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_convening_waiting")),
        sa.UniqueConstraint(
            "coordinating_agency_id",
            "convening_due",
            "intake_date",
            "referral_source",
            name=op.f(
                "uq_convening_waiting_coordinating_agency_id_convening_due_intake_date_referral_source"
            ),
        ),
    )
    with op.batch_alter_table("convening_waiting", schema=None) as batch_op:
        batch_op.create_index(
            "ix_convening_waiting_cover",
            [
                "coordinating_agency_id",
                "convening_due",
                "intake_date",
                "referral_source",
                "waiting",
            ],
            unique=False,
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("convening_waiting", schema=None) as batch_op:
        batch_op.drop_index("ix_convening_waiting_cover")
    op.drop_table("convening_waiting")
