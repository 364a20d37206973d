"""Streaming digests: every algorithm a caller needs, from one read of the file.

Preservation re-reads files often (validation, fixity, storage verification); reading each
file once per purpose, in fixed-size chunks, keeps memory constant for any file size.

The one place Kho computes the checksum of content: a file (:func:`hash_file`, :func:`sha256_file`,
:func:`hash_many`), a stream such as a stored object being read back (:func:`hash_stream`), or
bytes already in memory such as an OCFL inventory (:func:`hash_bytes`). Hashes of identifiers and
keys (folder names, cache keys, HMACs) are not content checksums and use ``hashlib`` where they are.
``storage_adapters`` may import nothing of ours, so it keeps its own read-back loop
(``storage_adapters.base.sha256_stream``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
SUPPORTED = ("md5", "sha1", "sha256", "sha512")


_local = threading.local()


def _buffer() -> bytearray:
    """One read buffer per thread, reused: allocating 1 MiB per file dominated hashing many small files."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(CHUNK_SIZE)
    return buffer


def hash_file(path: Path | str, algorithms: Iterable[str]) -> dict[str, str]:
    """Return ``{algorithm: hexdigest}`` for ``path`` in a single streaming read."""
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    if not hashers:
        return {}
    buffer = _buffer()
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        expected = os.fstat(handle.fileno()).st_size
        total = 0
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            for hasher in hashers.values():
                hasher.update(chunk)
            total += count
            if total == expected and count < CHUNK_SIZE:  # the whole file is read: skip the empty last read
                break
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def sha256_file(path: Path | str) -> str:
    """The SHA-256 of ``path`` (hex): the digest Kho keeps for every stored file."""
    return hash_file(path, ["sha256"])["sha256"]


def hash_stream(handle: BinaryIO, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
    """``{algorithm: hexdigest}`` and the byte count of what ``handle`` yields until its end, in one pass.

    For content that is not a local file (a storage location's object being read back); exceptions
    of ``handle.read`` (a broken connection) reach the caller."""
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    size = 0
    while chunk := handle.read(CHUNK_SIZE):
        for hasher in hashers.values():
            hasher.update(chunk)
        size += len(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}, size


def hash_bytes(data: bytes, algorithms: Iterable[str]) -> dict[str, str]:
    """``{algorithm: hexdigest}`` of content already in memory (an OCFL inventory and its sidecar)."""
    return {name: hashlib.new(name, data).hexdigest() for name in dict.fromkeys(algorithms)}


def usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


POOL_MIN_FILES = 256  # fewer files than this: forking workers costs more than hashing them
POOL_MIN_BYTES = 64 * 1024 * 1024


def _hash_batch(paths: list[str], algorithms: tuple[str, ...]) -> list[dict[str, str] | str]:
    results: list[dict[str, str] | str] = []
    for path in paths:
        try:
            results.append(hash_file(path, algorithms))
        except OSError as exc:
            results.append(str(exc))
    return results


def hash_many(
    paths: list[Path] | list[str], algorithms: Iterable[str], workers: int | None = None
) -> list[dict[str, str] | str]:
    """``hash_file`` of every path, in input order, across all cores when there is enough work; a
    file that cannot be read gives its error text instead of digests.

    SHA-256 of small files is bound by per-file system calls and interpreter work, not by the
    digest, so threads would queue on the GIL: batches go to worker processes (forked when this
    process runs one thread, else from a forkserver), in batches of at most 256 files so that no
    worker is left with a long tail."""
    algorithms = tuple(dict.fromkeys(algorithms))
    names = [os.fspath(p) for p in paths]
    workers = workers or usable_cpus()
    if workers < 2 or len(names) < 2:
        return _hash_batch(names, algorithms)
    if len(names) < POOL_MIN_FILES:
        total = 0
        for name in names:
            try:
                total += os.stat(name).st_size
            except OSError:
                continue
        if total < POOL_MIN_BYTES:
            return _hash_batch(names, algorithms)
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from format_registry.pool import worker_pool_kwargs

    size = max(1, min(256, -(-len(names) // (workers * 4))))  # small batches: no long tail on one worker
    batches = [names[i : i + size] for i in range(0, len(names), size)]
    method = "fork" if threading.active_count() == 1 else "forkserver"  # fork only with no other thread
    # workers die with this process (a kill -9 of an ingest must not leave them running)
    with ProcessPoolExecutor(min(workers, len(batches)), **worker_pool_kwargs(method)) as pool:
        return [r for batch in pool.map(partial(_hash_batch, algorithms=algorithms), batches) for r in batch]
