"""Streaming digests: every algorithm a caller needs, from one read of the file.

Preservation re-reads files often (validation, fixity, storage verification); reading each
file once per purpose, in fixed-size chunks, keeps memory constant for any file size.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

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
