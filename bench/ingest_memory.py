"""Peak RSS of ``kho ingest`` (no conversions) as the SIP grows: 2,000 files and ``--files`` (default
20,000) small files, beside the identification engine's own peak on the same files in a process of its own
(``bench.identify_worker``): Siegfried's Go runtime and PRONOM signatures are a fixed cost of 180-225 MB;
an ingest keeps them in a worker process of its own during the identify step only (decision 0021), so the
figure for the kho process is Kho's own memory, and the process tree's peak (PSS, workers included) is
reported beside it.

Issue #17's targets are absolute: <= 250 MB at 20,000 small files, <= 300 MB at 100,000
(``--files 100000``; about 10 minutes a run on two cores).
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from bench import corpus as corpus_mod
from bench.common import Figure, Result, Target, payload_files, temp_dir
from bench.identify import kho_worker
from bench.ingest import keep_only_policy, kho_ingest

SMALL = 2000
DEFAULT_FILES = 20000
TARGETS_MB = {20000: 250.0, 100000: 300.0}


def run(files: int | None = None, runs: int = 3, seed: int = 1, keep: bool = False, **_: Any) -> Result:
    sizes = sorted({SMALL, files or DEFAULT_FILES})
    result = Result("ingest_memory", {"sizes": sizes, "runs": runs, "seed": seed, "mix": "mixed",
                                      "size_dist": "small"})  # fmt: skip
    with temp_dir("ingest-memory", keep) as tmp:
        policy = keep_only_policy(tmp / "keep-only-policy.json")
        corpora = {}
        for size in sizes:
            bag = tmp / f"sip-{size}"
            info = corpus_mod.generate(bag, size, "mixed", "small", seed)
            corpus_mod.make_bag(bag)
            corpora[str(size)] = info.describe()
            paths = payload_files(bag / "data")
            path_list = tmp / f"paths-{size}.txt"
            path_list.write_text("\n".join(str(p) for p in paths) + "\n", encoding="utf-8")
            kho_rss, engine_rss, steps, peaks, tree = [], [], [], [], []
            for number in range(runs):
                home = tmp / f"home-{size}-{number}"
                report = tmp / f"steps-{size}-{number}.json"
                kho_ingest(bag, home, report, {"KHO_POLICY": str(policy)})
                data = json.loads(report.read_text(encoding="utf-8"))
                kho_rss.append(data["peak_rss_mb"])
                steps.append(data["steps"])
                peaks.append(data.get("step_peak_rss_mb", {}))
                tree.append(data["tree_peak_pss_mb"])
                engine_rss.append(kho_worker(path_list, "serial")["peak_rss_mb"])
                shutil.rmtree(home, ignore_errors=True)
            target = TARGETS_MB.get(size)
            result.add(Figure(
                f"ingest {size:,} small files, no conversions: peak RSS", "MB", kho_rss,
                "identification engine alone on the same files", engine_rss,
                Target("value_max", target, f"<= {target:.0f} MB") if target else None,
                higher_is_better=False, note="the kho process (VmHWM); the baseline is the floor's identify worker",
            ))
            result.add(Figure(
                f"ingest {size:,} small files, no conversions: peak of the process tree (PSS)", "MB", tree,
                higher_is_better=False,
                note="the kho process and its workers (Siegfried's, the validation pool), sampled every 0.1 s",
            ))
            result.extra[f"{size} files: step seconds (last run)"] = steps[-1]
            result.extra[f"{size} files: step peak RSS MB (last run)"] = peaks[-1]
        result.corpus = corpora
    result.notes += [
        "KHO_POLICY = the shipped policy with normalise actions replaced by keep / use-original (no conversion tools)",
        "peak RSS of the kho process alone (VmHWM, read by bench.kho_timed); the baseline is bench.identify_worker "
        "identifying the same files in one process (Siegfried in-process: the engine's fixed cost)",
    ]
    return result
