"""hand-over (transferred_at) and disposal tombstones (deleted_at, disposal decision)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transferred_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disposal", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.drop_column("disposal")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("transferred_at")
