"""an audit entry's time on SQLite is stored with its fraction, as every other time is

The log's fast writes (`portal.db.write_many`) left a time to the driver, which writes a
whole second without its fraction ("2026-11-03 05:00:00"), while every other write, and every
search, spells it with six places ("2026-11-03 05:00:00.000000"). As text the shorter sorts
first, so an entry made on the stroke of a day's start fell out of a search for that day.
New entries are written with the fraction; this spells the old ones so. The value is the
same (an entry's hash is made from the time, not from its spelling). PostgreSQL stores a
time as a time: nothing to do there.

Revision ID: 1bdfeab15f39
Revises: 8d4a1c6e2f57
Create Date: 2026-12-23 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "1bdfeab15f39"
down_revision: str | None = "8d4a1c6e2f57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # 19 characters: "2026-11-03 05:00:00"
        op.execute("UPDATE audit_entry SET at = at || '.000000' WHERE length(at) = 19")


def downgrade() -> None:
    pass  # the code before this revision reads either spelling
