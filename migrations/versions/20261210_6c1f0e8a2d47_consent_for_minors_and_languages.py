"""consent for minors and in the client's language (issue 19)

The client's preferred language; restricted persons say why (suspected exploiter, court
order, or other with a note), can be ended with a reason, and keep their history; the
compelled disclosures a lead records. A restriction recorded before reasons were itemised
as "not safe to involve" becomes "other" with that as its note, so nothing it said is lost.

Revision ID: 6c1f0e8a2d47
Revises: 4e2b9c1d7a05
Create Date: 2026-12-10 09:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6c1f0e8a2d47"
down_revision: str | None = "4e2b9c1d7a05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASON_NOTE = "Not safe to involve."


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite a copy of `client` would trip the
    # foreign keys that point at it.
    op.add_column(
        "client",
        sa.Column(
            "preferred_language",
            sa.String(length=16),
            nullable=False,
            server_default=sa.text("'en'"),
        ),
    )

    with op.batch_alter_table("restricted_person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("end_reason", sa.String(length=500), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id FROM restricted_person")).scalars().all()
    for row_id in rows:
        connection.execute(
            sa.text("UPDATE restricted_person SET public_id = :public_id WHERE id = :id"),
            {"public_id": str(uuid.uuid4()), "id": row_id},
        )
    connection.execute(
        sa.text(
            "UPDATE restricted_person SET reason = 'other', note = :note "
            "WHERE reason = 'not_safe_to_involve'"
        ),
        {"note": OLD_REASON_NOTE},
    )
    with op.batch_alter_table("restricted_person", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_unique_constraint("uq_restricted_person_public_id", ["public_id"])
        batch_op.create_foreign_key(
            "fk_restricted_person_ended_by_id_staff_user", "staff_user", ["ended_by_id"], ["id"]
        )

    op.create_table(
        "compelled_disclosure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("basis_detail", sa.String(length=300), nullable=False),
        sa.Column("sections", sa.Text(), nullable=False),
        sa.Column("disclosed_on", sa.Date(), nullable=False),
        sa.Column("client_told", sa.Boolean(), nullable=False),
        sa.Column("client_notice", sa.String(length=500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name="fk_compelled_disclosure_agency_id_agency"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name="fk_compelled_disclosure_client_id_client"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_user.id"],
            name="fk_compelled_disclosure_recorded_by_id_staff_user",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_compelled_disclosure"),
        sa.UniqueConstraint("public_id", name="uq_compelled_disclosure_public_id"),
    )
    with op.batch_alter_table("compelled_disclosure", schema=None) as batch_op:
        batch_op.create_index("ix_compelled_disclosure_agency_id", ["agency_id"], unique=False)
        batch_op.create_index("ix_compelled_disclosure_client_id", ["client_id"], unique=False)


def downgrade() -> None:
    # Ended restrictions and compelled disclosures have no place in the older schema: going
    # back would lose them (or put an ended restriction back in force).
    connection = op.get_bind()
    kept = connection.execute(
        sa.text(
            "SELECT (SELECT COUNT(*) FROM compelled_disclosure) + "
            "(SELECT COUNT(*) FROM restricted_person WHERE ended_at IS NOT NULL)"
        )
    ).scalar_one()
    if kept:
        raise RuntimeError(
            "compelled disclosures or ended restrictions are recorded; the older schema "
            "cannot hold them. Restore a backup taken before the upgrade instead."
        )
    with op.batch_alter_table("compelled_disclosure", schema=None) as batch_op:
        batch_op.drop_index("ix_compelled_disclosure_client_id")
        batch_op.drop_index("ix_compelled_disclosure_agency_id")
    op.drop_table("compelled_disclosure")
    # The older schema knew two reasons; a note cannot go with it.
    connection.execute(
        sa.text(
            "UPDATE restricted_person SET reason = 'not_safe_to_involve' WHERE reason <> 'suspected_exploiter'"
        )
    )
    with op.batch_alter_table("restricted_person", schema=None) as batch_op:
        batch_op.drop_constraint("fk_restricted_person_ended_by_id_staff_user", type_="foreignkey")
        batch_op.drop_constraint("uq_restricted_person_public_id", type_="unique")
        batch_op.drop_column("end_reason")
        batch_op.drop_column("ended_by_id")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("note")
        batch_op.drop_column("public_id")
    op.drop_column("client", "preferred_language")
