"""attachment metadata of cached bugs

Revision ID: 0002_attachments
Revises: 0001_initial
Create Date: 2026-12-01 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_attachments"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bug_attachments",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bug_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("creator", sa.String(length=255), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_patch", sa.Boolean(), nullable=False),
        sa.Column("is_obsolete", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bug_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bug_attachments_bug_id"), ["bug_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bug_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bug_attachments_bug_id"))
    op.drop_table("bug_attachments")
