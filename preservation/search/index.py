"""The search index inside the catalog database: SQLite FTS5 by default, PostgreSQL full-text search there.

Both engines are handed the same folded words (:mod:`preservation.search.fold`) and the same parsed query
(:mod:`preservation.search.query`), so they find the same AIPs; only the scores differ in scale (bm25 on
SQLite, ``ts_rank`` on PostgreSQL, both weighting a title match highest).

Tables (migration 0009): ``search_docs`` holds one row an AIP with what is shown and faceted (title,
agency, year, record type, maintenance) and what access is judged by (regime, embargo date); on SQLite
an FTS5 table ``search_fts`` (rowid = ``search_docs.id``) holds the folded text by column, on PostgreSQL
three cumulative ``tsvector`` columns of ``search_docs`` with GIN indexes hold it by audience (what a
reader may search; plus personal fields for archivists; plus declared sizes for administrators), so each
role's query uses an index and cannot match a field it may not read.

Access is filtered inside the query with the rules of ``packages.access.may_see`` (readers: public and
not embargoed; archivists: not confidential), so totals and pages are right without loading every AIP;
:mod:`preservation.aip_views` judges the AIPs of a page again with ``visible`` before showing them.

Kept in step by the catalog itself (``Catalog`` calls :func:`index_changes` after every ORM flush that
added, changed or deleted an ``Aip``, in the same transaction: decision 0027); :func:`reindex` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, text

from preservation.search.document import Document, of_aip
from preservation.search.fold import folded_text
from preservation.search.query import ParsedQuery, Term, parse

if TYPE_CHECKING:
    from preservation.catalog import Catalog

FACETS = ("agency", "year", "record_type", "maintenance")
FACET_LIMIT = 20
BATCH = 1000
# the second read of a search (its counts) runs here while the caller's thread reads the page: one thread,
# made on first use, shared by every search of the process
_READERS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kho-search")
DOC_COLUMNS = ("aip_id", "title", "agency", "file_code", "year", "record_type", "maintenance", "access",
               "embargo_until", "stored_at", "text")
# FTS5 columns searched by each role (cumulative, as the tsvectors on PostgreSQL)
READER_COLUMNS = ("title", "agency", "filecode", "meta", "body")
ROLE_COLUMNS = {"reader": READER_COLUMNS, "archivist": (*READER_COLUMNS, "personal"),
                "administrator": (*READER_COLUMNS, "personal", "sizes")}
# PostgreSQL: the weight a field query is restricted to (title A, agency B, codes C, the rest D)
WEIGHTS = {"title": "A", "agency": "B", "filecode": "C"}


@dataclass(frozen=True)
class Hit:
    aip_id: str
    title: str
    agency: str
    file_code: str
    year: int | None
    score: float


Facets = dict[str, list[tuple[str, int]]]


@dataclass
class SearchResult:
    total: int
    hits: list[Hit]
    facets: Facets = field(default_factory=dict)


class SearchIndex(Protocol):
    """What the API, the CLI and the benchmark ask of an index, whichever engine holds it."""

    def search(self, query: str | ParsedQuery, *, role: str = "reader", on: date | None = None, limit: int = 20,
               offset: int = 0, facets: bool = False) -> SearchResult: ...

    def matching_ids(self, query: str | ParsedQuery, *, role: str, on: date) -> list[str]: ...

    def reindex(self, aip_ids: Iterable[str] | None = None) -> int: ...

    def set_text(self, aip_id: str, record_text: str) -> None: ...


def _role_filter(role: str, on: date, params: dict[str, Any]) -> str:
    """``may_see`` in SQL, over ``search_docs d``: what ``role`` may know exists on the date ``on``."""
    if role == "administrator":
        return "1=1"
    if role == "archivist":
        return "d.access <> 'confidential'"
    if role != "reader":
        raise ValueError(f"unknown role {role!r}")
    params["on"] = on.isoformat()
    return "d.access = 'public' AND (d.embargo_until IS NULL OR d.embargo_until <= :on)"


class _Index:
    """What both engines share: the role and year filters, facets, paging; the subclass matches text."""

    dialect = ""
    parallel = True  # search's two reads at once (see search)

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- matching (per engine) --
    def _match(self, parsed: ParsedQuery, role: str, params: dict[str, Any]) -> tuple[str, str, str]:
        """(FROM clause over ``search_docs d``, WHERE fragment, score expression; higher is better)."""
        raise NotImplementedError

    @staticmethod
    def write(connection: Connection, docs: Sequence[Document]) -> None:
        raise NotImplementedError

    @staticmethod
    def remove(connection: Connection, aip_ids: Sequence[str]) -> None:
        raise NotImplementedError

    # -- shared --
    def _where(self, query: str | ParsedQuery, role: str, on: date | None) -> tuple[str, str, str, dict[str, Any]]:
        parsed = parse(query) if isinstance(query, str) else query
        params: dict[str, Any] = {}
        source, match, score = self._match(parsed, role, params)
        where = [match, _role_filter(role, on or datetime.now(UTC).date(), params)]
        if parsed.years:
            # with words, unary + keeps SQLite from driving the plan by year and running MATCH per row (1.5 s
            # at 100,000 records, bench/search.py); alone, the year's index is the plan
            where.append("+d.year = :year" if parsed.terms else "d.year = :year")
            params["year"] = parsed.years[0]
        return source, " AND ".join(where), score, params

    def search(self, query: str | ParsedQuery, *, role: str = "reader", on: date | None = None, limit: int = 20,
               offset: int = 0, facets: bool = False) -> SearchResult:
        """The best ``limit`` matches after ``offset`` (score, then oldest first), the total, and facet counts
        over the whole matching set when ``facets``.

        Two independent reads (bench/search.py, decision 0027): the page (every match scored, the best kept)
        and the counts (one GROUP BY over the four facet columns: the total and each facet are sums of its
        rows). On a file or server database they run at once on two connections — each is about half of a
        broad query's time (a word in 38,000 of 100,000 records) and the server has cores to spare for one
        query; the two may see different snapshots if an ingest commits between them, which a search page
        can live with. The temporary table of matches they replaced cost as much as both together."""
        source, where, score, params = self._where(query, role, on)
        page_sql = text(
            f"SELECT d.aip_id, d.title, d.agency, d.file_code, d.year, {score} AS score FROM {source} "  # noqa: S608 - fixed identifiers; values are bound
            f"WHERE {where} ORDER BY score DESC, d.stored_at, d.aip_id LIMIT :limit OFFSET :offset")
        columns = ", ".join(f"d.{name}" for name in FACETS)  # a fixed list of column names
        counts_sql = text(f"SELECT {columns}, count(*) AS n FROM {source} WHERE {where} GROUP BY {columns}"  # noqa: S608 - fixed identifiers; values are bound
                          if facets else f"SELECT count(*) FROM {source} WHERE {where}")  # noqa: S608

        def read(statement: Any, values: dict[str, Any]) -> list[Any]:
            with self.catalog.engine.connect() as connection:
                try:
                    return list(connection.execute(statement, values).all())
                finally:
                    connection.rollback()

        page_params = {**params, "limit": limit, "offset": offset}
        if self._parallel():
            counting = _READERS.submit(read, counts_sql, params)
            rows = read(page_sql, page_params)
            counted_rows = counting.result()
        else:
            rows, counted_rows = read(page_sql, page_params), read(counts_sql, params)
        counted: Facets = {}
        if facets:
            total = sum(int(row[-1]) for row in counted_rows)
            for position, name in enumerate(FACETS):
                tally: dict[Any, int] = {}
                for row in counted_rows:
                    tally[row[position]] = tally.get(row[position], 0) + int(row[-1])
                # most first, then by value (no value first), the same on both engines
                best = sorted(tally.items(), key=lambda item: (-item[1], item[0] is not None, item[0]))
                counted[name] = [(str(value) if value is not None else "", count)
                                 for value, count in best[:FACET_LIMIT]]
        else:
            total = int(counted_rows[0][0])
        hits = [Hit(r.aip_id, r.title or "", r.agency or "", r.file_code or "", r.year, round(float(r.score), 6))
                for r in rows]
        return SearchResult(total, hits, counted)

    def _parallel(self) -> bool:
        """Whether the two reads of :meth:`search` may run at once: not on an in-memory SQLite database (one
        connection, or none shared), nor when ``parallel`` is off (the benchmark's one-connection baseline)."""
        url = self.catalog.engine.url
        return self.parallel and (url.get_backend_name() != "sqlite" or (url.database or ":memory:") != ":memory:")
    def matching_ids(self, query: str | ParsedQuery, *, role: str, on: date) -> list[str]:
        """Every AIP ``role`` may see that matches, oldest first (the API's page order since before search)."""
        source, where, _score, params = self._where(query, role, on)
        with self.catalog.engine.connect() as connection:
            return list(connection.execute(
                text(f"SELECT d.aip_id FROM {source} WHERE {where} ORDER BY d.stored_at, d.aip_id"), params).scalars())  # noqa: S608 - fixed identifiers; values are bound

    def reindex(self, aip_ids: Iterable[str] | None = None) -> int:
        """Rebuild the entries of ``aip_ids`` (all AIPs when None) from the catalog; returns how many AIPs
        are indexed. Idempotent; disposed and missing AIPs lose their entry; record text set by
        :meth:`set_text` is kept."""
        from sqlalchemy import select

        from preservation.catalog import Aip

        wanted = None if aip_ids is None else list(dict.fromkeys(aip_ids))
        indexed = 0
        with self.catalog.session() as session:
            connection = session.connection()
            if wanted is None:
                stale = set(connection.execute(text("SELECT aip_id FROM search_docs")).scalars())
                query = select(Aip).execution_options(yield_per=BATCH)
            else:
                stale = set(wanted)
                query = select(Aip).where(Aip.id.in_(wanted))
            batch: list[Document] = []
            for aip in session.scalars(query):
                if aip.deleted_at is None:
                    stale.discard(aip.id)
                    batch.append(of_aip(aip))
                if len(batch) >= BATCH:
                    self.write(connection, batch)
                    indexed += len(batch)
                    batch = []
            self.write(connection, batch)
            indexed += len(batch)
            self.remove(connection, sorted(stale))
        return indexed

    def set_text(self, aip_id: str, record_text: str) -> None:
        """The text of the AIP's records (extracted from PDFs and office files, or OCR), searched with its
        metadata. The caller gives only text its dossier's readers may read (decision 0027)."""
        with self.catalog.session() as session:
            session.connection().execute(text("UPDATE search_docs SET text = :t WHERE aip_id = :a"),
                                         {"t": record_text, "a": aip_id})
        self.reindex([aip_id])


def _existing_text(connection: Connection, aip_ids: Sequence[str], key: str) -> dict[str, tuple[Any, str]]:
    found: dict[str, tuple[Any, str]] = {}
    for start in range(0, len(aip_ids), 500):
        chunk = list(aip_ids[start:start + 500])
        names = ", ".join(f":a{i}" for i in range(len(chunk)))
        rows = connection.execute(text(f"SELECT aip_id, {key}, text FROM search_docs WHERE aip_id IN ({names})"),  # noqa: S608 - fixed identifiers; values are bound
                                  {f"a{i}": a for i, a in enumerate(chunk)}).all()
        found.update({r[0]: (r[1], r[2] or "") for r in rows})
    return found


def _doc_row(doc: Document, record_text: str) -> dict[str, Any]:
    return {"aip_id": doc.aip_id, "title": doc.title, "agency": doc.agency, "file_code": doc.file_code,
            "year": doc.year, "record_type": doc.record_type, "maintenance": doc.maintenance, "access": doc.access,
            "embargo_until": doc.embargo_until, "stored_at": doc.stored_at, "text": record_text}


def _phrase(words: Sequence[str]) -> str:
    return '"' + " ".join(words) + '"'  # FTS5 string: words are letters and digits only (query.py)


class SqliteFts5Index(_Index):
    dialect = "sqlite"

    def _match(self, parsed: ParsedQuery, role: str, params: dict[str, Any]) -> tuple[str, str, str]:
        if not parsed.terms:
            return "search_docs d", "1=1", "0.0"
        allowed = "{" + " ".join(ROLE_COLUMNS[role]) + "}"
        parts = [f"{term.column} : {_phrase(term.words)}" if term.column else f"{allowed} : {_phrase(term.words)}"
                 for term in parsed.terms]
        params["match"] = " AND ".join(parts)
        # bm25 is lower for better matches; weights by column as declared: title, agency, filecode, meta…
        return ("search_fts JOIN search_docs d ON d.id = search_fts.rowid", "search_fts MATCH :match",
                "-bm25(search_fts, 10.0, 4.0, 4.0, 1.0, 1.0, 1.0, 1.0)")

    @staticmethod
    def write(connection: Connection, docs: Sequence[Document]) -> None:
        """Replace the entries of ``docs``: ids are reused so FTS5 and ``search_docs`` stay joined by rowid;
        the caller holds the write lock (every writing catalog session is BEGIN IMMEDIATE)."""
        if not docs:
            return
        existing = _existing_text(connection, [d.aip_id for d in docs], "id")
        next_id = int(connection.execute(text("SELECT coalesce(max(id), 0) FROM search_docs")).scalar_one()) + 1
        old = [{"id": v[0]} for v in existing.values()]
        if old:
            connection.execute(text("DELETE FROM search_fts WHERE rowid = :id"), old)
            connection.execute(text("DELETE FROM search_docs WHERE id = :id"), old)
        rows, texts = [], []
        for doc in docs:
            row_id, record_text = existing.get(doc.aip_id, (None, ""))
            if row_id is None:
                row_id, next_id = next_id, next_id + 1
            rows.append({"id": row_id, **_doc_row(doc, record_text)})
            texts.append({"id": row_id, "title": doc.f_title, "agency": doc.f_agency, "filecode": doc.f_filecode,
                          "meta": doc.f_meta, "body": folded_text(record_text), "personal": doc.f_personal,
                          "sizes": doc.f_sizes})
        connection.execute(text(f"INSERT INTO search_docs (id, {', '.join(DOC_COLUMNS)}) "  # noqa: S608 - fixed identifiers; values are bound
                                f"VALUES (:id, {', '.join(':' + c for c in DOC_COLUMNS)})"), rows)
        connection.execute(text("INSERT INTO search_fts (rowid, title, agency, filecode, meta, body, personal, sizes) "
                                "VALUES (:id, :title, :agency, :filecode, :meta, :body, :personal, :sizes)"), texts)

    @staticmethod
    def remove(connection: Connection, aip_ids: Sequence[str]) -> None:
        gone = [{"id": v[0]} for v in _existing_text(connection, aip_ids, "id").values()]
        if gone:
            connection.execute(text("DELETE FROM search_fts WHERE rowid = :id"), gone)
            connection.execute(text("DELETE FROM search_docs WHERE id = :id"), gone)


def _tsquery(term: Term) -> str:
    weight = f":{WEIGHTS[term.column]}" if term.column else ""
    lexemes = [f"'{w}'{weight}" for w in term.words]  # words are letters and digits only (query.py)
    return "(" + " <-> ".join(lexemes) + ")" if term.phrase else lexemes[0]


TSV = {"reader": "d.tsv_reader", "archivist": "d.tsv_staff", "administrator": "d.tsv_admin"}
_PUBLIC_TSV = ("setweight(to_tsvector('simple', :f_title), 'A') || setweight(to_tsvector('simple', :f_agency), 'B')"
               " || setweight(to_tsvector('simple', :f_filecode), 'C')"
               " || setweight(to_tsvector('simple', :f_meta), 'D')"
               " || setweight(to_tsvector('simple', :f_body), 'D')")
_PERSONAL_TSV = "setweight(to_tsvector('simple', :f_personal), 'D')"
_SIZES_TSV = "setweight(to_tsvector('simple', :f_sizes), 'D')"


class PostgresIndex(_Index):
    dialect = "postgresql"

    def _match(self, parsed: ParsedQuery, role: str, params: dict[str, Any]) -> tuple[str, str, str]:
        if not parsed.terms:
            return "search_docs d", "1=1", "0.0"
        column = TSV[role]
        params["tsq"] = " & ".join(_tsquery(t) for t in parsed.terms)
        # ts_rank's default weights {D 0.1, C 0.2, B 0.4, A 1.0}: a title match first, as bm25's on SQLite
        return ("search_docs d", f"{column} @@ to_tsquery('simple', :tsq)",
                f"ts_rank({column}, to_tsquery('simple', :tsq))")

    @staticmethod
    def write(connection: Connection, docs: Sequence[Document]) -> None:
        if not docs:
            return
        existing = _existing_text(connection, [d.aip_id for d in docs], "aip_id")
        rows = []
        for doc in docs:
            record_text = existing.get(doc.aip_id, (None, ""))[1]
            rows.append({**_doc_row(doc, record_text), "f_title": doc.f_title, "f_agency": doc.f_agency,
                         "f_filecode": doc.f_filecode, "f_meta": doc.f_meta, "f_body": folded_text(record_text),
                         "f_personal": doc.f_personal, "f_sizes": doc.f_sizes})
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*DOC_COLUMNS[1:], "tsv_reader", "tsv_staff", "tsv_admin"))
        connection.execute(text(
            f"INSERT INTO search_docs ({', '.join(DOC_COLUMNS)}, tsv_reader, tsv_staff, tsv_admin) "  # noqa: S608 - fixed identifiers; values are bound
            f"VALUES ({', '.join(':' + c for c in DOC_COLUMNS)}, {_PUBLIC_TSV}, {_PUBLIC_TSV} || {_PERSONAL_TSV}, "
            f"{_PUBLIC_TSV} || {_PERSONAL_TSV} || {_SIZES_TSV}) ON CONFLICT (aip_id) DO UPDATE SET {updates}"), rows)

    @staticmethod
    def remove(connection: Connection, aip_ids: Sequence[str]) -> None:
        if aip_ids:
            connection.execute(text("DELETE FROM search_docs WHERE aip_id = :a"), [{"a": a} for a in aip_ids])


