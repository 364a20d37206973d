"""Kho identification of a list of files in a fresh process (today's code, its own memory).

``python -m bench.identify_worker --list FILE [--engine siegfried|fido] --mode serial|many [--profile N]``
prints one JSON object: ``engine`` (name, version, signatures), ``load_seconds`` (signatures),
``seconds`` and ``cpu_seconds`` of the identification alone (CPU of this process, all its threads, and
the children it reaped: forkserver workers are not among them), ``puids`` and ``mimes`` in list order,
``methods``, ``peak_rss_mb`` and, with ``--profile``, the top functions. ``serial`` uses one warm
``Identifier``, one file at a time; ``many`` uses the product's ``identify_many`` (Siegfried: its Go
workers in this process; FIDO: a process pool, start-up and per-worker signature load included).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb
from bench.kho_timed import top_functions


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def identify_all(paths: list[str], mode: str, engine: str) -> list[tuple[str | None, str | None, str]]:
    from format_registry import identify as module

    if mode == "serial":
        identifier = module.shared_identifier(engine)
        found = [identifier.identify(p) for p in paths]
    else:
        found = module.identify_many([Path(p) for p in paths], engine=engine)
    return [(f.puid, f.mime, f.method) for f in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, required=True, help="file with one path per line")
    parser.add_argument("--mode", choices=["serial", "many"], default="serial")
    parser.add_argument("--engine", choices=["siegfried", "fido"], help="default: Kho's default engine")
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args(argv)
    paths = args.list.read_text(encoding="utf-8").splitlines()
    from format_registry.identify import DEFAULT_ENGINE, shared_identifier

    args.engine = args.engine or DEFAULT_ENGINE
    started = time.perf_counter()
    info = shared_identifier(args.engine).info  # loaded before timing (identify_many reuses it)
    load_seconds = time.perf_counter() - started
    profile = cProfile.Profile() if args.profile else None
    cpu, children = time.process_time(), _children_cpu()
    started = time.perf_counter()
    if profile:
        profile.enable()
    found = identify_all(paths, args.mode, args.engine)
    if profile:
        profile.disable()
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "mode": args.mode,
        "engine": info.to_dict(),
        "files": len(paths),
        "load_seconds": load_seconds,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu + _children_cpu() - children,
        "puids": [puid for puid, _mime, _method in found],
        "mimes": [mime for _puid, mime, _method in found],
        "methods": dict(Counter(method for _puid, _mime, method in found)),
        "peak_rss_mb": peak_rss_mb(),
    }
    if profile:
        report["profile_tottime"] = top_functions(profile, "tottime", args.profile)
        report["profile_cumtime"] = top_functions(profile, "cumulative", args.profile)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
