"""Pool workers die with the process that made the pool, whatever the start method (decision 0009)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

OWNER = r"""
import sys, time
from concurrent.futures import ProcessPoolExecutor
from format_registry.pool import worker_pool_kwargs

def pid_then_sleep() -> int:
    import os
    return os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=1, **worker_pool_kwargs(sys.argv[1]))
    print(pool.submit(pid_then_sleep).result(), flush=True)
    time.sleep(600)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie is gone for our purpose: it holds no pipe and runs nothing
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_killed_owner_leaves_no_worker_and_no_open_pipe(tmp_path: Path, method: str) -> None:
    script = tmp_path / "owner.py"
    script.write_text(OWNER, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    owner = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert owner.stdout is not None
    worker = int(owner.stdout.readline())
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=10)
    assert _gone(worker, within=10), f"worker {worker} of a {method} pool outlived its killed owner"
    # the fork server and resource tracker held the owner's stdout: it must reach its end (no hang)
    rest = subprocess.run(["cat"], stdin=owner.stdout, capture_output=True, timeout=20)
    assert rest.returncode == 0
