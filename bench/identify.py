"""Identification: Kho's in-process FIDO + libmagic against the ``fido`` command line.

Kho runs in a fresh process (``bench.identify_worker``), timed warm (signatures loaded once, as
in an ingest; the load is reported apart) in one process, and through the product's
``identify_many`` pool (start-up included; a bench-side fork pool where the product has none).
FIDO is timed as its CLI is used, ``fido -q -recurse DIR``, start-up included. Agreement: Kho's
PUID is one of FIDO's PUIDs for the file (or both have none); "single-answer" agreement also asks
FIDO for exactly one PUID.

Kho reads ZIP/OLE2 containers as DROID does (every part of a container signature, PRONOM
priorities); FIDO checks only a signature's first part and falls back to byte signatures, so for an
OpenDocument file declaring ``office:version="1.2"`` FIDO says ODF 1.1 (its "without version number"
signature). Each disagreement is therefore also checked against the file itself: where Kho's PUID is
the version the document declares, FIDO's answer is contradicted by the file, and the second
agreement figure counts Kho as right there. Both figures are reported.
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

DEFAULT_FILES = 2000


def parse_fido(output: bytes) -> dict[str, list[str]]:
    """``{path: [puid, ...]}`` from ``fido -q`` CSV (one line per match; KO lines have no PUID)."""
    found: dict[str, list[str]] = {}
    for row in csv.reader(io.StringIO(output.decode("utf-8", errors="replace"))):
        if len(row) < 9 or row[0] not in ("OK", "KO"):
            continue
        puids = found.setdefault(row[6], [])
        if row[0] == "OK" and row[2] and row[2] not in puids:
            puids.append(row[2])
    return found


def agreement(kho: dict[str, str | None], fido: dict[str, list[str]]) -> dict[str, Any]:
    """Share of files where Kho's PUID is among FIDO's, and the disagreeing (Kho, FIDO) pairs."""
    agree = single = 0
    pairs: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for path, puid in kho.items():
        theirs = fido.get(path, [])
        ok = (puid in theirs) if puid else not theirs
        agree += ok
        single += ok and len(theirs) <= 1
        if not ok:
            key = f"kho {puid or 'none'} / fido {'+'.join(theirs) or 'none'}"
            pairs[key] += 1
            if len(examples.setdefault(key, [])) < 3:
                examples[key].append(path)
    total = max(1, len(kho))
    confirmed = sum(1 for path, puid in kho.items() if puid not in fido.get(path, []) and confirmed_by_file(path, puid))
    return {
        "agree_pct": 100 * agree / total,
        "agree_or_confirmed_pct": 100 * (agree + confirmed) / total,
        "disagreements_confirmed_by_file": confirmed,
        "single_answer_pct": 100 * single / total,
        "disagreements": dict(pairs.most_common(20)),
        "examples": examples,
        "fido_missing": sum(1 for p in kho if p not in fido),
    }


def declared_odf_version(path: str) -> str | None:
    """``office:version`` of an OpenDocument file's content.xml (None: not ODF or not declared)."""
    import re
    import zipfile

    try:
        with zipfile.ZipFile(path) as odf:
            head = odf.open("content.xml").read(4096)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    found = re.search(rb"office:version=[\"']([0-9.]+)[\"']", head)
    return found.group(1).decode() if found else None


def confirmed_by_file(path: str, kho_puid: str | None) -> bool:
    """Kho's PUID names the version the file itself declares (ODF), where FIDO named another."""
    if not kho_puid:
        return False
    from format_registry.identify import shared_identifier

    element = shared_identifier()._fido.puid_format_map.get(kho_puid)
    if element is None or "OpenDocument" not in (element.findtext("name") or ""):
        return False
    declared = declared_odf_version(path)
    return declared is not None and declared == (element.findtext("version") or "").strip()


