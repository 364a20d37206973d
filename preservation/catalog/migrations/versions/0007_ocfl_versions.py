"""AIPs stored as OCFL objects: the committed head version, and where each file's bytes are

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL in both: an AIP of the layout before OCFL (<aip-id>/<path>); `kho storage upgrade` converts it
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ocfl_head", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("inventory_digests", sa.JSON(), nullable=True))
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_path", sa.Text(), nullable=True))
    with op.batch_alter_table("storage_copies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ocfl_head", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_copies", schema=None) as batch_op:
        batch_op.drop_column("ocfl_head")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("content_path")
    with op.batch_alter_table("aips", schema=None) as batch_op:
        batch_op.drop_column("inventory_digests")
        batch_op.drop_column("ocfl_head")
