"""screening, the 24-48 hour risk screen, safety-plan review state, mandated reports

Issue 20. New tables only: each row is owned by the agency that recorded it; what staff
wrote is sealed with the owner's data key. Screening and safety-plan content reach
partners only as section versions (section_entry), through the disclosure point.

Revision ID: 2c0ba5964ca1
Revises: 6c1f0e8a2d47
Create Date: 2026-12-03 06:37:33.417020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2c0ba5964ca1"
down_revision: str | None = "6c1f0e8a2d47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_plan_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_safety_plan_state_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_safety_plan_state_client_id_client")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_plan_state")),
        sa.UniqueConstraint(
            "agency_id", "client_id", name=op.f("uq_safety_plan_state_agency_id_client_id")
        ),
    )
    with op.batch_alter_table("safety_plan_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_plan_state_review", ["agency_id", "review_date"], unique=False
        )

    op.create_table(
        "screening",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("tool_key", sa.String(length=40), nullable=False),
        sa.Column("tool_version", sa.String(length=40), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("screener_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=30), nullable=False),
        sa.Column("band", sa.String(length=40), nullable=False),
        sa.Column("concern", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("mdt_choice", sa.String(length=10), nullable=True),
        sa.Column("mdt_case_id", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("notes_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_screening_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_screening_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_user.id"], name=op.f("fk_screening_created_by_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["mdt_case_id"], ["mdt_case.id"], name=op.f("fk_screening_mdt_case_id_mdt_case")
        ),
        sa.ForeignKeyConstraint(
            ["screener_id"], ["staff_user.id"], name=op.f("fk_screening_screener_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening")),
        sa.UniqueConstraint("public_id", name=op.f("uq_screening_public_id")),
    )
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screening_agency_concern", ["agency_id", "concern", "age_group"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_screening_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            "ix_screening_agency_status", ["agency_id", "finalised_at", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_screening_client_id"), ["client_id"], unique=False)

    op.create_table(
        "mandated_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=30), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by_id", sa.Integer(), nullable=True),
        sa.Column("report_number", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_mandated_report_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mdt_case.id"], name=op.f("fk_mandated_report_case_id_mdt_case")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_mandated_report_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["made_by_id"], ["staff_user.id"], name=op.f("fk_mandated_report_made_by_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_user.id"],
            name=op.f("fk_mandated_report_recorded_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["screening_id"],
            ["screening.id"],
            name=op.f("fk_mandated_report_screening_id_screening"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mandated_report")),
        sa.UniqueConstraint("public_id", name=op.f("uq_mandated_report_public_id")),
    )
    with op.batch_alter_table("mandated_report", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mandated_report_agency_made", ["agency_id", "made_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mandated_report_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "risk_screen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=True),
        sa.Column("identified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("screened_by_id", sa.Integer(), nullable=True),
        sa.Column("first_plan_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("notes_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_risk_screen_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_risk_screen_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["screened_by_id"],
            ["staff_user.id"],
            name=op.f("fk_risk_screen_screened_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["screening_id"], ["screening.id"], name=op.f("fk_risk_screen_screening_id_screening")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_screen")),
        sa.UniqueConstraint("public_id", name=op.f("uq_risk_screen_public_id")),
    )
    with op.batch_alter_table("risk_screen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_screen_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_screen_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            "ix_risk_screen_open", ["agency_id", "done_at", "due_at"], unique=False
        )

    op.create_table(
        "screening_amendment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("change_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["staff_user.id"], name=op.f("fk_screening_amendment_by_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["screening_id"],
            ["screening.id"],
            name=op.f("fk_screening_amendment_screening_id_screening"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_amendment")),
    )
    with op.batch_alter_table("screening_amendment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_screening_amendment_screening_id"), ["screening_id"], unique=False
        )

    op.create_table(
        "risk_screen_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("risk_screen_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("content_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_screen_id"],
            ["risk_screen.id"],
            name=op.f("fk_risk_screen_person_risk_screen_id_risk_screen"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_screen_person")),
        sa.UniqueConstraint("public_id", name=op.f("uq_risk_screen_person_public_id")),
    )
    with op.batch_alter_table("risk_screen_person", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_screen_person_risk_screen_id"), ["risk_screen_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("risk_screen_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_screen_person_risk_screen_id"))

    op.drop_table("risk_screen_person")
    with op.batch_alter_table("screening_amendment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screening_amendment_screening_id"))

    op.drop_table("screening_amendment")
    with op.batch_alter_table("risk_screen", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_screen_open")
        batch_op.drop_index(batch_op.f("ix_risk_screen_client_id"))
        batch_op.drop_index(batch_op.f("ix_risk_screen_agency_id"))

    op.drop_table("risk_screen")
    with op.batch_alter_table("mandated_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mandated_report_client_id"))
        batch_op.drop_index("ix_mandated_report_agency_made")

    op.drop_table("mandated_report")
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screening_client_id"))
        batch_op.drop_index("ix_screening_agency_status")
        batch_op.drop_index(batch_op.f("ix_screening_agency_id"))
        batch_op.drop_index("ix_screening_agency_concern")

    op.drop_table("screening")
    with op.batch_alter_table("safety_plan_state", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_plan_state_review")

    op.drop_table("safety_plan_state")
