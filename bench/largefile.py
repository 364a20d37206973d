"""One large file through ``kho ingest``: peak RSS of the ``kho`` process and throughput against
``openssl dgst -sha256`` over the same file (``--gb``, default 1; the issue's size is 4).

The file is a WAV (16-bit PCM, pseudo-random samples) in a BagIt bag. The keep-only policy is
used (see bench/ingest.py): with the shipped policy the WAV's MP3 access copy (ffmpeg) would be
timed instead of Kho. Throughput = file size / wall time of the whole ``kho ingest`` process.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from typing import Any

from bench import corpus as corpus_mod
from bench.common import Figure, Result, Target, run_timed, temp_dir
from bench.ingest import keep_only_policy, kho_ingest, sampled_profile

DEFAULT_GB = 1.0


def run(gb: float | None = None, runs: int = 3, seed: int = 1, profile: bool = False, keep: bool = False,
        **_: Any) -> Result:  # fmt: skip
    gb = gb or DEFAULT_GB
    result = Result("largefile", {"gb": gb, "runs": runs, "seed": seed, "policy": "keep-only"})
    with temp_dir("largefile", keep) as tmp:
        policy = keep_only_policy(tmp / "keep-only-policy.json")
        bag = tmp / "sip"
        bag.mkdir()
        size = corpus_mod.write_wav_file(bag / "băng-ghi-âm-hội-nghị.wav", int(gb * 1e9), seed)
        corpus_mod.make_bag(bag)
        payload = bag / "data" / "băng-ghi-âm-hội-nghị.wav"
        result.corpus = {"files": 1, "bytes": size, "format": "WAV, 16-bit stereo 48 kHz PCM (pseudo-random)"}
        megabytes = size / 1e6
        openssl, kho, rss, steps, openssl_cpu, kho_cpu = [], [], [], [], [], []
        for number in range(runs):
            # every run starts with nothing left to write back (the SIP just written, the previous
            # run's stored copy): otherwise the kernel's write-back of one run throttles the next
            os.sync()
            digest = run_timed(["openssl", "dgst", "-sha256", payload]).check()
            openssl.append(megabytes / digest.seconds)
            openssl_cpu.append(megabytes / digest.cpu_seconds)
            home = tmp / f"home-{number}"
            report = tmp / f"steps-{number}.json"
            done = kho_ingest(bag, home, report, {"KHO_POLICY": str(policy)})
            kho.append(megabytes / done.seconds)
            kho_cpu.append(megabytes / done.cpu_seconds)
            data = json.loads(report.read_text(encoding="utf-8"))
            rss.append(data["peak_rss_mb"])
            steps.append(data["steps"])
            shutil.rmtree(home, ignore_errors=True)
        label = f"{megabytes / 1000:g} GB file"
        result.add(Figure(f"kho ingest of one {label}: throughput", "MB/s", kho, "openssl dgst -sha256", openssl,
                          Target("ratio_min", 0.6, ">= 0.6x openssl"), cpu_runs=kho_cpu, baseline_cpu_runs=openssl_cpu))
        result.add(Figure(f"kho ingest of one {label}: peak RSS", "MB", rss,
                          target=Target("value_max", 200, "<= 200 MB"), higher_is_better=False))  # fmt: skip
        result.extra["step_seconds"] = {k: round(statistics.median(s.get(k, 0.0) for s in steps), 3) for k in steps[0]}
        if profile:
            os.sync()
            report = tmp / "profile.json"
            kho_ingest(bag, tmp / "home-profile", report, {"KHO_POLICY": str(policy)}, profile=25)
            data = json.loads(report.read_text(encoding="utf-8"))
            result.extra["profile_tottime"] = data["profile_tottime"]
            result.extra["profile_cumtime"] = data["profile_cumtime"]
            os.sync()
            result.extra["pyinstrument"] = sampled_profile("largefile", bag, tmp / "home-sampled",
                                                           {"KHO_POLICY": str(policy)})  # fmt: skip
    result.notes += [
        "peak RSS = VmHWM of the kho process itself (reported by bench.kho_timed at exit)",
        "page cache warm for openssl; kho writes the stored copy (syncfs) to ext4; os.sync() before each run, so "
        "no run waits for the write-back of the one before",
    ]
    return result
