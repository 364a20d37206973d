"""Fixity: ``packages.checksums.hash_file`` against ``openssl dgst`` and coreutils ``sha*sum``.

Two sets: a few large files (``--gb``, default 1 GB in 4 WAV files) and many small ones
(``--files``, default 20,000 mixed real files). Two digest configurations: sha256, and
sha256+sha512 (Kho reads once for both; the tools run once per algorithm). Kho is timed in one
process (``hash_file``) and in 2 processes (``hash_many``, as SIP validation runs); the tools run on one
core, batched like ``xargs -n 1000`` (``sha256sum`` for the sha256 configuration only), and
openssl also as two processes at once, to show what both cores deliver at that moment. Files
are in the page cache (read once before timing), so the figures are CPU throughput, not disk
speed. Every digest is checked against openssl's.
"""

from __future__ import annotations

import functools
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import corpus as corpus_mod
from bench.common import Figure, Result, Target, payload_files, run_batched, temp_dir, timed, timed_cpu

DEFAULT_GB = 1.0
DEFAULT_SMALL_FILES = 20_000
LARGE_FILES = 4
CONFIGS = (("sha256",), ("sha256", "sha512"))
OPENSSL_LINE = re.compile(r"^SHA2?-?(256|512)\((.*)\)= ([0-9a-f]+)$")


def kho_serial(paths: list[str], algorithms: tuple[str, ...]) -> list[dict[str, str]]:
    from packages.checksums import hash_file

    return [hash_file(p, algorithms) for p in paths]


def kho_pool(paths: list[str], algorithms: tuple[str, ...], workers: int = 2) -> list[dict[str, str]]:
    """The product's ``hash_many`` with ``workers`` processes (pool start-up included), as SIP
    validation uses it."""
    from packages.checksums import hash_many

    found = hash_many(paths, algorithms, workers=workers)
    if any(isinstance(f, str) for f in found):
        raise RuntimeError(next(f for f in found if isinstance(f, str)))
    return [f for f in found if isinstance(f, dict)]


def tool_pass(
    tool: str, algorithms: tuple[str, ...], rels: list[str], root: Path
) -> tuple[float, float, dict[str, str]]:
    """One tool over every file, once per algorithm: wall and CPU seconds, ``{f"{alg}:{rel}": hex}``."""
    seconds, cpu, digests = 0.0, 0.0, {}
    for algorithm in algorithms:
        argv = ["openssl", "dgst", f"-{algorithm}"] if tool == "openssl" else [f"{algorithm}sum"]
        spent, spent_cpu, output = run_batched(argv, rels, root)
        seconds += spent
        cpu += spent_cpu
        for line in output.decode("utf-8", errors="replace").splitlines():
            if tool == "openssl":
                match = OPENSSL_LINE.match(line)
                if match:
                    digests[f"sha{match.group(1)}:{match.group(2)}"] = match.group(3)
            else:
                digest, _, name = line.partition("  ")
                digests[f"{algorithm}:{name}"] = digest
    return seconds, cpu, digests


def openssl_two(algorithms: tuple[str, ...], rels: list[str], root: Path) -> float:
    """Two openssl processes at once, each over half the files: what the machine's 2 cores give now."""
    halves = [rels[0::2], rels[1::2]]
    started = time.perf_counter()
    for algorithm in algorithms:
        with ThreadPoolExecutor(2) as threads:
            list(threads.map(lambda half, a=algorithm: run_batched(["openssl", "dgst", f"-{a}"], half, root), halves))
    return time.perf_counter() - started


