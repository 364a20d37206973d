"""``kho`` exactly as the console script runs it (``preservation.cli.main``), plus a record of
how long each ingest step took and, optionally, a cProfile summary.

``python -m bench.kho_timed --report FILE [--profile N] [--pyinstrument TEXT] -- ingest PATH --json``

The report (JSON) holds ``steps`` ({step: seconds}, the SIP copy made before the first step
included), ``import_seconds`` and, with
``--profile N``, the N functions with the most own time and the N with the most cumulative
time. ``--pyinstrument TEXT`` writes pyinstrument's sampled call tree (wall time, this process; the
worker processes it starts show up as the waits for them). Wrapping ``run_step`` costs a few
microseconds per step.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import TreePeak, peak_rss_mb


def top_functions(profile: cProfile.Profile, sort: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` most expensive functions as plain data (file:line(function), calls, seconds)."""
    stats = pstats.Stats(profile)
    stats.sort_stats(sort)
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for func in stats.fcn_list[:count]:  # type: ignore[attr-defined]
        calls, primitive, tottime, cumtime, _callers = raw[func]
        filename, line, name = func
        short = filename.split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")
        rows.append({
            "function": f"{short}:{line}({name})",
            "calls": primitive if calls == primitive else f"{calls}/{primitive}",
            "tottime": round(tottime, 3),
            "cumtime": round(cumtime, 3),
        })  # fmt: skip
    return rows


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (``clear_refs`` 5, Linux >= 4.0) so the next reading is one step's peak.

    The whole run's peak is then the largest of the steps' peaks (and the last reading), which is why the
    report takes their maximum."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--profile", type=int, default=0, help="keep the top N functions (0: no profiler)")
    parser.add_argument("--pyinstrument", type=Path, help="write pyinstrument's call tree (text) here")
    parser.add_argument("kho_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kho_args = args.kho_args[1:] if args.kho_args[:1] == ["--"] else args.kho_args

    started = time.perf_counter()
    from preservation import cli
    from preservation.pipeline import runner as ingest  # the runner's own names are what run_pipeline calls

    import_seconds = time.perf_counter() - started
    steps: dict[str, float] = {}
    step_peaks: dict[str, float] = {}
    tree_peaks: dict[str, float] = {}
    tree = TreePeak()
    between: list[float] = []  # peaks reached outside the steps (imports, the SIP copy), read before each reset
    original = ingest.run_step

    def run_step(ctx: Any, ws: Any, step: str) -> None:
        between.append(peak_rss_mb())
        tree.since()
        resettable = reset_peak_rss()
        begun = time.perf_counter()
        try:
            original(ctx, ws, step)
        finally:
            steps[step] = steps.get(step, 0.0) + time.perf_counter() - begun
            if resettable:
                step_peaks[step] = max(step_peaks.get(step, 0.0), round(peak_rss_mb(), 1))
            tree_peaks[step] = max(tree_peaks.get(step, 0.0), round(tree.since(), 1))

    ingest.run_step = run_step  # run_pipeline looks it up at call time
    start_copy = ingest.start_copy

    def timed_start_copy(*args: Any, **kwargs: Any) -> Any:
        begun = time.perf_counter()
        try:
            return start_copy(*args, **kwargs)
        finally:
            steps["copy SIP (start_copy)"] = time.perf_counter() - begun

    ingest.start_copy = timed_start_copy  # ingest_path looks it up at call time
    profile = cProfile.Profile() if args.profile else None
    sampler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.001)
        sampler.start()
    if profile:
        profile.enable()
    try:
        with tree:
            code = cli.main(kho_args)
    finally:
        if profile:
            profile.disable()
        if sampler is not None:
            sampler.stop()
            args.pyinstrument.write_text(sampler.output_text(unicode=True, color=False), encoding="utf-8")
        report: dict[str, Any] = {
            "steps": {k: round(v, 4) for k, v in steps.items()},
            "import_seconds": round(import_seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
            "peak_rss_mb": round(max([peak_rss_mb(), *between, *step_peaks.values()]), 1),  # this process alone (VmHWM)
            "step_peak_rss_mb": step_peaks,  # each step's own peak (VmHWM reset before it), where Linux allows
            # this process and its workers (identification, validation pools), PSS sampled every 0.1 s
            "tree_peak_pss_mb": round(tree.peak_mb, 1),
            "step_tree_peak_pss_mb": tree_peaks,
        }
        if profile:
            report["profile_tottime"] = top_functions(profile, "tottime", args.profile)
            report["profile_cumtime"] = top_functions(profile, "cumulative", args.profile)
        args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