ENGINES: dict[str, type[_Index]] = {"sqlite": SqliteFts5Index, "postgresql": PostgresIndex}


def engine_for(dialect: str) -> type[_Index]:
    try:
        return ENGINES[dialect]
    except KeyError:
        raise ValueError(f"no search index for a {dialect} catalog (SQLite or PostgreSQL)") from None


def open_index(catalog: Catalog) -> _Index:
    """The index of ``catalog``, in its database's engine."""
    return engine_for(catalog.engine.dialect.name)(catalog)


def reindex(catalog: Catalog, aip_ids: Iterable[str] | None = None) -> int:
    """``kho search reindex``: rebuild the entries of ``aip_ids`` (every AIP when None)."""
    return open_index(catalog).reindex(aip_ids)


def set_text(catalog: Catalog, aip_id: str, record_text: str) -> None:
    """The hook for text extraction and OCR: the searchable text of one AIP's records."""
    open_index(catalog).set_text(aip_id, record_text)


def index_changes(connection: Connection, changed: Iterable[Any], removed: Iterable[str]) -> None:
    """Called by the catalog after a flush (same transaction): ``changed`` Aip rows are (re)indexed, or
    dropped once disposed of (``deleted_at`` set: the tombstone stays in the catalog, not in search);
    ``removed`` are the ids of deleted rows."""
    engine = engine_for(connection.dialect.name)
    docs, gone = [], list(removed)
    for aip in changed:
        if aip.deleted_at is None:
            docs.append(of_aip(aip))
        else:
            gone.append(aip.id)
    engine.write(connection, docs)
    engine.remove(connection, gone)