def kho_worker(path_list: Path, mode: str, profile: int = 0) -> dict[str, Any]:
    """``bench.identify_worker`` in a fresh process (the product code as it is now)."""
    argv = [sys.executable, "-m", "bench.identify_worker", "--list", str(path_list), "--mode", mode]
    if profile:
        argv += ["--profile", str(profile)]
    done = run_timed(argv, cwd=REPO).check()
    data: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return data


def run(files: int | None = None, runs: int = 3, seed: int = 1, profile: bool = False, keep: bool = False,
        **_: Any) -> Result:  # fmt: skip
    files = files or DEFAULT_FILES
    result = Result("identify", {"files": files, "runs": runs, "seed": seed, "mix": "mixed", "size_dist": "small"})
    with temp_dir("identify", keep) as tmp:
        root = tmp / "corpus"
        info = corpus_mod.generate(root, files, "mixed", "small", seed)
        result.corpus = info.describe()
        paths = [str(p) for p in payload_files(root)]
        path_list = tmp / "paths.txt"
        path_list.write_text("\n".join(paths) + "\n", encoding="utf-8")
        run_batched(["cat"], [str(Path(p).relative_to(root)) for p in paths], root, capture=False)  # warm cache

        kho_rates, pool_rates, fido_rates, agree, single, confirmed = [], [], [], [], [], []
        kho_cpu, fido_cpu = [], []
        details: dict[str, Any] = {}
        serial: dict[str, Any] = {}
        pooled: dict[str, Any] = {}
        for _run in range(runs):
            serial = kho_worker(path_list, "serial")
            kho_rates.append(len(paths) / serial["seconds"])
            kho_cpu.append(len(paths) / serial["cpu_seconds"])
            pooled = kho_worker(path_list, "many")
            pool_rates.append(len(paths) / pooled["seconds"])
            if pooled["puids"] != serial["puids"]:
                result.notes.append(f"{pooled['how']} gave other PUIDs than one process")
            fido = run_timed([BIN / "fido", "-q", "-recurse", root]).check()
            fido_rates.append(len(paths) / fido.seconds)
            fido_cpu.append(len(paths) / fido.cpu_seconds)
            details = agreement(dict(zip(paths, serial["puids"], strict=True)), parse_fido(fido.stdout))
            agree.append(details["agree_pct"])
            single.append(details["single_answer_pct"])
            confirmed.append(details["agree_or_confirmed_pct"])
        startup = run_timed([BIN / "fido", "-q", paths[0]]).check().seconds

        result.add(Figure("identify, 1 process (warm)", "files/s", kho_rates, "fido CLI", fido_rates,
                          Target("ratio_min", 10, ">= 10x FIDO"), cpu_runs=kho_cpu, baseline_cpu_runs=fido_cpu))
        result.add(Figure(f"identify, {pooled['how']}", "files/s", pool_rates, "fido CLI", fido_rates,
                          Target("ratio_min", 10, ">= 10x FIDO"),
                          note="pool start-up and per-worker signature load included; all cores"))
        result.add(Figure("PUID agreement with FIDO", "%", agree, target=Target("value_min", 99, ">= 99 %"),
                          note=f"single-answer agreement {single[0]:.1f} %"))  # fmt: skip
        result.add(Figure("PUID agreement with FIDO, or Kho confirmed by the file", "%", confirmed,
                          target=Target("value_min", 99, ">= 99 %"),
                          note=f"{details['disagreements_confirmed_by_file']} disagreements where the file declares "
                               "the version Kho names (ODF office:version)"))  # fmt: skip
        result.extra = {
            "kho_signature_load_seconds": round(serial["load_seconds"], 3),
            "kho_peak_rss_mb": {"serial": round(serial["peak_rss_mb"], 1), "many": round(pooled["peak_rss_mb"], 1)},
            "fido_cli_startup_seconds_one_file": round(startup, 3),
            "kho_methods": serial["methods"],
            "agreement": details,
        }
        if profile:
            data = kho_worker(path_list, "serial", profile=15)
            result.extra["profile_tottime"] = data["profile_tottime"]
            result.extra["profile_cumtime"] = data["profile_cumtime"]
    return result
