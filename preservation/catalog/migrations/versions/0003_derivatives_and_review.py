"""derivatives (representation, source) and AIPs flagged for review

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("needs_review", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("review_reasons", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_aips_needs_review"), ["needs_review"], unique=False)
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("representation", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("source_id")
        batch_op.drop_column("representation")
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aips_needs_review"))
        batch_op.drop_column("review_reasons")
        batch_op.drop_column("needs_review")