# -- the records' text (decision 0029) ---------------------------------------------------------------

_STRICTNESS = {"public": 0, "restricted": 1, "confidential": 2}


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def text_joins_dossier(dossier_mode: str, dossier_embargo: date | str | None, file_mode: str | None,
                       file_embargo: date | str | None) -> bool:
    """Whether a file's text may be searched as its dossier's: the file has no rule of its own, or one no
    stricter than the dossier's (mode, and an embargo that ends no later). A confidential or longer
    embargoed file in a public dossier keeps its text out of the index (it stays in the AIP)."""
    if not file_mode and file_embargo is None:
        return True
    if _STRICTNESS.get(file_mode or dossier_mode, 2) > _STRICTNESS.get(dossier_mode, 2):
        return False
    file_until, dossier_until = _as_date(file_embargo), _as_date(dossier_embargo)
    return file_until is None or (dossier_until is not None and file_until <= dossier_until)


def joined_text(parts: Iterable[str], limit: int) -> str:
    """The texts of an AIP's records as one searched text, at most ``limit`` characters."""
    out, size = [], 0
    for part in parts:
        if not part:
            continue
        if size + len(part) > limit:
            out.append(part[: max(0, limit - size)])
            break
        out.append(part)
        size += len(part) + 2
    return "\n\n".join(out)


def put_text(connection: Connection, aip: Any, record_text: str) -> None:
    """:func:`set_text` inside the caller's transaction, for an Aip row just flushed (the ingest's index
    step: the AIP and its text are catalogued together or not at all)."""
    connection.execute(text("UPDATE search_docs SET text = :t WHERE aip_id = :a"), {"t": record_text, "a": aip.id})
    if aip.deleted_at is None:
        engine_for(connection.dialect.name).write(connection, [of_aip(aip)])
