"""partial indexes for the coordinator dashboard

The awaiting list, the clock counts, the cases pending for the compliance rate and the
never-reviewed half of "no review in N days" read only cases with no first MDT or no
review yet: partial indexes on those few, in the order the dashboard reads them, replace
ix_mdt_case_awaiting (whose IS NULL column PostgreSQL cannot use for ordering, so it
sorted every waiting case to show 25). ix_mdt_case_first_mdt keeps convened cases only,
so SQLite's planner no longer takes it for "first_mdt_date IS NULL".

Revision ID: c3836efd8aab
Revises: 511e3edaebdb
Create Date: 2026-11-25 15:32:15.268075
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3836efd8aab"
down_revision: str | None = "511e3edaebdb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCONVENED = sa.text("first_mdt_date IS NULL")
NEVER_REVIEWED = sa.text("last_review_date IS NULL")
CONVENED = sa.text("first_mdt_date IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("mdt_case", schema=None) as batch_op:
        batch_op.drop_index("ix_mdt_case_awaiting")
        batch_op.drop_index("ix_mdt_case_first_mdt")
        batch_op.create_index(
            "ix_mdt_case_first_mdt",
            ["coordinating_agency_id", "first_mdt_date"],
            unique=False,
            sqlite_where=CONVENED,
            postgresql_where=CONVENED,
        )
        batch_op.create_index(
            "ix_mdt_case_never_reviewed",
            ["coordinating_agency_id", "status", "intake_date"],
            unique=False,
            sqlite_where=NEVER_REVIEWED,
            postgresql_where=NEVER_REVIEWED,
        )
        batch_op.create_index(
            "ix_mdt_case_unconvened",
            [
                "coordinating_agency_id",
                "status",
                "convening_due",
                "reference",
                "intake_date",
                "referral_source",
            ],
            unique=False,
            sqlite_where=UNCONVENED,
            postgresql_where=UNCONVENED,
        )


def downgrade() -> None:
    with op.batch_alter_table("mdt_case", schema=None) as batch_op:
        batch_op.drop_index("ix_mdt_case_unconvened")
        batch_op.drop_index("ix_mdt_case_never_reviewed")
        batch_op.drop_index("ix_mdt_case_first_mdt")
        batch_op.create_index(
            "ix_mdt_case_first_mdt", ["coordinating_agency_id", "first_mdt_date"], unique=False
        )
        batch_op.create_index(
            "ix_mdt_case_awaiting",
            ["coordinating_agency_id", "status", "first_mdt_date", "convening_due"],
            unique=False,
        )
