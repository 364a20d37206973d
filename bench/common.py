"""Shared plumbing for the benchmarks: timed subprocesses with their own peak RSS, figures with
medians, baselines and targets, machine description, results JSON and the printed table.

Units: MB is 10^6 bytes everywhere (throughput and memory); "files/s" counts payload files.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
BIN = Path(sys.executable).parent
TMP_PREFIX = "kho-bench-"
TMP_ROOT = "/tmp"  # noqa: S108 - the brief: scratch data only under /tmp, removed afterwards
DEFAULT_TIMEOUT = 900.0


# -- running things --------------------------------------------------------------------------------


@dataclass
class Completed:
    """A finished subprocess: wall seconds, CPU seconds, output.

    ``rusage_maxrss_mb`` is wait4's ``ru_maxrss``: on Linux it starts from the *parent's* peak at
    spawn time, so it is only an upper bound; processes report their own peak with
    :func:`peak_rss_mb` (VmHWM) instead."""

    args: list[str]
    returncode: int
    seconds: float
    rusage_maxrss_mb: float
    cpu_seconds: float
    stdout: bytes
    stderr: bytes

    def check(self) -> Completed:
        if self.returncode != 0:
            tail = self.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{self.args[0]} exited {self.returncode}: {tail}")
        return self


def run_timed(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    capture: bool = True,
) -> Completed:
    """Run ``args`` (no shell) and measure it with ``wait4``: the rusage is this child's alone."""
    argv = [os.fspath(a) for a in args]
    with tempfile.TemporaryFile(dir=TMP_ROOT) as out, tempfile.TemporaryFile(dir=TMP_ROOT) as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out if capture else subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, _kill_group, (process.pid,))
        timer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)  # blocking: no polling error in the timing
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode == -signal.SIGKILL and time.perf_counter() - started >= timeout:
            raise TimeoutError(f"{argv[0]} did not finish within {timeout} s")
        out.seek(0)
        err.seek(0)
        return Completed(
            args=argv,
            returncode=process.returncode,
            seconds=seconds,
            rusage_maxrss_mb=usage.ru_maxrss * 1024 / 1e6,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            stdout=out.read(),
            stderr=err.read(),
        )


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM of its current memory map) in MB."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                children = [int(c) for c in task.read_text(encoding="ascii").split()]
            except (OSError, ValueError):
                continue
            found += children
            queue += children
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreePeak:
    """The peak of this process's memory plus its descendants' (identification worker, validation pool),
    sampled every ``interval`` seconds as PSS, so pages a forked worker shares with its parent count once.
    A sampled peak can miss a spike shorter than the interval; VmHWM cannot, but sees one process only."""

    def __init__(self, interval: float = 0.1) -> None:
        import threading

        self.interval = interval
        self.peak_kb = 0
        self.window_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-tree-peak", daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = sum(_pss_kb(pid) for pid in [me, *_descendants(me)])
            self.peak_kb = max(self.peak_kb, total)
            self.window_kb = max(self.window_kb, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb * 1024 / 1e6

    def since(self) -> float:
        """The peak (MB) since the last call, then start a new window: one step's peak."""
        peak, self.window_kb = self.window_kb, 0
        return peak * 1024 / 1e6


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def batched(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Batched(NamedTuple):
    seconds: float  # wall, all invocations
    cpu_seconds: float  # user + system of all invocations
    stdout: bytes


def run_batched(
    tool: Sequence[str], paths: Sequence[str], cwd: Path, batch: int = 1000, capture: bool = True
) -> Batched:
    """``xargs -n batch tool``: wall and CPU seconds of all invocations, their concatenated stdout
    (``capture=False``: stdout goes to /dev/null, as for ``cat``)."""
    seconds, cpu, output = 0.0, 0.0, bytearray()
    for chunk in batched(paths, batch):
        done = run_timed([*tool, *chunk], cwd=cwd, capture=capture).check()
        seconds += done.seconds
        cpu += done.cpu_seconds
        output += done.stdout
    return Batched(seconds, cpu, bytes(output))


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def timed_cpu(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, this process's CPU seconds (user + system) and the result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - started, time.process_time() - cpu, result


@contextlib.contextmanager
def temp_dir(label: str, keep: bool = False) -> Iterator[Path]:
    """A scratch folder under /tmp, removed afterwards (unless ``keep``)."""
    path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{label}-", dir=TMP_ROOT))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def kho_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for one isolated ``kho`` run: every KHO_* setting reset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(home)
    env.update(extra)
    return env


def payload_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- figures ---------------------------------------------------------------------------------------


@dataclass
class Target:
    """``kind``: ratio_min / ratio_max (Kho / baseline), value_min / value_max (Kho's median)."""

    kind: str
    value: float
    text: str

    def met(self, median: float, ratio: float | None) -> bool | None:
        if self.kind.startswith("ratio"):
            if ratio is None:
                return None
            return ratio >= self.value if self.kind == "ratio_min" else ratio <= self.value
        return median >= self.value if self.kind == "value_min" else median <= self.value


@dataclass
class Figure:
    name: str
    unit: str
    runs: list[float]
    baseline_name: str | None = None
    baseline_runs: list[float] = field(default_factory=list)
    target: Target | None = None
    note: str = ""
    higher_is_better: bool = True
    other_baselines: dict[str, list[float]] = field(default_factory=dict)
    cpu_runs: list[float] = field(default_factory=list)  # the same figure computed on CPU seconds
    baseline_cpu_runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_runs) if self.baseline_runs else None

    @property
    def ratio(self) -> float | None:
        base = self.baseline_median
        return self.median / base if base else None

    def to_dict(self) -> dict[str, Any]:
        met = self.target.met(self.median, self.ratio) if self.target else None
        return {
            "name": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "runs": [round(r, 4) for r in self.runs],
            "median": round(self.median, 4),
            "baseline": None
            if self.baseline_name is None
            else {
                "name": self.baseline_name,
                "runs": [round(r, 4) for r in self.baseline_runs],
                "median": None if self.baseline_median is None else round(self.baseline_median, 4),
            },
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": None if self.target is None else {"kind": self.target.kind, "value": self.target.value,
                                                        "text": self.target.text},
            "met": met,
            "other_baselines": {
                name: {"runs": [round(r, 4) for r in runs], "median": round(statistics.median(runs), 4),
                       "ratio": round(self.median / statistics.median(runs), 3)}
                for name, runs in self.other_baselines.items()
            },
            "cpu_time_based": None
            if not (self.cpu_runs and self.baseline_cpu_runs)
            else {
                "runs": [round(r, 4) for r in self.cpu_runs],
                "median": round(statistics.median(self.cpu_runs), 4),
                "baseline_median": round(statistics.median(self.baseline_cpu_runs), 4),
                "ratio": round(statistics.median(self.cpu_runs) / statistics.median(self.baseline_cpu_runs), 3),
                "note": "user+system CPU seconds instead of wall time: less sensitive to other load",
            },
            "note": self.note,
        }  # fmt: skip


@dataclass
class Result:
    benchmark: str
    parameters: dict[str, Any]
    corpus: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    load_start: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "elapsed_seconds": round(time.perf_counter() - self.started, 1),
            "bench_process_peak_rss_mb": round(peak_rss_mb(), 1),
            "load_average": {"start": [round(x, 2) for x in self.load_start],
                             "end": [round(x, 2) for x in os.getloadavg()],
                             "note": "1/5/15-minute load; other work on this 2-core machine skews 2-process figures"},
            "machine": machine_info(),
            "parameters": self.parameters,
            "corpus": self.corpus,
            "figures": [f.to_dict() for f in self.figures],
            "extra": self.extra,
            "notes": self.notes,
        }

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.benchmark}.json"
        data = self.to_dict()
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path


