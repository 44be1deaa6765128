"""a survivor-mentor's intake of a client ends for good

A survivor-mentor opens the clients they registered until a mentor is assigned to a case
the client is on (their intake); after that, only the mentor who holds the case. Only the
client's link to such a case said the intake was over, and a withdrawal clears the link's
client: a survivor moved to another mentor's case and then withdrawn from it came back to
the mentor who registered them, with all the other mentor wrote since. `client.
intake_ended_at` now keeps it.

Existing clients take the time of the first withdrawal of their record (the agency's log
names the client and the case) from a case that already had a mentor assignment then.

Revision ID: 37aba9a867b5
Revises: 9e4b7c2a5d13
Create Date: 2026-12-20 09:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "37aba9a867b5"
down_revision: str | None = "9e4b7c2a5d13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every withdrawal of a client record from a case, earliest first (casework.withdraw_link:
# the case's reference as the subject, the client's public id in the detail).
WITHDRAWALS = """
SELECT subject, detail, at FROM audit_entry
WHERE tag = 'mdt:case:link_withdrawn'
ORDER BY at, id
"""
END_INTAKE = """
UPDATE client SET intake_ended_at = :at
WHERE public_id = :client AND intake_ended_at IS NULL AND EXISTS (
    SELECT 1 FROM mentor_assignment
    JOIN mdt_case ON mdt_case.id = mentor_assignment.case_id
    WHERE mdt_case.reference = :case AND mentor_assignment.assigned_at <= :at)
"""


def _client_named(detail: str | None) -> str | None:
    try:
        named = json.loads(detail or "{}").get("client")
    except (ValueError, AttributeError):
        return None
    return named if isinstance(named, str) else None


def upgrade() -> None:
    op.add_column("client", sa.Column("intake_ended_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    for case_reference, detail, at in connection.execute(sa.text(WITHDRAWALS)).all():
        client = _client_named(detail)
        if client is not None and case_reference:
            connection.execute(
                sa.text(END_INTAKE), {"at": at, "client": client, "case": case_reference}
            )


def downgrade() -> None:
    # A plain ALTER on SQLite too (3.35 and later drop a column in place): the batch mode
    # copies the table and drops the old one, which the rows that refer to clients (links,
    # releases, sections) refuse while foreign keys are on.
    op.drop_column("client", "intake_ended_at")
