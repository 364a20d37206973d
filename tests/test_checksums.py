"""Streaming digests: exact for every size around the chunk boundary, for every algorithm at once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from packages.checksums import CHUNK_SIZE, hash_file


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_hash_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "tệp.bin"
    path.write_bytes(data)
    assert hash_file(path, ["sha256", "sha512", "md5"]) == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
