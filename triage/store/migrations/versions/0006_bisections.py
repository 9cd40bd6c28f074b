"""bisection: requests, their steps and outcomes (issue #17)

Revision ID: 0006_bisections
Revises: 0005_ci_linking
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_bisections"
down_revision: str | Sequence[str] | None = "0005_ci_linking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bisections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("cell", sa.String(length=255), nullable=False),
        sa.Column("old", sa.String(length=64), nullable=False),
        sa.Column("new", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=False),
        sa.Column("origin_signature", sa.String(length=255), nullable=False),
        sa.Column("origin_bug", sa.Integer(), nullable=True),
        sa.Column("flake_rate", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_new", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("reported_key", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "cell", "old", "new", "signature"),
    )
    with op.batch_alter_table("bisections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bisections_cell"), ["cell"], unique=False)
        batch_op.create_index(batch_op.f("ix_bisections_signature"), ["signature"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_bisections_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_bisections_day"), ["day"], unique=False)
    op.create_table(
        "bisection_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bisection_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["bisection_id"], ["bisections.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bisection_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bisection_steps_bisection_id"), ["bisection_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bisection_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bisection_steps_bisection_id"))
    op.drop_table("bisection_steps")
    with op.batch_alter_table("bisections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bisections_day"))
        batch_op.drop_index(batch_op.f("ix_bisections_state"))
        batch_op.drop_index(batch_op.f("ix_bisections_signature"))
        batch_op.drop_index(batch_op.f("ix_bisections_cell"))
    op.drop_table("bisections")
