"""case links remember an owner elsewhere being asked to confirm

The coordinating node asked an owner's node to confirm its client while holding the
coordinator's audit log (on SQLite every writer of the node) until that node answered, so
that two asking at once made one confirmation. The request now claims the link first
(`case_link.asking_since`, committed), asks with nothing held, and clears the claim with
the answer; a second asker meanwhile is told the owner is being asked. New nullable
column only: no link is being asked as this runs.

Revision ID: fd4dda75936a
Revises: 1ab8c8c9f46d
Create Date: 2026-12-18 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fd4dda75936a"
down_revision: str | None = "1ab8c8c9f46d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asking_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.drop_column("asking_since")
