"""SIPs per hour through ``make cluster`` (CeleryExecutor, PostgreSQL, Redis) with 1 and with 2 Celery
workers, side by side in one run, and what limits the ratio.

For each worker count a fresh cluster (its own databases, queue, KHO_HOME and AIRFLOW_HOME, started and
stopped with ``python -m preservation.deploy.cluster up|down``) gets ``--files`` (20) mixed SIPs at once:
the valid BagIt fixtures of fixtures/sips in turn, each made distinct (one payload file changed or added,
manifests rewritten). The clock runs from the drop into the ingest folder (and an immediate
``ingest_scan`` run instead of waiting for the next minute) to the end of the last ``ingest`` run.

What limits the ratio, from the same runs: the machine's CPU busy share over the batch (/proc/stat), the
share of task slots busy running tasks (sum of task durations / slots x makespan), and, per task
instance, the median time from scheduled to queued (scheduler), queued to running (broker, worker,
task process start) and running (the step itself), and the gap between a task's upstream finishing and
the task being scheduled. Each figure is one batch (a cluster's start costs a minute; ``--runs`` is not
used), so compare with the load average recorded beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure, Result, temp_dir

DEFAULT_SIPS = 20
FIXTURES = REPO / "fixtures" / "sips"
MIX = ("hoso-2023-sotnmt-02", "hoso-2024-ubnd-01", "tt02-hoso", "tt05-hoso-json", "tt05-hoso-xml")
WORKER_COUNTS = (1, 2)
CONCURRENCY = 2  # task processes per worker
BATCH_TIMEOUT = 1800.0
REDIS = "redis://127.0.0.1:6379/14"  # apart from `make cluster` (db 0) and the tests (db 13)


def make_sips(target: Path, count: int, prefix: str = "bench", fixtures: tuple[str, ...] = MIX) -> list[Path]:
    """``count`` distinct valid bags (the benchmark's and tests/integration/test_cluster.py's): copies of
    ``fixtures`` in turn, each with one payload file changed (or added) and its manifests rewritten."""
    import bagit

    sips = []
    for number in range(count):
        source = FIXTURES / fixtures[number % len(fixtures)]
        bag = target / f"{prefix}-{number:02d}-{source.name}"
        shutil.copytree(source, bag)
        notes = sorted((bag / "data").glob("*.txt"))
        note = notes[0] if notes else bag / "data" / "ghi-chu.txt"
        with note.open("a", encoding="utf-8") as handle:
            handle.write(f"\nBản sao {prefix} số {number} / copy {prefix} {number}\n")
        bagit.Bag(str(bag)).save(manifests=True)
        sips.append(bag)
    return sips


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def analyse(rows: list[tuple[Any, ...]], slots: int, makespan: float) -> dict[str, Any]:
    """Task instance timings: (run_id, task_id, hostname, scheduled, queued, start, end)."""
    by_run: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_run[row[0]].append(row)
    sched, queue, running, gap = [], [], [], []
    per_host: dict[str, float] = defaultdict(float)
    per_task: dict[str, list[float]] = defaultdict(list)
    for run_rows in by_run.values():
        for _run, task, host, scheduled, queued, start, end in run_rows:
            for bucket, value in ((sched, _seconds(queued, scheduled)), (queue, _seconds(start, queued)),
                                  (running, _seconds(end, start))):  # fmt: skip
                if value is not None:
                    bucket.append(value)
            if start is not None and end is not None:
                per_host[str(host)] += (end - start).total_seconds()
                per_task[task].append((end - start).total_seconds())
            upstream_ends = [r[6] for r in run_rows if r[6] is not None and scheduled is not None and r[6] <= scheduled]
            if upstream_ends and scheduled is not None:
                gap.append((scheduled - max(upstream_ends)).total_seconds())
    busy = sum(running)
    return {
        "task_instances": len(rows),
        "median_seconds": {"upstream_done_to_scheduled": _median(gap), "scheduled_to_queued": _median(sched),
                           "queued_to_running": _median(queue), "running": _median(running)},
        "task_seconds_total": round(busy, 1),
        "task_seconds_by_worker": {h: round(s, 1) for h, s in sorted(per_host.items())},
        "task_median_seconds_by_step": {t: _median(v) for t, v in sorted(per_task.items())},
        "slot_busy_share": round(busy / (slots * makespan), 3) if makespan else None,
    }


class BenchCluster:
    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self.name = f"kho_bench_{uuid.uuid4().hex[:8]}_w{workers}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KHO_", "AIRFLOW"))}
        from preservation.deploy import free_port

        self.env.update({
            "KHO_HOME": str(root / "kho-home"), "AIRFLOW_HOME": str(root / "airflow-home"),
            "KHO_CLUSTER_NAME": self.name, "KHO_AIRFLOW_PORT": str(free_port()), "KHO_REDIS_URL": REDIS,
            "KHO_WORKERS": str(workers), "KHO_WORKER_CONCURRENCY": str(CONCURRENCY), "KHO_SETTLE_SECONDS": "1",
            # a claimed SIP waiting behind max_active_runs longer than this would be started a second time
            "KHO_RESUME_AFTER_SECONDS": "3600",
        })  # fmt: skip
        self.state: dict[str, Any] = {}

    def command(self, verb: str, timeout: float, *args: str) -> None:
        argv = [sys.executable, "-m", "preservation.deploy.cluster", verb, *args]
        done = subprocess.run(argv, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"cluster {verb} failed: {done.stdout}\n{done.stderr}")

    def __enter__(self) -> BenchCluster:
        from preservation.deploy.cluster import read_state

        try:
            self.command("up", 600)
        except BaseException:
            self.__exit__()
            raise
        self.state = read_state(Path(self.env["KHO_HOME"])) or {}
        return self

    def __exit__(self, *_: object) -> None:
        from preservation.deploy.cluster import (
            config_from_env,
            drop_databases,
            read_state,
            running_services,
            stop_processes,
        )

        try:
            self.command("down", 180, "--timeout", "10")
        finally:
            stop_processes(running_services(read_state(Path(self.env["KHO_HOME"]))), timeout=5)
            drop_databases(config_from_env(self.env))

    def metadata(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.name}_airflow") as conn:
            return list(conn.execute(query, args).fetchall())

    def trigger_scan(self) -> None:
        from preservation.deploy import admin_password

        api = self.state["api_url"]
        body = json.dumps({"username": "admin", "password": admin_password(Path(self.env["AIRFLOW_HOME"]))})
        request = urllib.request.Request(f"{api}/auth/token", data=body.encode(), method="POST",  # noqa: S310
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own cluster
            token = json.loads(response.read())["access_token"]
        request = urllib.request.Request(f"{api}/api/v2/dags/ingest_scan/dagRuns", method="POST",  # noqa: S310
                                         data=json.dumps({"logical_date": None}).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - our own cluster
            pass


def batch(root: Path, workers: int, count: int) -> dict[str, Any]:
    """One cluster with ``workers`` workers, ``count`` SIPs at once; its measurements."""
    sips = make_sips(root / "staging", count)
    with BenchCluster(root, workers) as cluster:
        ingest = Path(cluster.env["KHO_HOME"]) / "ingest"
        time.sleep(5)  # the start-up runs of the scheduled DAGs (fixity, migration, transfer) out of the way
        cpu_before, wall_before = cpu_times(), time.time()
        for sip in sips:
            sip.rename(ingest / sip.name)
        time.sleep(2)  # KHO_SETTLE_SECONDS=1
        cluster.trigger_scan()
        deadline = time.monotonic() + BATCH_TIMEOUT
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = dict(cluster.metadata("SELECT run_id, state FROM dag_run WHERE dag_id = 'ingest'"))
            if len(states) >= count and all(s in ("success", "failed") for s in states.values()):
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"{count} ingests not done within {BATCH_TIMEOUT} s: {states}")
        cpu_after = cpu_times()
        (first_start, last_end), = cluster.metadata(
            "SELECT min(start_date), max(end_date) FROM dag_run WHERE dag_id = 'ingest'")  # fmt: skip
        makespan = last_end.timestamp() - wall_before
        failed = sorted(r for r, s in states.items() if s != "success")
        rows = cluster.metadata(
            "SELECT run_id, task_id, hostname, scheduled_dttm, queued_dttm, start_date, end_date "
            "FROM task_instance WHERE dag_id = 'ingest'")  # fmt: skip
        hosts = sorted({str(r[2]) for r in rows if r[2]})
        from preservation.deploy.cluster import full_environment

        env = full_environment(Path(cluster.env["KHO_HOME"]), cluster.env)
        listed = subprocess.run([str(Path(sys.executable).parent / "kho"), "aip", "list", "--json"], env=env,
                                capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
        aips = [json.loads(line) for line in listed.splitlines() if line.strip()]
        verify = subprocess.run([str(Path(sys.executable).parent / "kho"), "events", "verify"], env=env,
                                capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    busy = (cpu_after[0] - cpu_before[0]) / max(1.0, cpu_after[1] - cpu_before[1])
    return {
        "workers": workers,
        "slots": workers * CONCURRENCY,
        "sips": count,
        "makespan_seconds": round(makespan, 1),
        "sips_per_hour": round(count / makespan * 3600, 1),
        "first_ingest_start_after_drop_seconds": round(first_start.timestamp() - wall_before, 1),
        "cpu_busy_share": round(busy, 3),
        "failed_runs": failed,
        "aips_stored": len(aips),
        "event_chain_verified": verify.returncode == 0,
        "task_hosts": hosts,
        **analyse(rows, workers * CONCURRENCY, makespan),
    }


def run(files: int | None = None, keep: bool = False, **_: Any) -> Result:
    count = files or DEFAULT_SIPS
    result = Result("cluster", {"sips": count, "mix": list(MIX), "worker_counts": list(WORKER_COUNTS),
                                "concurrency_per_worker": CONCURRENCY, "runs": 1})  # fmt: skip
    result.corpus = {"sips": count, "from": "fixtures/sips (valid BagIt ones, in turn), each made distinct"}
    batches = {}
    for workers in WORKER_COUNTS:
        print(f"   cluster: {workers} worker(s), {count} SIPs ...", file=sys.stderr, flush=True)
        with temp_dir(f"cluster-w{workers}", keep) as tmp:
            batches[workers] = batch(tmp, workers, count)
        data = batches[workers]
        print(f"   {workers} worker(s): {json.dumps(data)}", file=sys.stderr, flush=True)
        if data["aips_stored"] != count or not data["event_chain_verified"]:
            raise RuntimeError(f"{workers} worker(s): not every SIP became one verified AIP: {data}")
        if data["failed_runs"]:
            result.notes.append(f"{workers} worker(s): {len(data['failed_runs'])} ingest run(s) failed, yet every "
                                "SIP is one verified AIP (a second run for an already claimed workspace)")
    one, two = batches[1], batches[2]
    result.add(Figure(f"cluster ingest, {count} mixed SIPs at once: 2 workers", "SIPs/h", [two["sips_per_hour"]],
                      "1 worker", [one["sips_per_hour"]],
                      note=f"{CONCURRENCY} task processes per worker; one batch each (not a median)"))
    result.add(Figure(f"cluster ingest, {count} SIPs: CPU busy, 2 workers", "%", [100 * two["cpu_busy_share"]],
                      "1 worker", [100 * one["cpu_busy_share"]], note="whole machine, /proc/stat, over the batch"))
    result.add(Figure(f"cluster ingest, {count} SIPs: median task run, 2 workers", "s",
                      [two["median_seconds"]["running"]], "1 worker", [one["median_seconds"]["running"]],
                      higher_is_better=False, note="task instance start to end"))  # fmt: skip
    result.extra = {"batches": {f"{w}_worker{'s' if w > 1 else ''}": b for w, b in batches.items()}}
    return result
