"""``kho search QUERY [--json] [--facets] [--as ROLE] [--limit N]`` and ``kho search --reindex``: the catalog's
full-text index at the command line (decision 0027).

The operator runs Kho and sees everything, so results are ranked for the administrator by default;
``--as reader`` shows exactly what the reading room and the API would give a reader. ``--reindex``
rebuilds the index from the catalog (after ``kho catalog rebuild``, which writes rows the index does not
see, or to check it): idempotent.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated

import typer

from preservation.cli.base import EXIT_OK, EXIT_USAGE, Json, app, catalog, command, print_json
from preservation.config import Settings


class Role(StrEnum):
    reader = "reader"
    archivist = "archivist"
    administrator = "administrator"


@command(app, "search", help="full-text search: words, \"phrases\", title:/agency:/fileCode:/year: (accents optional)")
def search(
    settings: Settings,
    query: Annotated[str | None, typer.Argument(metavar="QUERY", help='e.g. khanh thanh "cửa hội" year:2024')] = None,
    as_json: Json = False,
    facets: Annotated[bool, typer.Option("--facets", help="counts by agency, year, record type, maintenance")] = False,
    role: Annotated[Role, typer.Option("--as", help="search as this role sees the records")] = Role.administrator,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    reindex: Annotated[bool, typer.Option("--reindex", help="rebuild the index from the catalog")] = False,
) -> int:
    from preservation.search import QueryError, open_index

    index = open_index(catalog(settings))
    if reindex:
        count = index.reindex()
        print_json({"reindexed": count}) if as_json else print(f"{count} AIPs indexed / đã lập chỉ mục")
        return EXIT_OK
    if query is None:
        print("kho search: give a QUERY or --reindex", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = index.search(query, role=role.value, limit=limit, offset=offset, facets=facets)
    except QueryError as exc:
        print(f"kho search: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        print_json({"total": result.total, "hits": [asdict(h) for h in result.hits],
                    **({"facets": {k: dict(v) for k, v in result.facets.items()}} if facets else {})})
        return EXIT_OK
    for hit in result.hits:
        print(f"{hit.score:8.3f}  {hit.aip_id}  {hit.year or '----'}  {hit.file_code or '-':<20}  {hit.title}")
    print(f"{result.total} found / tìm thấy")
    for name, counts in result.facets.items():
        print(f"{name}: " + ", ".join(f"{value or '-'} ({count})" for value, count in counts))
    return EXIT_OK
