"""fewer indexes on the audit log: three that no query needs

Every disclosure writes an audit entry per section, so each index on audit_entry is paid
on every read of a case summary. Three of its eight served no query: agency_id alone
(each of the agency's composite indexes starts with it), at alone and tag alone (every
search is within one agency's log: agency_id + at serves the date range).

Revision ID: a91d2c4e7b30
Revises: dda53ab01df2
Create Date: 2026-11-25 16:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a91d2c4e7b30"
down_revision: str | None = "dda53ab01df2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNNEEDED = {
    "ix_audit_entry_agency_id": ["agency_id"],
    "ix_audit_entry_at": ["at"],
    "ix_audit_entry_tag": ["tag"],
}


def upgrade() -> None:
    for name in UNNEEDED:
        op.drop_index(name, table_name="audit_entry")


def downgrade() -> None:
    for name, columns in UNNEEDED.items():
        op.create_index(name, "audit_entry", columns, unique=False)
