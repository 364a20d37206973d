"""One checksum module: every way Kho digests content (a file, a stream, bytes in memory, a storage
location's read-back) gives what hashlib gives, and the callers that used their own loops now agree with it."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from packages import ocfl
from packages.checksums import CHUNK_SIZE, hash_bytes, hash_file, hash_stream, sha256_file
from preservation.fixity import read_digest
from storage_adapters.base import sha256_stream
from storage_adapters.local import LocalStorage

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 17]


@pytest.mark.parametrize("size", SIZES)
def test_file_stream_and_bytes_digests_match_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "tệp.bin"
    path.write_bytes(data)
    expected = {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}
    assert hash_file(path, ["sha256", "sha512"]) == expected
    assert sha256_file(path) == expected["sha256"]
    assert hash_stream(io.BytesIO(data), ["sha256", "sha512"]) == (expected, size)
    assert hash_bytes(data, ["sha256", "sha512"]) == expected
    assert sha256_stream(io.BytesIO(data), chunk_size=4096) == expected["sha256"]


def test_repeated_algorithms_are_hashed_once_and_named_once() -> None:
    assert hash_bytes(b"kho", ["sha256", "sha256"]) == {"sha256": hashlib.sha256(b"kho").hexdigest()}
    assert hash_stream(io.BytesIO(b""), []) == ({}, 0)


def test_storage_read_back_and_fixity_use_the_same_digest(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 5)
    source = tmp_path / "nguồn.bin"
    source.write_bytes(data)
    location = LocalStorage(tmp_path / "store")
    location.put("aip/tệp.bin", source)
    digest = hashlib.sha256(data).hexdigest()
    assert location.verify("aip/tệp.bin", digest)
    assert not location.verify("aip/tệp.bin", hashlib.sha256(b"other").hexdigest())
    assert read_digest(location, "aip/tệp.bin") == (digest, len(data))


def test_ocfl_inventory_digests_and_sidecar() -> None:
    inventory = ocfl.new_object("3b2e3c8e-6f3a-4a57-9a56-6b7b3c1f0a11")
    raw = inventory.to_json()
    assert inventory.digests() == {"sha256": hashlib.sha256(raw).hexdigest(),
                                   "sha512": hashlib.sha512(raw).hexdigest()}
    assert ocfl.sidecar(raw) == f"{hashlib.sha512(raw).hexdigest()} inventory.json\n".encode()
    assert ocfl.sidecar_digest(ocfl.sidecar(raw)) == hashlib.sha512(raw).hexdigest()