def measure_set(result: Result, label: str, root: Path, runs: int, targets: tuple[float, float]) -> dict[str, Any]:
    paths = [str(p) for p in payload_files(root)]
    rels = [str(Path(p).relative_to(root)) for p in paths]
    total_mb = sum(Path(p).stat().st_size for p in paths) / 1e6
    run_batched(["cat"], rels, root, capture=False)  # warm the page cache
    mismatches = 0
    for algorithms in CONFIGS:
        name = "+".join(algorithms)
        serial, pooled, openssl, openssl2, coreutils = [], [], [], [], []
        serial_cpu, openssl_cpu = [], []
        with_sums = algorithms == ("sha256",)  # coreutils once, for the plain sha256 configuration
        for number in range(runs):
            seconds, cpu, kho = timed_cpu(functools.partial(kho_serial, paths, algorithms))
            serial.append(total_mb / seconds)
            serial_cpu.append(total_mb / cpu)
            seconds, kho2 = timed(functools.partial(kho_pool, paths, algorithms))
            pooled.append(total_mb / seconds)
            seconds, cpu, theirs = tool_pass("openssl", algorithms, rels, root)
            openssl.append(total_mb / seconds)
            openssl_cpu.append(total_mb / cpu)
            openssl2.append(total_mb / openssl_two(algorithms, rels, root))
            sums: dict[str, str] = {}
            if with_sums:
                seconds, _cpu, sums = tool_pass("sum", algorithms, rels, root)
                coreutils.append(total_mb / seconds)
            if number == 0:
                for rel, mine, mine2 in zip(rels, kho, kho2, strict=True):
                    for algorithm in algorithms:
                        expected = theirs.get(f"{algorithm}:{rel}")
                        agree = mine[algorithm] == mine2[algorithm] == expected
                        if not agree or (with_sums and sums.get(f"{algorithm}:{rel}") != expected):
                            mismatches += 1
        tools = " + ".join(f"openssl -{a}" for a in algorithms)
        others = {"sha256sum (coreutils), 1 core": coreutils} if with_sums else {}
        result.add(Figure(f"{label}, {name}, 1 process", "MB/s", serial, f"{tools}, 1 core", openssl,
                          Target("ratio_min", targets[0], f">= {targets[0]}x openssl"), other_baselines=others,
                          cpu_runs=serial_cpu, baseline_cpu_runs=openssl_cpu))
        result.add(Figure(f"{label}, {name}, 2 processes", "MB/s", pooled, f"{tools}, 1 core", openssl,
                          Target("ratio_min", targets[1], f">= {targets[1]}x openssl (1 core)"),
                          other_baselines={**others, "openssl, 2 processes at once (the machine's 2-core ceiling now)":
                                           openssl2},
                          note="packages.checksums.hash_many, 2 worker processes (fork, pool start-up included)"))
    return {"files": len(paths), "megabytes": round(total_mb, 1), "digest_mismatches": mismatches}


def run(files: int | None = None, gb: float | None = None, runs: int = 3, seed: int = 1, keep: bool = False,
        **_: Any) -> Result:  # fmt: skip
    files = files or DEFAULT_SMALL_FILES
    gb = gb or DEFAULT_GB
    result = Result("fixity", {"small_files": files, "large_gb": gb, "large_files": LARGE_FILES, "runs": runs,
                               "seed": seed, "configs": ["+".join(c) for c in CONFIGS]})  # fmt: skip
    with temp_dir("fixity", keep) as tmp:
        large = tmp / "large"
        large.mkdir()
        each = int(gb * 1e9 / LARGE_FILES)
        for index in range(LARGE_FILES):
            corpus_mod.write_wav_file(large / f"băng-ghi-âm-{index + 1}.wav", each, seed)
        small = corpus_mod.generate(tmp / "small", files, "mixed", "small", seed)
        result.corpus = {
            "large": {"files": LARGE_FILES, "bytes_each": each, "format": "WAV, 16-bit stereo PCM (pseudo-random)"},
            "small": small.describe(),
        }
        checks = {
            "large": measure_set(result, f"large ({LARGE_FILES} x {each / 1e6:,.0f} MB)", large, runs, (0.9, 1.7)),
            "small": measure_set(result, f"small ({files:,} files)", tmp / "small", runs, (0.7, 1.7)),
        }
        result.extra["checked"] = checks
        if any(c["digest_mismatches"] for c in checks.values()):
            result.notes.append("some Kho digests differ from openssl/sha*sum: see extra.checked")
        result.notes.append("MB/s = 10^6 bytes per wall-clock second; page cache warm; tools batched 1,000 files "
                            "per invocation (their process start-up is included, as with xargs)")  # fmt: skip
    return result
