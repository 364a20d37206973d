"""access regimes of AIPs and files (mode, embargo, legal basis)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_mode", sa.String(length=20), nullable=False,
                                      server_default="restricted"))
        batch_op.add_column(sa.Column("embargo_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("access_basis", sa.Text(), nullable=True))
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_mode", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("embargo_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("access_basis", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("files", "aips"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("access_basis")
            batch_op.drop_column("embargo_until")
            batch_op.drop_column("access_mode")
