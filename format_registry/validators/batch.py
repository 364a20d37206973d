"""Validation of many files at once, across all cores: the built-in validators are CPU-bound Python
(pikepdf, Pillow, lxml), so threads would queue on the GIL; worker processes do not."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from format_registry.pool import worker_pool_kwargs
from format_registry.validators import validate_file

POOL_THRESHOLD = 64  # fewer files than this: one process is faster than starting workers

Job = tuple[str, str | None, str | None]  # path, PUID, MIME


def _validate_batch(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    return [validate_file(path, puid, mime).to_dict() for path, puid, mime in jobs]


def validate_many(jobs: Sequence[Job], workers: int | None = None) -> list[dict[str, Any]]:
    """``validate_file(...).to_dict()`` for every job, in input order."""
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(jobs) < POOL_THRESHOLD:
        return _validate_batch(jobs)
    chunk = max(8, len(jobs) // (workers * 8))
    batches = [list(jobs[i:i + chunk]) for i in range(0, len(jobs), chunk)]
    # fork when this process runs one thread (no lock can be inherited held); otherwise a forkserver
    method = "fork" if threading.active_count() == 1 else "forkserver"
    # workers die with this process (a kill -9 of an ingest must not leave them running)
    with ProcessPoolExecutor(max_workers=workers, **worker_pool_kwargs(method)) as pool:
        return [result for batch in pool.map(_validate_batch, batches) for result in batch]
