"""Run fuzz targets under atheris (libFuzzer) for a bounded time.

    python -m tests.fuzz TARGET|all [--seconds N] [--keep-going] [--strict] ...
    python -m tests.fuzz list

Each target runs in a child process of its own, one after the other, with libFuzzer's
``-max_total_time``, ``-rss_limit_mb`` and ``-timeout``. A crash (an unexpected exception, a broken
invariant, a timeout, running out of memory) writes the input under ``tests/fuzz/crashes/`` (with the
traceback beside it) and makes the run exit non-zero. Crashes listed in ``tests/fuzz/known_bugs.py`` are
counted but do not stop the run, unless ``--strict``. ``--keep-going`` records each new crash (one per
signature) and goes on fuzzing instead of stopping at the first.

New inputs the fuzzer finds interesting go to ``tests/fuzz/work/<target>/corpus`` (not committed); the next
run starts from them, the seed corpus and the regression inputs. The libFuzzer log of a run is
``tests/fuzz/work/<target>.log``, and a summary of every run is printed (executions, coverage, crashes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"
DICTS = HERE / "dicts"
CRASHES = HERE / "crashes"
WORK = HERE / "work"
TARGET_NAMES = ("bagit_tags", "sip", "eark_mets", "tt05_ead", "eark_zip")  # tests.fuzz.targets.TARGETS, in order


# ----------------------------------------------------------------------------------------- child

def _child(args: argparse.Namespace, libfuzzer_args: list[str]) -> None:
    """Inside the child: instrument the product, then hand over to libFuzzer (which never returns)."""
    import atheris

    from tests.fuzz import known_bugs

    with atheris.instrument_imports(include=["packages", "preservation", *args.instrument]):
        from tests.fuzz import targets
    target = targets.TARGETS[args.target]
    scratch = Path(tempfile.mkdtemp(prefix=f"kho-fuzz-{target.name}-"))
    targets.set_scratch_root(scratch)
    crash_dir = Path(args.crash_dir)
    seen: set[str] = set()
    known_seen: set[str] = set()

    def one_input(data: bytes) -> None:
        try:
            target.run(data)
        except Exception as exc:
            bug = None if args.strict else known_bugs.match(exc)
            if bug is not None:
                if bug.name not in known_seen:
                    known_seen.add(bug.name)
                    print(f"KHO-FUZZ known bug {bug.name} hit ({known_bugs.signature(exc)})", file=sys.stderr)
                return
            if not args.keep_going:
                _save(crash_dir, target.name, data, exc, quiet=True)
                raise
            sig = known_bugs.signature(exc)
            if sig not in seen:
                seen.add(sig)
                path = _save(crash_dir, target.name, data, exc)
                print(f"KHO-FUZZ new crash {sig} -> {path}", file=sys.stderr)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


def _save(crash_dir: Path, target: str, data: bytes, exc: BaseException, quiet: bool = False) -> Path:
    """Write the crashing input and its traceback (the input's name is its SHA-1, as libFuzzer names it)."""
    from tests.fuzz import known_bugs

    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"{target}-crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    text = "".join(traceback.format_exception(exc))
    path.with_name(path.name + ".txt").write_text(f"{known_bugs.signature(exc)}\n\n{text}", "utf-8")
    if not quiet:
        print(text, file=sys.stderr)
    return path


# ----------------------------------------------------------------------------------------- parent

def _summary(log: str) -> dict[str, object]:
    """Executions, coverage and corpus size from libFuzzer's output."""
    found: dict[str, object] = {}
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", log, re.M)
    if status:
        runs, cov, ft, corp, size = status[-1]
        found.update(executions=int(runs), coverage=int(cov), features=int(ft), corpus=int(corp), corpus_size=size)
    for key in ("number_of_executed_units", "average_exec_per_sec", "peak_rss_mb", "new_units_added"):
        match = re.search(rf"^stat::{key}:\s+(\d+)", log, re.M)
        if match:
            found[key] = int(match.group(1))
    if "executions" not in found and "number_of_executed_units" in found:
        found["executions"] = found["number_of_executed_units"]
    found["known_bugs"] = sorted(set(re.findall(r"^KHO-FUZZ known bug (\S+)", log, re.M)))
    inited = re.search(r"^#\d+\s+INITED", log, re.M)
    found["crashes_in_corpus"] = [  # found replaying the seed/regression corpus, before fuzzing started
        m.group(1) for m in re.finditer(r"^KHO-FUZZ new crash .* -> (\S+)$", log, re.M)
        if inited is None or m.start() < inited.start()
    ]
    return found


def _run_target(name: str, args: argparse.Namespace) -> dict[str, object]:
    from tests.fuzz.targets import TARGETS  # the parent does not need instrumented imports

    target = TARGETS[name]
    work = Path(args.work_dir)
    corpus = work / name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    crash_dir = Path(args.crash_dir)
    crash_dir.mkdir(parents=True, exist_ok=True)
    before = set(crash_dir.iterdir())
    libfuzzer = [
        f"-max_total_time={args.seconds}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-timeout={args.timeout}",
        f"-max_len={target.max_len}",
        f"-artifact_prefix={crash_dir}/{name}-",
        "-print_final_stats=1",
    ]
    if (DICTS / f"{name}.dict").is_file():
        libfuzzer.append(f"-dict={DICTS / f'{name}.dict'}")
    if args.seed is not None:
        libfuzzer.append(f"-seed={args.seed}")
    libfuzzer += [str(corpus), str(CORPUS / name)]
    if (REGRESSIONS / name).is_dir() and not args.strict:  # with --strict they would only re-find known bugs
        libfuzzer.append(str(REGRESSIONS / name))
    command = [sys.executable, "-m", "tests.fuzz", "--child", name, "--crash-dir", str(crash_dir),
               *(["--keep-going"] if args.keep_going else []), *(["--strict"] if args.strict else []),
               *(f"--instrument={module}" for module in target.extra_instrument), "--", *libfuzzer]
    log_path = work / f"{name}.log"
    started = time.monotonic()
    scratch_parent = Path(tempfile.mkdtemp(prefix="kho-fuzz-"))
    env = {**os.environ, "TMPDIR": str(scratch_parent), "PYTHONPATH": str(ROOT)}
    print(f"== {name}: {target.summary} ({args.seconds} s)", flush=True)
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        try:
            # libFuzzer stops at -max_total_time; the wall-clock bound only catches a hung child
            code = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=args.seconds + args.timeout + 120, check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
    shutil.rmtree(scratch_parent, ignore_errors=True)
    text = log_path.read_text("utf-8", "replace")
    new = sorted(str(p) for p in set(crash_dir.iterdir()) - before if not p.name.endswith(".txt"))
    result = {"target": name, "seconds": round(time.monotonic() - started, 1), "exit_code": code,
              **_summary(text), "crashes": new, "log": str(log_path)}
    result["ok"] = code == 0 and not new
    return result


def _report(result: dict[str, object]) -> None:
    line = (f"   {result['target']}: {'ok' if result['ok'] else 'CRASH'}; {result.get('executions', '?')} executions "
            f"in {result['seconds']} s, coverage {result.get('coverage', '?')} edges / {result.get('features', '?')} "
            f"features, corpus {result.get('corpus', '?')} inputs")
    print(line)
    if result["known_bugs"]:
        print(f"   known bugs hit: {', '.join(result['known_bugs'])}")  # type: ignore[arg-type]
    for path in result["crashes"]:  # type: ignore[attr-defined]
        where = " (replaying the corpus)" if path in result.get("crashes_in_corpus", []) else ""  # type: ignore[operator]
        print(f"   crash: {path}{where}")
    if not result["ok"] and not result["crashes"]:
        print(f"   exit code {result['exit_code']}; see {result['log']}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    libfuzzer_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, libfuzzer_args = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help=f"one of {', '.join(TARGET_NAMES)}, 'all' or 'list'")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (libFuzzer -max_total_time)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (libFuzzer -timeout)")
    parser.add_argument("--keep-going", action="store_true", help="record every new crash and go on fuzzing")
    parser.add_argument("--strict", action="store_true", help="known bugs are crashes too")
    parser.add_argument("--seed", type=int, help="libFuzzer -seed (default: random)")
    parser.add_argument("--crash-dir", default=str(CRASHES))
    parser.add_argument("--work-dir", default=str(WORK))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--instrument", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args, libfuzzer_args)
        return 0
    if args.target == "list":
        from tests.fuzz.targets import TARGETS

        for target in TARGETS.values():
            print(f"{target.name:12} {target.summary}")
        return 0
    names = list(TARGET_NAMES) if args.target == "all" else [args.target]
    unknown = [n for n in names if n not in TARGET_NAMES]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; targets: {', '.join(TARGET_NAMES)}")
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: .venv/bin/pip install atheris (in the dev extra)", file=sys.stderr)
        return 2
    results = []
    for name in names:
        result = _run_target(name, args)
        _report(result)
        results.append(result)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.work_dir) / "last-run.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
