"""``python -m bench NAME|all [--files N] [--gb G] [--runs R] [--seed S] [--profile] [--keep]``

Runs Kho's benchmarks side by side with their baselines, writes ``bench/results/<name>.json``
and prints a table. Benchmarks: identify, fixity, ingest, mets, largefile, storage, normalise,
signatures, ocr, cluster. With ``all``, ``--files``/``--gb`` override every benchmark's default size.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Any

from bench.common import RESULTS_DIR, machine_info, print_table

BENCHMARKS = {
    "identify": "Siegfried and FIDO engines vs the fido CLI: right answers on known files, files/s (real + 2,000)",
    "fixity": "hash_file over large files (--gb, default 1) and 20,000 small files vs openssl / sha256sum",
    "ingest": "kho ingest of a 2,000-file mixed SIP vs cat + openssl + identification (the floor)",
    "ingest_memory": "kho ingest peak RSS at 2,000 and 20,000 small files (--files) vs the identification engine alone",
    "mets": "write_aip_mets with embedded PREMIS for 1k, 10k, 100k files: seconds, peak RSS, validity",
    "largefile": "kho ingest of one large file (--gb, default 1): peak RSS, MB/s vs openssl",
    "storage": "S3Storage on a local moto endpoint vs boto3 upload_file/download_file; tar vs objects; RSS",
    "normalise": "DOCX -> PDF/A-2b documents/min: one LibreOffice per document vs one warm LibreOffice",
    "signatures": "kho ingest of signed PDFs vs the same PDFs unsigned; validate_file ms per signed PDF",
    "search": "full-text index at 100,000 records: build time, query p50/p95 (20 queries) vs the old scan",
    "ocr": "kho digitise OCR: CER of the Vietnamese text layer (pdftotext), clean/degraded, 200/300 dpi; pages/min",
    "cluster": "make cluster (CeleryExecutor): SIPs/h for 20 mixed SIPs with 2 workers vs 1; what limits it",
}


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    module = importlib.import_module(f"bench.{name}")
    print(f"== {name}: {BENCHMARKS[name]}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = module.run(files=args.files, gb=args.gb, runs=args.runs, seed=args.seed, profile=args.profile,
                        keep=args.keep)  # fmt: skip
    path = result.write()
    data = json.loads(path.read_text(encoding="utf-8"))
    print(f"   {name}: {time.perf_counter() - started:.1f} s, wrote {path}", file=sys.stderr, flush=True)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=[*BENCHMARKS, "all", "table"],
                        help="a benchmark, all of them, or 'table' to print the saved results")  # fmt: skip
    parser.add_argument("--files", type=int, help="corpus size in files (default: per benchmark)")
    parser.add_argument("--gb", type=float, help="data size in GB for fixity/largefile (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (>= 3)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed")
    parser.add_argument("--profile", action="store_true", help="add cProfile top functions (identify, ingest)")
    parser.add_argument("--keep", action="store_true", help="keep the /tmp scratch folders")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (figures are medians)")
    if args.name == "table":
        results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESULTS_DIR.glob("*.json"))]
        order = list(BENCHMARKS)
        results.sort(key=lambda r: order.index(r["benchmark"]) if r["benchmark"] in order else len(order))
    else:
        machine_info()  # once, before timing anything
        names = list(BENCHMARKS) if args.name == "all" else [args.name]
        results = [run_one(name, args) for name in names]
    print_table(results, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
