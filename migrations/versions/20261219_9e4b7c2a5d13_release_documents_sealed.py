"""release and revocation documents, and restricted persons, sealed at rest

A signed release names who signed it (the client herself, a guardian), a revocation's
reason may name people, and a restricted person is named (with a note, an end's reason):
all were kept in clear, though the client's own row seals her name. Each row now may hold
them sealed for its place under the agency's data key (`document_sealed`, or
`details_sealed` for a restricted person) with the id of the data key that sealed them
(`data_key_id`; `key_id` on consent_release stays the signing key), its clear columns
then empty. New nullable columns only: rows written before keep their clear values, and
read as before, until `portal keys reseal` seals them (the migration holds no key).

Revision ID: 9e4b7c2a5d13
Revises: fd4dda75936a
Create Date: 2026-12-19 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4b7c2a5d13"
down_revision: str | None = "fd4dda75936a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> its sealed column
TABLES = {
    "consent_release": "document_sealed",
    "release_revocation": "document_sealed",
    "restricted_person": "details_sealed",
}


def upgrade() -> None:
    for table, sealed in TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(sealed, sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column("data_key_id", sa.String(length=80), nullable=True))


def downgrade() -> None:
    # Refused while any document is sealed: dropping the column would lose it for good
    # (the clear column is empty for those rows). Undo the seal first with a backup.
    bind = op.get_bind()
    for table, column in TABLES.items():
        stored = sa.table(table, sa.column(column))
        sealed = bind.execute(
            sa.select(sa.func.count()).select_from(stored).where(stored.c[column].is_not(None))
        ).scalar()
        if sealed:
            raise RuntimeError(
                f"{table} holds {sealed} sealed rows that this downgrade would lose: "
                "restore the backup taken before the upgrade instead"
            )
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch would copy consent_release
    # and drop it, which the rows naming it (recipients, revocations) refuse on SQLite.
    for table, column in TABLES.items():
        op.drop_column(table, "data_key_id")
        op.drop_column(table, column)