def fmt_number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for result in results:
        for figure in result["figures"]:
            baseline = figure["baseline"] or {}
            met = {True: "yes", False: "NO", None: "-"}[figure["met"]]
            rows.append([
                result["benchmark"],
                figure["name"],
                f"{fmt_number(figure['median'])} {figure['unit']}",
                f"{fmt_number(baseline.get('median'))} ({baseline['name']})" if baseline else "-",
                "-" if figure["ratio"] is None else f"{figure['ratio']:.2f}x",
                figure["target"]["text"] if figure["target"] else "-",
                met,
            ])  # fmt: skip
    return rows


HEADER = ["benchmark", "figure", "Kho (median)", "baseline (median)", "ratio", "target", "met"]


def print_table(results: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    rows = table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(str(c)) for c in column) for column in zip(HEADER, *rows, strict=False)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    text = "\n".join(lines)
    print(text)
    return text


# -- the machine -----------------------------------------------------------------------------------


def _first_line(args: Sequence[str], timeout: float = 30) -> str | None:
    if shutil.which(args[0]) is None and not Path(args[0]).exists():
        return None
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def _pkg(name: str) -> str | None:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _filesystem(path: str) -> str | None:
    best, kind = "", None
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], f"{parts[2]} on {parts[0]} ({parts[1]})"
    return kind


_MACHINE: dict[str, Any] | None = None


def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, OS, Python and the versions of every tool the benchmarks compare."""
    global _MACHINE
    if _MACHINE is not None:
        return _MACHINE
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    try:
        import magic

        libmagic: str | None = str(magic.version())
    except (ImportError, OSError, AttributeError):
        libmagic = None
    git_bin = shutil.which("git")
    git = _first_line([git_bin, "-C", str(REPO), "rev-parse", "--short", "HEAD"]) if git_bin else None
    dirty = git_bin and subprocess.run(
        [git_bin, "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout.strip()  # fmt: skip
    _MACHINE = {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cpu_flags_sha": [f for f in ("sha_ni", "avx2", "avx512f") if flags and f in flags.group(1).split()],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "ram_gb": round(int(meminfo.group(1)) * 1024 / 1e9, 1) if meminfo else None,
        "os": platform.platform(),
        "tmp_filesystem": _filesystem(TMP_ROOT),
        "python": sys.version.split()[0],
        "kho": _pkg("kho"),
        "kho_git": f"{git}{' + uncommitted changes' if dirty else ''}" if git else None,
        "tools": {
            "openssl": _first_line(["openssl", "version"]),
            "sha256sum": _first_line(["sha256sum", "--version"]),
            "fido": _pkg("opf-fido"),
            "fido_signatures": _fido_signatures(),
            "libmagic": libmagic,
            "lxml": _pkg("lxml"),
            "pillow": _pkg("pillow"),
            "pikepdf": _pkg("pikepdf"),
            "bagit": _pkg("bagit"),
            "sqlalchemy": _pkg("sqlalchemy"),
            "libreoffice": _first_line(["soffice", "--version"], timeout=60),
            "ghostscript": _first_line(["gs", "--version"]),
            "ffmpeg": _first_line(["ffmpeg", "-version"]),
        },
    }
    return _MACHINE


def _fido_signatures() -> str | None:
    try:
        from fido import CONFIG_DIR
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)
        return f"{versions.pronom_signature}, {versions.pronom_container_signature}"
    except Exception:  # informative only
        return None
