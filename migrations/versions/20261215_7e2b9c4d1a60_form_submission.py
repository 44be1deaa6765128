"""form submission, enrolment issuer: a form saved once; a link ends with its issuer

A double tap on a slow phone, or a browser resending a POST, saved a form twice: two
accompaniments, two court dates, two mandated reports, one subpoena twice in a survivor's
accounting of disclosures. Each form now carries a random token, kept here by the
transaction that saved it. New table only; nothing typed into a form is kept.

An enrolment link now names who was shown it: a lead deactivated, or no longer a lead,
could otherwise open a link they never handed over and be back in under a new account.
Links issued before this revision name nobody (as the command line's do).

A checkpoint is marked when it was signed with the audit journal attached: a journal that
lacks such a checkpoint was cut, emptied or lost, which verify now says. Checkpoints signed
before this revision are unmarked, and judged as before.

Revision ID: 7e2b9c4d1a60
Revises: 3d9a6f0c2e18
Create Date: 2026-12-15 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e2b9c4d1a60"
down_revision: str | None = "3d9a6f0c2e18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_submission",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_submission")),
    )
    with op.batch_alter_table("form_submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_form_submission_saved_at"), ["saved_at"], unique=False
        )


    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("journaled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("staff_enrolment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_staff_enrolment_issued_by_id"), ["issued_by_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_enrolment_issued_by_id_staff_user"),
            "staff_user",
            ["issued_by_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_column("journaled")
    with op.batch_alter_table("staff_enrolment", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_staff_enrolment_issued_by_id_staff_user"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_staff_enrolment_issued_by_id"))
        batch_op.drop_column("issued_by_id")
    op.drop_table("form_submission")
