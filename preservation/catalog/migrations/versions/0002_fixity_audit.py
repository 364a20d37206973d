"""storage copies remember their last fixity audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("storage_copies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_check_outcome", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_storage_copies_last_checked_at"), ["last_checked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("storage_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_copies_last_checked_at"))
        batch_op.drop_column("last_check_outcome")
        batch_op.drop_column("last_checked_at")
