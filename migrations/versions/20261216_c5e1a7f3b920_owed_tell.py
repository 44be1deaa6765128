"""owed tell: a case's participants and status still owed to an owner whose node was down

The coordinating node tells every owner elsewhere who takes part in a case and whether it
is open. An owner whose node did not answer was never told again: its point kept answering
a new participant as not on the case, and kept a closed case open. What is owed is kept
here, one row per case and owner, until it is told. New table only.

Revision ID: c5e1a7f3b920
Revises: 7e2b9c4d1a60
Create Date: 2026-12-16 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5e1a7f3b920"
down_revision: str | None = "7e2b9c4d1a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federation_owed_tell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_federation_owed_tell_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mdt_case.id"], name=op.f("fk_federation_owed_tell_case_id_mdt_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_owed_tell")),
        sa.UniqueConstraint(
            "case_id", "agency_id", name=op.f("uq_federation_owed_tell_case_id_agency_id")
        ),
    )
    with op.batch_alter_table("federation_owed_tell", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_owed_tell_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("federation_owed_tell")
