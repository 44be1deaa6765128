"""a meeting's invitation says whether the coordinator named the agency

An agency was invited to a meeting in two ways: named by the coordinator when scheduling
it, or for a case on its agenda that the agency takes part in. Nothing kept which, so a
case taken off the agenda (closing it takes it off the meetings not yet held) left its
agencies invited to a meeting that no longer discusses anything of theirs. `named` keeps
the coordinator's choice; an invitation not named lasts while one of the agency's cases is
on the agenda.

Existing invitations of an agency that takes part in none of the cases that are, or were,
on the agenda can only have been named (a case taken off it is in the meeting's changes,
its reason starting with the case's reference). The others are taken as made for the
agenda: an agency both named and taking part in a case on it stays invited while one of
its cases is there. Invitations left by an earlier close are not ended here: they end when
the meeting's agenda next loses a case, and never matter once it is held.

Revision ID: 5b3e8d2a7c41
Revises: 37aba9a867b5
Create Date: 2026-12-21 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b3e8d2a7c41"
down_revision: str | None = "37aba9a867b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMED_BEFORE = """
UPDATE meeting_invite SET named = TRUE
WHERE NOT EXISTS (
    SELECT 1 FROM agenda_item
    JOIN case_link ON case_link.case_id = agenda_item.case_id
    WHERE agenda_item.meeting_id = meeting_invite.meeting_id
      AND case_link.agency_id = meeting_invite.agency_id)
AND NOT EXISTS (
    SELECT 1 FROM meeting_change
    JOIN mdt_case ON substr(meeting_change.reason, 1, length(mdt_case.reference) + 1)
        = mdt_case.reference || ':'
    JOIN case_link ON case_link.case_id = mdt_case.id
    WHERE meeting_change.meeting_id = meeting_invite.meeting_id
      AND meeting_change.kind = 'taken_off_agenda'
      AND case_link.agency_id = meeting_invite.agency_id)
"""


def upgrade() -> None:
    with op.batch_alter_table("meeting_invite", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("named", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.get_bind().execute(sa.text(NAMED_BEFORE))


def downgrade() -> None:
    with op.batch_alter_table("meeting_invite", schema=None) as batch_op:
        batch_op.drop_column("named")
