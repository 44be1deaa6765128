"""federation: the signed roster this node holds, and the nonces of signed requests

Issue 16. New tables only. `roster_document` keeps every signed roster imported (the
newest is in force); `federation_nonce` remembers, for the freshness window, the nonce of
every signed node-to-node request, so a replay is refused.

Revision ID: 8f3d5e2a9c71
Revises: b41d7e9a3c12
Create Date: 2026-12-03 08:49:43.236472
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f3d5e2a9c71"
down_revision: str | None = "b41d7e9a3c12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federation_nonce",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_nonce")),
        sa.UniqueConstraint("key_id", "nonce", name=op.f("uq_federation_nonce_key_id_nonce")),
    )
    with op.batch_alter_table("federation_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_nonce_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "roster_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("coordinating_agency", sa.String(length=36), nullable=False),
        sa.Column("signed_by", sa.String(length=80), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_document")),
        sa.UniqueConstraint("version", name=op.f("uq_roster_document_version")),
    )


def downgrade() -> None:
    op.drop_table("roster_document")
    with op.batch_alter_table("federation_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_nonce_seen_at"))

    op.drop_table("federation_nonce")
