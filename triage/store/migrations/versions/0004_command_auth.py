"""command authentication: confirmation tokens and per-sender daily command counts

Revision ID: 0004_command_auth
Revises: 0002_attachments
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_command_auth"
down_revision: str | Sequence[str] | None = "0002_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=998), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("command_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_command_tokens_message_id"), ["message_id"],
                              unique=False)
    op.create_table(
        "command_counts",
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sender", "day"),
    )


def downgrade() -> None:
    op.drop_table("command_counts")
    with op.batch_alter_table("command_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_command_tokens_message_id"))
    op.drop_table("command_tokens")
