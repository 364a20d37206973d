"""Streaming digests: every algorithm a caller needs, from one read of the file.

Preservation re-reads files often (validation, fixity, storage verification); reading each
file once per purpose, in fixed-size chunks, keeps memory constant for any file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK_SIZE = 1024 * 1024
SUPPORTED = ("md5", "sha1", "sha256", "sha512")


def hash_file(path: Path | str, algorithms: Iterable[str]) -> dict[str, str]:
    """Return ``{algorithm: hexdigest}`` for ``path`` in a single streaming read."""
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    if not hashers:
        return {}
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
