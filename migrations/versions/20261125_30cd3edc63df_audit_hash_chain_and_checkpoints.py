"""audit hash chain (seq, prev_hash, entry_hash per log), log heads and signed checkpoints

Entries written before this revision are chained here, per log in id order, with the
same content rule as portal/audit/chain.py at this revision (copied, not imported: a
migration must not change when the application code does).

Revision ID: 30cd3edc63df
Revises: 7d7df4194858
Create Date: 2026-11-25 13:17:22.065950
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC

import rfc8785
import sqlalchemy as sa
from alembic import op

revision: str = "30cd3edc63df"
down_revision: str | None = "7d7df4194858"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
NODE_LOG = "node"
HASHED_FIELDS = (
    "agency_id",
    "log_key",
    "seq",
    "prev_hash",
    "tag",
    "at",
    "actor_user_id",
    "actor_agency_id",
    "actor_role",
    "subject",
    "detail",
    "client_address",
    "case_ref",
    "client_id",
    "section_key",
    "purpose",
    "decision",
    "gate",
    "release_ref",
    "policy_rule",
)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_key", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_audit_checkpoint_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
        sa.UniqueConstraint("log_key", "seq", name=op.f("uq_audit_checkpoint_log_key_seq")),
    )
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_checkpoint_agency_id"), ["agency_id"], unique=False
        )

    op.create_table(
        "audit_head",
        sa.Column("log_key", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_audit_head_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("log_key", name=op.f("pk_audit_head")),
        sa.UniqueConstraint("agency_id", name=op.f("uq_audit_head_agency_id")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_key", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))

    _chain_existing_entries()

    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.alter_column("log_key", existing_type=sa.String(length=36), nullable=False)
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_audit_entry_log_key_seq"), ["log_key", "seq"]
        )


def _chain_existing_entries() -> None:
    connection = op.get_bind()
    agency = sa.table("agency", sa.column("id", sa.Integer), sa.column("public_id", sa.String))
    entry = sa.table(
        "audit_entry",
        sa.column("id", sa.Integer),
        *(
            sa.column(name, sa.DateTime(timezone=True) if name == "at" else sa.String)
            for name in HASHED_FIELDS
            if name not in ("log_key", "seq", "prev_hash")
        ),
        sa.column("log_key", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("prev_hash", sa.String),
        sa.column("entry_hash", sa.String),
    )
    head = sa.table(
        "audit_head",
        sa.column("log_key", sa.String),
        sa.column("agency_id", sa.Integer),
        sa.column("last_seq", sa.Integer),
        sa.column("last_hash", sa.String),
        sa.column("checkpoint_seq", sa.Integer),
    )
    public_ids = dict(connection.execute(sa.select(agency.c.id, agency.c.public_id)).all())
    heads: dict = {}
    rows = connection.execute(sa.select(entry).order_by(entry.c.id)).mappings().all()
    for row in rows:
        agency_id = row["agency_id"]
        log_key = NODE_LOG if agency_id is None else public_ids[int(agency_id)]
        seq, prev_hash = heads.get(log_key, (0, GENESIS_HASH, agency_id))[:2]
        content = {name: row[name] for name in HASHED_FIELDS}
        content.update(log_key=log_key, seq=seq + 1, prev_hash=prev_hash)
        for name in ("agency_id", "actor_user_id", "actor_agency_id", "client_id"):
            content[name] = None if content[name] is None else int(content[name])
        at = content["at"]
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        content["at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        digest = hashlib.sha256(rfc8785.dumps(content)).hexdigest()
        connection.execute(
            entry.update()
            .where(entry.c.id == row["id"])
            .values(log_key=log_key, seq=seq + 1, prev_hash=prev_hash, entry_hash=digest)
        )
        heads[log_key] = (seq + 1, digest, agency_id)
    for log_key, (seq, digest, agency_id) in heads.items():
        connection.execute(
            head.insert().values(
                log_key=log_key,
                agency_id=None if agency_id is None else int(agency_id),
                last_seq=seq,
                last_hash=digest,
                checkpoint_seq=0,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_entry_log_key_seq"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("log_key")

    op.drop_table("audit_head")
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoint_agency_id"))

    op.drop_table("audit_checkpoint")
