"""the union catalogue (decision 0028): harvest_sources and harvested_records, for kho harvest

Revision ID: 0010
Revises: 0008 (to become 0009, the search index, when both branches are merged: one line)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("set_spec", sa.String(length=255), nullable=False),
        sa.Column("metadata_prefix", sa.String(length=100), nullable=False),
        sa.Column("repository_name", sa.Text(), nullable=True),
        sa.Column("granularity", sa.String(length=30), nullable=True),
        sa.Column("last_response_date", sa.String(length=30), nullable=True),
        sa.Column("resumption_token", sa.Text(), nullable=True),
        sa.Column("list_from", sa.String(length=30), nullable=True),
        sa.Column("list_started", sa.String(length=30), nullable=True),
        sa.Column("last_harvest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("url", "set_spec", "metadata_prefix"),
    )
    op.create_table(
        "harvested_records",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("identifier", sa.String(length=500), nullable=False),
        sa.Column("datestamp", sa.String(length=30), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("sets", sa.JSON(), nullable=False),
        sa.Column("metadata_prefix", sa.String(length=100), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("creator", sa.Text(), nullable=True),
        sa.Column("date", sa.String(length=100), nullable=True),
        sa.Column("dc_identifier", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=255), nullable=True),
        sa.Column("folded", sa.Text(), nullable=True),
        sa.Column("harvested_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "identifier"),
    )
    op.create_index("ix_harvested_records_source", "harvested_records", ["source"])
    op.create_index("ix_harvested_records_folded", "harvested_records", ["folded"])


def downgrade() -> None:
    op.drop_index("ix_harvested_records_folded", table_name="harvested_records")
    op.drop_index("ix_harvested_records_source", table_name="harvested_records")
    op.drop_table("harvested_records")
    op.drop_table("harvest_sources")
