"""the storage journal (decision 0018): how far events are journaled, which file rows are

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # no row yet means nothing journaled: the first flush of an existing catalog writes its whole history
    op.create_table(
        "journal_mark",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journaled_files", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.drop_column("journaled_files")
    op.drop_table("journal_mark")
