"""the address and safe contact become a section of their own, apart from the identity

Issue 14. The catalogue's "identity" section carried the name, date of birth, the
address and how to reach the survivor; it now carries the name and date of birth, and a
new "safe_contact" section the address, phone, email, the safe ways to make contact and
whether it is safe to call. The sealed identity record itself is unchanged (each section
names the fields of it that it carries).

Nothing is lost: every version of a client's identity section is copied, as sealed and
under the same key, number, author and time, into the new section, which reads from it
only its own fields (the contact notes and "safe to call"); the identity section reads
only the preferred name from its own versions. A migration cannot open sealed content (it
imports nothing of the application and holds no key), so the versions are copied whole.

Each agency's own policy lines about the identity section are copied for the new one, so
what an agency decided about "identity and contact" still holds for the address: a line
that withheld it still does. Signed releases cannot change: a release that names the
identity section does not name the new one, so a partner needs a new release to receive
the address (deny by default).

Revision ID: 5a7c3e1d9b24
Revises: 8f3d5e2a9c71
Create Date: 2026-12-13 09:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a7c3e1d9b24"
down_revision: str | None = "8f3d5e2a9c71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = "identity", "safe_contact"
BATCH = 1000

entry = sa.table(
    "section_entry",
    sa.column("id", sa.Integer),
    sa.column("public_id", sa.String),
    sa.column("agency_id", sa.Integer),
    sa.column("client_id", sa.Integer),
    sa.column("section_key", sa.String),
    sa.column("version", sa.Integer),
    sa.column("key_id", sa.String),
    sa.column("content_sealed", sa.LargeBinary),
    sa.column("author_id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
)
line = sa.table(
    "policy_line",
    sa.column("id", sa.Integer),
    sa.column("public_id", sa.String),
    sa.column("agency_id", sa.Integer),
    sa.column("recipient_kind", sa.String),
    sa.column("recipient_role", sa.String),
    sa.column("section_key", sa.String),
    sa.column("purpose", sa.String),
    sa.column("effect", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by_id", sa.Integer),
    sa.column("retired_at", sa.DateTime(timezone=True)),
    sa.column("retired_by_id", sa.Integer),
)
_ENTRY_COPIED = ("agency_id", "client_id", "version", "key_id", "content_sealed", "author_id", "at")
_LINE_COPIED = (
    "agency_id",
    "recipient_kind",
    "recipient_role",
    "purpose",
    "effect",
    "created_at",
    "created_by_id",
    "retired_at",
    "retired_by_id",
)


def _copy(table, columns: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(sa.func.count()).where(table.c.section_key == NEW)).scalar_one():
        raise RuntimeError(f"{table.name} already holds {NEW!r} rows; nothing was copied")
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, *(table.c[name] for name in columns))
            .where(table.c.section_key == OLD, table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            table.insert(),
            [
                {
                    **{name: getattr(row, name) for name in columns},
                    "public_id": str(uuid.uuid4()),
                    "section_key": NEW,
                }
                for row in rows
            ],
        )
        last = rows[-1].id


def upgrade() -> None:
    _copy(entry, _ENTRY_COPIED)
    _copy(line, _LINE_COPIED)


def downgrade() -> None:
    # Back to one section: the copies go; a version of the address written since the
    # upgrade would be lost, so the downgrade refuses rather than drop it.
    bind = op.get_bind()
    old = entry.alias("old")
    copied = (
        sa.select(old.c.id)
        .where(
            old.c.section_key == OLD,
            old.c.client_id == entry.c.client_id,
            old.c.version == entry.c.version,
            old.c.content_sealed == entry.c.content_sealed,
        )
        .exists()
    )
    written_since = bind.execute(
        sa.select(sa.func.count()).where(entry.c.section_key == NEW, ~copied)
    ).scalar_one()
    if written_since:
        raise RuntimeError(
            f"{written_since} address and safe contact versions were written since the "
            "upgrade; the one identity section cannot hold them: restore a backup instead"
        )
    bind.execute(entry.delete().where(entry.c.section_key == NEW))
    bind.execute(line.delete().where(line.c.section_key == NEW))
