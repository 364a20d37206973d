"""``kho harvest URL``, ``kho harvest --list``, ``kho union search TEXT``: the union catalogue (decision 0028).

``kho harvest`` pulls another repository's OAI-PMH records (e.g. an agency archive's Kho at ``/oai``) into
this Kho's ``harvested_records``; run again, it harvests only what changed since (``from``), and a run that
was interrupted continues from its saved resumptionToken. Exit codes: 0 harvested; 1 the harvest stopped (the
source could not be reached, refused, or sent something that is not OAI-PMH: the message says which, what
earlier pages wrote stays and the next run resumes); 2 usage (no URL, a bad --from).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Json, app, catalog, command, new_app, print_json
from preservation.config import Settings

union_app = new_app("the union catalogue of harvested records / mục lục liên hợp")
app.add_typer(union_app, name="union", help="the union catalogue of harvested records / mục lục liên hợp")


@command(app, "harvest",
         help="pull another repository's OAI-PMH records into the union catalogue (incremental, resumable) / "
              "thu thập biểu ghi OAI-PMH của kho khác")
def harvest(
    settings: Settings,
    url: Annotated[str | None, typer.Argument(metavar="URL", help="the OAI-PMH base URL, e.g. "
                                              "http://kho.so-noi-vu.example/oai")] = None,
    set_spec: Annotated[str | None, typer.Option("--set", metavar="SET", help="only this set (setSpec)")] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", metavar="DATE", help="records changed since (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ; default: "
                                       "since the last complete harvest of URL)")] = None,
    prefix: Annotated[str, typer.Option("--prefix", metavar="PREFIX", help="metadataPrefix")] = "oai_dc",
    list_sources: Annotated[bool, typer.Option("--list", help="the sources harvested, with their counts")] = False,
    as_json: Json = False,
) -> int:
    """One harvest of URL, or (``--list``) where every source stands."""
    from preservation import harvest as harvesting

    if list_sources:
        rows = harvesting.sources(catalog(settings))
        for row in rows:
            if as_json:
                print_json(row)
                continue
            where = row["url"] + (f" set={row['set']}" if row["set"] else "")
            state = "in progress / đang dở" if row["in_progress"] else f"next from / lần sau từ {row['next_from']}"
            print(f"{where}: {row['records']} records / biểu ghi, {row['deleted']} deleted / đã hủy; {state}"
                  + (f"; last error / lỗi gần nhất: {row['last_error']}" if row["last_error"] else ""))
        if not rows and not as_json:
            print("no source harvested yet / chưa thu thập nguồn nào")
        return EXIT_OK
    if not url:
        print("kho: harvest needs URL (or --list) / cần địa chỉ URL (hoặc --list)", file=sys.stderr)
        return EXIT_USAGE
    try:
        harvesting.check_url(url)
        harvesting.check_from(from_)
    except harvesting.HarvestError as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = harvesting.harvest(catalog(settings), url, set_spec=set_spec, from_=from_, prefix=prefix)
    except harvesting.HarvestError as exc:
        print(f"kho: harvest stopped / thu thập dừng lại: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(result.to_dict())
    else:
        print(f"{url}: {result.added} new / mới, {result.updated} changed / thay đổi, {result.deleted} deleted / "
              f"đã hủy ({result.pages} pages{', resumed / tiếp tục' if result.resumed else ''}); "
              f"{result.total} in the union catalogue / trong mục lục liên hợp")
    return EXIT_OK


@command(union_app, "search", help="search harvested titles and creators, accents ignored / tìm trong mục lục liên hợp")
def union_search(
    settings: Settings,
    text: Annotated[str, typer.Argument(metavar="TEXT")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    deleted: Annotated[bool, typer.Option("--deleted", help="include records deleted at their source")] = False,
    as_json: Json = False,
) -> int:
    from preservation.harvest import search

    for row in search(catalog(settings), text, limit=limit, include_deleted=deleted):
        if as_json:
            print_json(row)
        else:
            print(f"{row['identifier']}\t{row['title'] or ''}\t{row['creator'] or ''}\t{row['date'] or ''}"
                  + ("\t(deleted / đã hủy)" if row["deleted"] else ""))
    return EXIT_OK
