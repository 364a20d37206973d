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


def test_hash_many_keeps_order_and_reports_unreadable_files(tmp_path: Path) -> None:
    import threading

    from packages.checksums import POOL_MIN_FILES, hash_file, hash_many

    paths = []
    for number in range(POOL_MIN_FILES + 44):  # enough files for the worker pool
        path = tmp_path / f"tệp-{number:04d}.bin"
        path.write_bytes(number.to_bytes(4, "big") * (number + 1))
        paths.append(path)
    paths.insert(7, tmp_path / "không-có.bin")
    expected = [hash_file(p, ["sha256", "sha512"]) if p.exists() else None for p in paths]

    got = hash_many(paths, ["sha256", "sha512"], workers=2)
    assert [g if isinstance(g, dict) else None for g in got] == expected
    assert isinstance(got[7], str) and "không-có.bin" in got[7]

    threaded: list[object] = []  # with another thread running, workers come from a forkserver
    worker = threading.Thread(target=lambda: threaded.extend(hash_many(paths, ["sha256"], workers=2)))
    worker.start()
    worker.join()
    assert [t["sha256"] if isinstance(t, dict) else None for t in threaded] == [
        e["sha256"] if e else None for e in expected
    ]
