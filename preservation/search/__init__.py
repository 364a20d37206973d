"""Full-text search over the catalog (issue #20 C, decision 0027).

One document per AIP (its TT 05 metadata and, later, the text of its records), kept in a search index
inside the catalog database: an FTS5 table on SQLite, ``tsvector`` columns with GIN indexes on PostgreSQL.
Matching is accent-insensitive (:mod:`preservation.search.fold`); queries are parsed by
:mod:`preservation.search.query` and never pasted into SQL; :mod:`preservation.search.index` answers them.
"""

from preservation.search.fold import fold, words
from preservation.search.index import (
    Facets,
    Hit,
    PostgresIndex,
    SearchIndex,
    SearchResult,
    SqliteFts5Index,
    open_index,
    reindex,
    set_text,
)
from preservation.search.query import ParsedQuery, QueryError, parse

__all__ = [
    "Facets", "Hit", "ParsedQuery", "PostgresIndex", "QueryError", "SearchIndex", "SearchResult",
    "SqliteFts5Index", "fold", "open_index", "parse", "reindex", "set_text", "words",
]  # fmt: skip
