"""staff enrolment links

An account starts from a one-time link that its holder opens to set their own password;
only the link's hash is kept. Accounts made before this keep the password they have.

Revision ID: 4c1e9a7d2b50
Revises: b7e4f1a93c06
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4c1e9a7d2b50"
down_revision: str | None = "b7e4f1a93c06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_enrolment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_staff_enrolment_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_enrolment")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_enrolment_token_hash")),
    )
    with op.batch_alter_table("staff_enrolment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_enrolment_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_enrolment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_enrolment_user_id"))
    op.drop_table("staff_enrolment")
