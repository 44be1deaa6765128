"""sign-in counts in the database: every worker of a node throttles failed sign-ins together

Issue 15. A node served by several workers kept its counts of failed sign-ins in each
process's memory unless it had a Redis, so an attacker got as many tries as there were
workers. The counts now live in the node's database by default. New table only; the
key is a hash, never what was typed.

Revision ID: 3d9a6f0c2e18
Revises: 5a7c3e1d9b24
Create Date: 2026-12-14 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3d9a6f0c2e18"
down_revision: str | None = "5a7c3e1d9b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_count",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_count")),
    )
    with op.batch_alter_table("sign_in_count", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_count_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("sign_in_count")
