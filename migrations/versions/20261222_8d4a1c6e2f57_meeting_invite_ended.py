"""an invitation to a meeting ends, and is kept

An invitation made for the agenda ends when no case of the agency is left on it
(5b3e8d2a7c41). It was deleted: the agency's calendar feed then dropped the meeting
unseen, which leaves it in calendars that hold it. `meeting_invite.ended_at` keeps it, so
the feed says the meeting is off for that agency, as it was when the invitation ended
(`ended_starts_at`, `ended_sequence`: nothing of a meeting moved since); an agency invited
again for a case takes it up again. New nullable column only: no invitation has ended when this runs (they
were deleted).

Revision ID: 8d4a1c6e2f57
Revises: 5b3e8d2a7c41
Create Date: 2026-12-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d4a1c6e2f57"
down_revision: str | None = "5b3e8d2a7c41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting_invite", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_starts_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_sequence", sa.Integer(), nullable=True))


def downgrade() -> None:
    # An ended invitation was a deleted one before this revision.
    op.execute("DELETE FROM meeting_invite WHERE ended_at IS NOT NULL")
    with op.batch_alter_table("meeting_invite", schema=None) as batch_op:
        batch_op.drop_column("ended_sequence")
        batch_op.drop_column("ended_starts_at")
        batch_op.drop_column("ended_at")
