"""a risk-screen clock stops when its screening no longer shows a clear concern

Issue 20. `risk_screen.stopped_at`: the screening that identified the survivor was
edited or amended down (from a clear concern to a possible one or none), so the clock of
that identification no longer runs. Nullable; every clock so far keeps running as before.

Revision ID: 60c6d435986a
Revises: 8d3a61f0c2b9
Create Date: 2026-12-11 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "60c6d435986a"
down_revision: str | None = "8d3a61f0c2b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("risk_screen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_screen", schema=None) as batch_op:
        batch_op.drop_column("stopped_at")
