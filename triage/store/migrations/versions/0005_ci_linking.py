"""CI linking: class, title and details of a failure signature; the intake's replay ledger

Revision ID: 0005_ci_linking
Revises: 0004_command_auth
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ci_linking"
down_revision: str | Sequence[str] | None = "0004_command_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ci_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cls", sa.String(length=32), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=False,
                                      server_default="{}"))
    op.create_table(
        "ci_intake_seen",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("ci_intake_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ci_intake_seen_received_at"), ["received_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ci_intake_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ci_intake_seen_received_at"))
    op.drop_table("ci_intake_seen")
    with op.batch_alter_table("ci_failures", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("title")
        batch_op.drop_column("cls")
