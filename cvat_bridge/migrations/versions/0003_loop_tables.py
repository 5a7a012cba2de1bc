"""The closed loop's tables: loops and their rounds (cvat_bridge/loops).

Revision ID: 0003_loop_tables
Revises: 0002_job_claim_token
Create Date: 2026-12-01 03:51:17.434073
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_loop_tables"
down_revision = "0002_job_claim_token"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("auto_tag_threshold", sa.Double(), nullable=False),
        sa.Column("auto_retrain", sa.Boolean(), nullable=False),
        sa.Column("auto_deploy", sa.Boolean(), nullable=False),
        sa.Column("deploy_margin", sa.Double(), nullable=False),
        sa.Column("review_done", sa.String(length=20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("webhook_note", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "loop_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loop_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("auto_tagged", sa.Integer(), nullable=False),
        sa.Column("selected", sa.JSON(), nullable=False),
        sa.Column("review_task_id", sa.Integer(), nullable=True),
        sa.Column("review_job_id", sa.Integer(), nullable=True),
        sa.Column("reviewed", sa.Integer(), nullable=True),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("new_model_id", sa.Integer(), nullable=True),
        sa.Column("old_accuracy", sa.Double(), nullable=True),
        sa.Column("new_accuracy", sa.Double(), nullable=True),
        sa.Column("compared_on", sa.Integer(), nullable=True),
        sa.Column("labelled", sa.Integer(), nullable=True),
        sa.Column("deployed_model_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loop_id"], ["loops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loop_id", "number"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("loop_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loop_rounds_loop_id"), ["loop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loop_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loop_rounds_loop_id"))

    op.drop_table("loop_rounds")
    op.drop_table("loops")
