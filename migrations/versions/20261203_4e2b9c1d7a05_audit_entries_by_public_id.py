"""audit entries name people and clients by public id (entry format 2)

An owner's log must be able to name a viewer who lives on another node, and the log must
outlive the rows it mentions. New entries (format 2) name the acting user, their agency
and the client by public id and hash every column; entries written before keep format 1,
their integer ids and their hashes (verification hashes each entry by its own format).
The public ids of old entries are filled in beside their ids, so searches and the
accounting of disclosures read one set of columns. The log's foreign keys into live
tables go.

Revision ID: 4e2b9c1d7a05
Revises: 4c1e9a7d2b50
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e2b9c1d7a05"
down_revision: str | None = "4c1e9a7d2b50"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = {
    "fk_audit_entry_actor_agency_id_agency": ("actor_agency_id", "agency"),
    "fk_audit_entry_actor_user_id_staff_user": ("actor_user_id", "staff_user"),
    "fk_audit_entry_agency_id_agency": ("agency_id", "agency"),
    "fk_audit_entry_client_id_client": ("client_id", "client"),
}
BACKFILL = {
    "actor_user_ref": ("staff_user", "actor_user_id"),
    "actor_agency_ref": ("agency", "actor_agency_id"),
    "client_ref": ("client", "client_id"),
}


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("format", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.add_column(sa.Column("actor_user_ref", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("actor_agency_ref", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("client_ref", sa.String(length=36), nullable=True))
        for name in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.drop_index("ix_audit_entry_actor_user_id")
        batch_op.drop_index("ix_audit_entry_agency_client")
    for column, (table, old) in BACKFILL.items():
        op.execute(
            f"UPDATE audit_entry SET {column} = "  # noqa: S608 - names are constants above
            f"(SELECT public_id FROM {table} WHERE {table}.id = audit_entry.{old}) "
            f"WHERE {old} IS NOT NULL"
        )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_actor_user_ref", ["actor_user_ref"], unique=False)
        batch_op.create_index(
            "ix_audit_entry_agency_client_ref", ["agency_id", "client_ref"], unique=False
        )


def downgrade() -> None:
    # Entries of format 2 name people by public id only: going back would lose who acted.
    connection = op.get_bind()
    newer = connection.execute(sa.text("SELECT COUNT(*) FROM audit_entry WHERE format > 1"))
    if newer.scalar_one():
        raise RuntimeError(
            "audit entries of format 2 exist; they cannot be expressed in format 1. "
            "Restore a backup taken before the upgrade instead."
        )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_agency_client_ref")
        batch_op.drop_index("ix_audit_entry_actor_user_ref")
        batch_op.create_index("ix_audit_entry_agency_client", ["agency_id", "client_id"])
        batch_op.create_index("ix_audit_entry_actor_user_id", ["actor_user_id"])
        for name, (column, table) in FOREIGN_KEYS.items():
            batch_op.create_foreign_key(name, table, [column], ["id"])
        batch_op.drop_column("client_ref")
        batch_op.drop_column("actor_agency_ref")
        batch_op.drop_column("actor_user_ref")
        batch_op.drop_column("format")
