"""legal bases an agency shares under in place of a release

Issue 14: a system-based agency's lead may record a statute that lets the agency share some
sections within the MDT without the survivor's release (many states authorise child-welfare
and law-enforcement agencies to share within a child-abuse MDT). Signed policy data,
retired and never deleted. A new table only.

Revision ID: b41d7e9a3c12
Revises: 60c6d435986a
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b41d7e9a3c12"
down_revision: str | None = "60c6d435986a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("citation", sa.String(length=200), nullable=False),
        sa.Column("sections", sa.String(length=2000), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("minors_only", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_legal_basis_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_user.id"], name=op.f("fk_legal_basis_created_by_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["retired_by_id"], ["staff_user.id"], name=op.f("fk_legal_basis_retired_by_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_basis")),
        sa.UniqueConstraint("public_id", name=op.f("uq_legal_basis_public_id")),
    )
    op.create_index(op.f("ix_legal_basis_agency_id"), "legal_basis", ["agency_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_legal_basis_agency_id"), table_name="legal_basis")
    op.drop_table("legal_basis")
