"""METS writing at scale: ``packages.mets.write_aip_mets`` with PREMIS embedded through
``packages.premis.write_premis``, for 1k, 10k and 100k files (``--files N``: N/100, N/10, N).

Each run is a fresh ``bench.mets_worker`` process (seconds in the writer, its peak RSS).
``ingest-like`` inputs hold every PREMIS object and event in memory as an ingest's describe step
does (2 events per file); ``streamed`` inputs come from generators and show the writer's own
footprint. The smallest document is validated against ``mets-premis-combined.xsd`` (METS 1.12.1
+ PREMIS 3 + XLink) with lxml. Baseline, where installed and up to 10,000 files: metsrw with the
same PREMIS elements per file, which builds the whole tree in memory before writing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure, Result, Target, run_timed, temp_dir

DEFAULT_SIZES = (1_000, 10_000, 100_000)
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 300.0
MODES = {"lists": "ingest-like inputs", "stream": "streamed inputs"}
METSRW_MAX_FILES = 10_000  # beyond, metsrw needs minutes and gigabytes per run


def schema_path() -> Path | None:
    """mets-premis-combined.xsd from the shared corpora ($KHO_TEST_CORPORA, ../shared, /work/shared)."""
    for base in (os.environ.get("KHO_TEST_CORPORA", ""), str(REPO.parent / "shared" / "corpora"),
                 "/work/shared/corpora"):  # fmt: skip
        if base and (Path(base) / "schemas" / "mets-premis-combined.xsd").is_file():
            return Path(base) / "schemas" / "mets-premis-combined.xsd"
    return None


def worker(files: int, out: Path, mode: str, validate: Path | None = None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.mets_worker", "--files", str(files), "--out", str(out), "--mode", mode]
    if validate:
        argv += ["--validate", str(validate)]
    done = run_timed(argv, cwd=REPO).check()
    data: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    data["process_seconds"] = done.seconds
    out.unlink(missing_ok=True)
    return data


def run(files: int | None = None, runs: int = 3, keep: bool = False, **_: Any) -> Result:
    sizes = DEFAULT_SIZES if not files else tuple(sorted({max(10, files // 100), max(10, files // 10), files}))
    result = Result("mets", {"sizes": list(sizes), "runs": runs, "modes": MODES})
    largest = sizes[-1]
    schema = schema_path()
    has_metsrw = importlib.util.find_spec("metsrw") is not None
    with temp_dir("mets", keep) as tmp:
        outputs: dict[str, Any] = {}
        for size in sizes:
            baseline: list[dict[str, Any]] = []
            if has_metsrw and size <= METSRW_MAX_FILES:
                baseline = [worker(size, tmp / f"METS-{size}.xml", "metsrw") for _ in range(runs)]
                outputs[f"{size}-metsrw"] = {"output_mb": round(baseline[0]["bytes"] / 1e6, 1),
                                             "version": baseline[0]["metsrw"]}  # fmt: skip
            for mode, label in MODES.items():
                samples = [worker(size, tmp / f"METS-{size}.xml", mode) for _ in range(runs)]
                big = size == largest
                against = baseline if mode == "lists" else []
                result.add(Figure(f"METS {size:,} files, {label}: time", "s", [s["seconds"] for s in samples],
                                  "metsrw" if against else None, [b["seconds"] for b in against],
                                  target=Target("value_max", TARGET_SECONDS, f"<= {TARGET_SECONDS:.0f} s") if big
                                  else None, higher_is_better=False))
                result.add(Figure(f"METS {size:,} files, {label}: peak RSS", "MB",
                                  [s["peak_rss_mb"] for s in samples],
                                  "metsrw" if against else None, [b["peak_rss_mb"] for b in against],
                                  target=Target("value_max", TARGET_RSS_MB, f"<= {TARGET_RSS_MB:.0f} MB") if big
                                  else None, higher_is_better=False,
                                  note=f"inputs alone: {samples[0]['rss_inputs_mb']:.0f} MB"))
                outputs[f"{size}-{mode}"] = {
                    "output_mb": round(samples[0]["bytes"] / 1e6, 1),
                    "bytes_per_file": round(samples[0]["bytes"] / size),
                    "rss_before_inputs_mb": round(samples[0]["rss_start_mb"], 1),
                    "rss_with_inputs_mb": round(samples[0]["rss_inputs_mb"], 1),
                    "input_setup_seconds": round(samples[0]["setup_seconds"], 3),
                }  # fmt: skip
        result.extra["outputs"] = outputs
        if schema is None:
            result.notes.append("mets-premis-combined.xsd not found: schema validation skipped")
        else:
            checks = [worker(sizes[0], tmp / "METS-valid.xml", "lists", schema) for _ in range(runs)]
            result.add(Figure(f"METS {sizes[0]:,} files valid against {schema.name}", "%",
                              [100.0 * c["validation"]["valid"] for c in checks],
                              target=Target("value_min", 100, "valid")))  # fmt: skip
            result.extra["validation"] = {"schema": str(schema), **checks[0]["validation"]}
    result.extra["metsrw_baseline"] = (
        f"metsrw with the same PREMIS object and 2 events per file (mdWrap in each file's amdSec), up to "
        f"{METSRW_MAX_FILES:,} files (it holds the whole tree: ~33 MB per 1,000 files)"
        if has_metsrw
        else "skipped: metsrw is not installed"
    )
    result.notes += [
        "peak RSS = VmHWM of the worker process in MB (10^6 bytes); it includes the interpreter, lxml and "
        "the inputs",
        "time = seconds inside write_aip_mets only (building the synthetic inputs is input_setup_seconds)",
    ]
    return result
