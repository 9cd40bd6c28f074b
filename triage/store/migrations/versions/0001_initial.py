"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 01:15:55.150701
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "bugs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("component", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("resolution", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(length=255), nullable=False),
        sa.Column("assigned_to", sa.String(length=255), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_change_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unavailable_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bugs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bugs_is_open"), ["is_open"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bugs_last_change_time"), ["last_change_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bugs_product"), ["product"], unique=False)
        batch_op.create_index(batch_op.f("ix_bugs_status"), ["status"], unique=False)

    op.create_table(
        "checkpoints",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "ci_builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buildbot_build_id", sa.Integer(), nullable=False),
        sa.Column("master", sa.String(length=255), nullable=False),
        sa.Column("cell", sa.String(length=255), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("master", "buildbot_build_id"),
    )
    with op.batch_alter_table("ci_builds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ci_builds_cell"), ["cell"], unique=False)

    op.create_table(
        "ci_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("first_line", sa.Text(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("bug_id", sa.Integer(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_commented", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signature"),
    )
    op.create_table(
        "digests",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=True),
        sa.Column("uid", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bug_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("raw_path", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_messages_bug_id"), ["bug_id"], unique=False)

    op.create_table(
        "nag_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bug_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("action_key", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nag_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_nag_bug_person", ["bug_id", "person"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("production", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "triage_queue",
        sa.Column("bug_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bug_id"),
    )
    op.create_table(
        "triage_states",
        sa.Column("bug_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("organisation", sa.String(length=255), nullable=False),
        sa.Column("fix_reference", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bug_id"),
    )
    with op.batch_alter_table("triage_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_states_state"), ["state"], unique=False)

    op.create_table(
        "actions",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("bug_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("marker", sa.String(length=255), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actions_bug_id"), ["bug_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_status"), ["status"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("bug_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_bug_id"), ["bug_id"], unique=False)

    op.create_table(
        "mail_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bug_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["mail_messages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_events_bug_id"), ["bug_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_events_consumed_at"), ["consumed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_events_message_id"), ["message_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_events_message_id"))
        batch_op.drop_index(batch_op.f("ix_mail_events_consumed_at"))
        batch_op.drop_index(batch_op.f("ix_mail_events_bug_id"))

    op.drop_table("mail_events")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_bug_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actions_status"))
        batch_op.drop_index(batch_op.f("ix_actions_bug_id"))

    op.drop_table("actions")
    with op.batch_alter_table("triage_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_states_state"))

    op.drop_table("triage_states")
    op.drop_table("triage_queue")
    op.drop_table("runs")
    with op.batch_alter_table("nag_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_nag_bug_person")

    op.drop_table("nag_ledger")
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_messages_bug_id"))

    op.drop_table("mail_messages")
    op.drop_table("digests")
    op.drop_table("ci_failures")
    with op.batch_alter_table("ci_builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ci_builds_cell"))

    op.drop_table("ci_builds")
    op.drop_table("checkpoints")
    with op.batch_alter_table("bugs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bugs_status"))
        batch_op.drop_index(batch_op.f("ix_bugs_product"))
        batch_op.drop_index(batch_op.f("ix_bugs_last_change_time"))
        batch_op.drop_index(batch_op.f("ix_bugs_is_open"))

    op.drop_table("bugs")
