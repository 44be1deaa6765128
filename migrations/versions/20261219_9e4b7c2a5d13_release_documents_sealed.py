"""release and revocation documents sealed at rest under the agency's data key

A signed release names who signed it (the client herself, a guardian) and a revocation's
reason may name people: both were kept as clear JSON, though the client's own row seals
her name. Each row now may hold its document sealed for its place (`document_sealed`)
with the id of the data key that sealed it (`data_key_id`; `key_id` on consent_release
stays the signing key), its clear `document` then empty. New nullable columns only: rows
written before keep their clear document, and read as before, until `portal keys reseal`
seals them (the migration holds no key, so it cannot).

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

TABLES = ("consent_release", "release_revocation")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("document_sealed", sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column("data_key_id", sa.String(length=80), nullable=True))


def downgrade() -> None:
    # Refused while any document is sealed: dropping the column would lose it for good
    # (the clear column is empty for those rows). Undo the seal first with a backup.
    bind = op.get_bind()
    for table in TABLES:
        stored = sa.table(table, sa.column("document_sealed"))
        sealed = bind.execute(
            sa.select(sa.func.count())
            .select_from(stored)
            .where(stored.c.document_sealed.is_not(None))
        ).scalar()
        if sealed:
            raise RuntimeError(
                f"{table} holds {sealed} sealed documents that this downgrade would lose: "
                "restore the backup taken before the upgrade instead"
            )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("data_key_id")
            batch_op.drop_column("document_sealed")
