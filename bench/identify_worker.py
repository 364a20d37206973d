"""Kho identification of a list of files in a fresh process (today's code, its own memory).

``python -m bench.identify_worker --list FILE --mode serial|many [--profile N]`` prints one JSON
object: ``load_seconds`` (signatures), ``seconds`` and ``cpu_seconds`` of the identification
alone (CPU of this process and the children it reaped: forkserver workers are not among them),
``puids`` in list order, ``methods``, ``peak_rss_mb`` and, with ``--profile``, the top functions.
``serial`` uses one warm ``Identifier``; ``many`` uses the product's ``identify_many`` (its own
process pool, start-up and per-worker signature load included) or, where the product has none, a
2-process fork pool started after the load.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import resource
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb
from bench.kho_timed import top_functions


def _identify_one(path: str) -> tuple[str | None, str]:
    from format_registry.identify import shared_identifier

    found = shared_identifier().identify(path)
    return found.puid, found.method


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def identify_all(paths: list[str], mode: str) -> tuple[list[tuple[str | None, str]], str]:
    from format_registry import identify as module

    if mode == "serial":
        identifier = module.shared_identifier()
        return [(f.puid, f.method) for f in (identifier.identify(p) for p in paths)], "one process"
    many = getattr(module, "identify_many", None)
    if many is not None:
        return [(f.puid, f.method) for f in many([Path(p) for p in paths])], "format_registry.identify_many"
    module.shared_identifier()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_identify_one, paths, chunksize=32)), "bench fork pool (2 processes)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, required=True, help="file with one path per line")
    parser.add_argument("--mode", choices=["serial", "many"], default="serial")
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args(argv)
    paths = args.list.read_text(encoding="utf-8").splitlines()
    load_seconds = 0.0
    if args.mode == "serial":
        from format_registry.identify import shared_identifier

        started = time.perf_counter()
        shared_identifier()
        load_seconds = time.perf_counter() - started
    profile = cProfile.Profile() if args.profile else None
    cpu, children = time.process_time(), _children_cpu()
    started = time.perf_counter()
    if profile:
        profile.enable()
    found, how = identify_all(paths, args.mode)
    if profile:
        profile.disable()
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "mode": args.mode,
        "how": how,
        "files": len(paths),
        "load_seconds": load_seconds,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu + _children_cpu() - children,
        "puids": [puid for puid, _method in found],
        "methods": dict(Counter(method for _puid, method in found)),
        "peak_rss_mb": peak_rss_mb(),
    }
    if profile:
        report["profile_tottime"] = top_functions(profile, "tottime", args.profile)
        report["profile_cumtime"] = top_functions(profile, "cumulative", args.profile)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
