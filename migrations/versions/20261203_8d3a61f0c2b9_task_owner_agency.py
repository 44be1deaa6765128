"""tasks name the agency that owns their text; case links name the release they joined under

Issue 14 (one door): a task's title, details, comments and history are the content of the
agency that wrote it, disclosed to any other agency only through that agency's disclosure
point. The owner is the creating staff member's agency; a task with no recorded creator
(written by a tool) belongs to the case's coordinating agency.

A case link records the client's release under which it was confirmed (one that names the
coordinating agency for MDT case review); links confirmed before this have none recorded.

Revision ID: 8d3a61f0c2b9
Revises: 2c0ba5964ca1
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d3a61f0c2b9"
down_revision: str | None = "2c0ba5964ca1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("release_ref", sa.String(length=36), nullable=True))
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_agency_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE task SET owner_agency_id = COALESCE("
        " (SELECT staff_user.agency_id FROM staff_user WHERE staff_user.id = task.created_by_id),"
        " (SELECT mdt_case.coordinating_agency_id FROM mdt_case WHERE mdt_case.id = task.case_id))"
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.alter_column("owner_agency_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_task_owner_agency_id"), ["owner_agency_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_task_owner_agency_id_agency"), "agency", ["owner_agency_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_task_owner_agency_id_agency"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_task_owner_agency_id"))
        batch_op.drop_column("owner_agency_id")
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.drop_column("release_ref")
