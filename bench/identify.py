"""Identification: Kho's two engines (Siegfried, FIDO) side by side, the ``fido`` command line as baseline.

Two corpora, each with known answers (``bench/identify_truth.py``), so every tool is scored, not merely
compared with another tool:

- **real**: every file of ``../shared/corpora/formats/EXPECTED.tsv`` (the PUID and/or MIME type its
  source states) plus Kho's fixture SIP files (known by construction);
- **generated**: ``bench/corpus.py``'s mixed corpus (``--files``, default 2,000), known by construction
  with the version each file declares.

Kho runs in a fresh process per measurement (``bench.identify_worker``): one warm ``Identifier`` one file
at a time (signature load reported apart), and the product's ``identify_many`` (Siegfried: its own Go
workers inside the process; FIDO: a process pool, start-up included). The FIDO CLI runs as it is used,
``fido -q -recurse DIR`` (generated) or ``fido -q FILE...`` in batches of 1,000 (real files), start-up
included; its answer for a file is the first PUID it prints (and that row's MIME type).

Figures are medians of ``--runs`` runs. Accuracy figures carry the FIDO CLI's accuracy as baseline and
must be at least as good (ratio >= 1); speed figures keep issue #3's target (>= 10x the FIDO CLI).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench import corpus as corpus_mod
from bench.common import BIN, REPO, Figure, Result, Target, payload_files, run_batched, run_timed, temp_dir
from bench.identify_truth import Expected, by_construction, corpus_expected, find_corpora, fixture_expected, score

DEFAULT_FILES = 2000
ENGINES = ("siegfried", "fido")
SPEED_TARGET = Target("ratio_min", 10, ">= 10x FIDO CLI")
ACCURACY_TARGET = Target("ratio_min", 1.0, ">= FIDO CLI")
MAX_WRONG_LISTED = 40


def parse_fido(output: bytes) -> dict[str, list[tuple[str, str]]]:
    """``{path: [(puid, mime), ...]}`` from ``fido -q`` CSV (one line per match; KO lines have no PUID)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for row in csv.reader(io.StringIO(output.decode("utf-8", errors="replace"))):
        if len(row) < 9 or row[0] not in ("OK", "KO"):
            continue
        matches = found.setdefault(row[6], [])
        if row[0] == "OK" and row[2] and all(row[2] != p for p, _m in matches):
            matches.append((row[2], row[7]))
    return found


def kho_worker(path_list: Path, mode: str, profile: int = 0, engine: str | None = None) -> dict[str, Any]:
    """``bench.identify_worker`` in a fresh process (the product code as it is now); ``engine=None``: the
    default engine (``bench.ingest`` times the identification an ingest would do)."""
    argv = [sys.executable, "-m", "bench.identify_worker", "--list", str(path_list), "--mode", mode]
    if engine:
        argv += ["--engine", engine]
    if profile:
        argv += ["--profile", str(profile)]
    done = run_timed(argv, cwd=REPO).check()
    data: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return data


def fido_cli(paths: list[str], root: Path | None) -> tuple[float, float, dict[str, list[tuple[str, str]]]]:
    """Wall seconds, CPU seconds and answers of the FIDO CLI over ``root`` (recursive) or the files."""
    if root is not None:
        done = run_timed([BIN / "fido", "-q", "-recurse", root]).check()
        return done.seconds, done.cpu_seconds, parse_fido(done.stdout)
    batched = run_batched([str(BIN / "fido"), "-q"], paths, Path("/"))
    return batched.seconds, batched.cpu_seconds, parse_fido(batched.stdout)


