"""the full-text search index (decision 0027): one document an AIP, SQLite FTS5 or PostgreSQL tsvector

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _docs_columns() -> list[sa.Column[Any]]:
    # no foreign key to aips: the index is derived, and must never stand in the way of a disposal or rebuild
    return [
        sa.Column("aip_id", sa.String(36), nullable=False, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("file_code", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True, index=True),
        sa.Column("record_type", sa.Text(), nullable=False),
        sa.Column("maintenance", sa.String(100), nullable=False),
        sa.Column("access", sa.String(20), nullable=False),
        sa.Column("embargo_until", sa.String(10), nullable=True),  # ISO date, compared as text
        sa.Column("stored_at", sa.String(40), nullable=False),  # ISO UTC: the API's page order
        sa.Column("text", sa.Text(), nullable=False, server_default=""),  # the records' text (set_text)
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import TSVECTOR

        vectors = ("tsv_reader", "tsv_staff", "tsv_admin")
        op.create_table("search_docs", *_docs_columns(),
                        *(sa.Column(name, TSVECTOR(), nullable=False) for name in vectors))
        for name in ("tsv_reader", "tsv_staff", "tsv_admin"):
            op.create_index(f"ix_search_docs_{name}", "search_docs", [name], postgresql_using="gin")
    else:
        op.create_table("search_docs", sa.Column("id", sa.Integer(), primary_key=True), *_docs_columns())
        # folded words (preservation.search.fold) by column; the tokenizer's own folding is a second net
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(title, agency, filecode, meta, body, personal, sizes, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
    op.create_index("ix_search_docs_stored_at", "search_docs", ["stored_at"])
    _backfill(bind)


def _backfill(bind: sa.Connection) -> None:
    """Index the AIPs already catalogued, so an upgraded catalog searches as a new one does."""
    from preservation.search.document import build
    from preservation.search.index import BATCH, engine_for

    engine = engine_for(bind.dialect.name)
    aips = sa.table("aips", sa.column("id"), sa.column("sip_name"), sa.column("title"), sa.column("bag_info", sa.JSON),
                    sa.column("access_mode"), sa.column("embargo_until"), sa.column("stored_at"),
                    sa.column("deleted_at"))
    batch = []
    for row in bind.execute(sa.select(aips).where(aips.c.deleted_at.is_(None))).mappings():
        batch.append(build(aip_id=row["id"], sip_name=row["sip_name"], title=row["title"], bag_info=row["bag_info"],
                           access_mode=row["access_mode"], embargo_until=row["embargo_until"],
                           stored_at=row["stored_at"]))
        if len(batch) >= BATCH:
            engine.write(bind, batch)
            batch = []
    engine.write(bind, batch)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE search_fts")
    op.drop_index("ix_search_docs_stored_at", table_name="search_docs")
    op.drop_table("search_docs")
