"""collections.mode (single | multi) and images.labels (a multi-label image's classes).

Revision ID: 0004_multilabel
Revises: 0003_loop_tables
Create Date: 2026-12-01 04:14:44.138605
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_multilabel"
down_revision = "0003_loop_tables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=10), server_default="single", nullable=False))

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("labels")

    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_column("mode")