def _answers(paths: list[str], data: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    return {p: (puid, mime) for p, puid, mime in zip(paths, data["puids"], data["mimes"], strict=True)}


def measure_corpus(label: str, expected: list[Expected], tmp: Path, runs: int, root: Path | None,
                   result: Result, default_engine: str) -> dict[str, Any]:  # fmt: skip
    """Every tool over one corpus, ``runs`` times; adds its figures to ``result``, returns the details."""
    paths = [e.path for e in expected]
    path_list = tmp / f"{label}-paths.txt"
    path_list.write_text("\n".join(paths) + "\n", encoding="utf-8")
    run_batched(["cat"], paths, Path("/"), capture=False)  # warm the page cache for every tool alike
    rates: dict[str, list[float]] = {f"{e} {m}": [] for e in ENGINES for m in ("serial", "many")}
    cpu_rates: dict[str, list[float]] = {e: [] for e in ENGINES}
    puid_pct: dict[str, list[float]] = {e: [] for e in (*ENGINES, "fido CLI")}
    mime_pct: dict[str, list[float]] = {e: [] for e in (*ENGINES, "fido CLI")}
    cli_rates, cli_cpu = [], []
    details: dict[str, Any] = {"files": len(paths), "engines": {}}
    for _run in range(runs):
        for engine in ENGINES:
            serial = kho_worker(path_list, "serial", engine=engine)
            many = kho_worker(path_list, "many", engine=engine)
            rates[f"{engine} serial"].append(len(paths) / serial["seconds"])
            rates[f"{engine} many"].append(len(paths) / many["seconds"])
            cpu_rates[engine].append(len(paths) / serial["cpu_seconds"])
            if (many["puids"], many["mimes"]) != (serial["puids"], serial["mimes"]):
                result.notes.append(f"{label}: {engine} identify_many gave other answers than one file at a time")
            found, wrong = score(expected, _answers(paths, serial))
            puid_pct[engine].append(found.puid_pct)
            mime_pct[engine].append(found.mime_pct)
            details["engines"][engine] = {
                "engine": serial["engine"]["description"], "score": found.to_dict(), "methods": serial["methods"],
                "load_seconds": round(serial["load_seconds"], 3),
                "peak_rss_mb": {"serial": round(serial["peak_rss_mb"], 1), "many": round(many["peak_rss_mb"], 1)},
                "wrong": wrong[:MAX_WRONG_LISTED], "wrong_count": len(wrong),
            }  # fmt: skip
        seconds, cpu, cli = fido_cli(paths, root)
        cli_rates.append(len(paths) / seconds)
        cli_cpu.append(len(paths) / cpu)
        first = {p: (cli[p][0] if cli.get(p) else (None, None)) for p in paths}
        found, wrong = score(expected, {p: (puid, mime or None) for p, (puid, mime) in first.items()})
        puid_pct["fido CLI"].append(found.puid_pct)
        mime_pct["fido CLI"].append(found.mime_pct)
        details["fido_cli"] = {
            "score": found.to_dict(), "wrong": wrong[:MAX_WRONG_LISTED], "wrong_count": len(wrong),
            "several_puids": sum(1 for p in paths if len(cli.get(p, [])) > 1),
            "not_reported": sum(1 for p in paths if p not in cli),
        }  # fmt: skip
    totals = score(expected, {})[0]
    for engine in ENGINES:
        name = f"{engine}{' (default)' if engine == default_engine else ''}"
        result.add(Figure(f"{label}: {name} PUID right ({totals.puid_total} stated)", "%", puid_pct[engine],
                          "fido CLI", puid_pct["fido CLI"], ACCURACY_TARGET))  # fmt: skip
        result.add(Figure(f"{label}: {name} MIME right ({totals.mime_total} stated)", "%", mime_pct[engine],
                          "fido CLI", mime_pct["fido CLI"], ACCURACY_TARGET))  # fmt: skip
    for engine in ENGINES:
        name = f"{engine}{' (default)' if engine == default_engine else ''}"
        result.add(Figure(f"{label}: {name}, 1 process (warm)", "files/s", rates[f"{engine} serial"], "fido CLI",
                          cli_rates, SPEED_TARGET, cpu_runs=cpu_rates[engine], baseline_cpu_runs=cli_cpu))
        how = "Go workers in-process" if engine == "siegfried" else "process pool, start-up included"
        result.add(Figure(f"{label}: {name}, identify_many", "files/s", rates[f"{engine} many"], "fido CLI",
                          cli_rates, SPEED_TARGET, note=f"all cores; {how}"))  # fmt: skip
    return details


def run(files: int | None = None, runs: int = 3, seed: int = 1, profile: bool = False, keep: bool = False,
        **_: Any) -> Result:  # fmt: skip
    from format_registry.identify import DEFAULT_ENGINE

    files = files or DEFAULT_FILES
    result = Result("identify", {"files": files, "runs": runs, "seed": seed, "mix": "mixed", "size_dist": "small",
                                 "default_engine": DEFAULT_ENGINE})  # fmt: skip
    real = corpus_expected(find_corpora()) + fixture_expected()
    with temp_dir("identify", keep) as tmp:
        root = tmp / "corpus"
        info = corpus_mod.generate(root, files, "mixed", "small", seed)
        result.corpus = {"generated": info.describe(),
                         "real": dict(Counter(e.source for e in real))}  # fmt: skip
        generated = [e for e in (by_construction(p, "bench/corpus.py") for p in payload_files(root)) if e]
        result.extra["real"] = measure_corpus("real", real, tmp, runs, None, result, DEFAULT_ENGINE)
        result.extra["generated"] = measure_corpus("generated", generated, tmp, runs, root, result, DEFAULT_ENGINE)
        result.extra["fido_cli_startup_seconds_one_file"] = round(
            run_timed([BIN / "fido", "-q", generated[0].path]).check().seconds, 3
        )
        if profile:
            path_list = tmp / "generated-paths.txt"
            for engine in ENGINES:
                data = kho_worker(path_list, "serial", profile=15, engine=engine)
                result.extra[f"profile_{engine}"] = {"tottime": data["profile_tottime"],
                                                     "cumtime": data["profile_cumtime"]}  # fmt: skip
    return result
