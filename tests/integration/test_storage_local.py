"""LocalStorage: the file-system location every deployment has."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pytest

from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage
from storage_adapters.registry import open_location

KEY = unicodedata.normalize("NFC", "5b0e-aip/representations/rep-01/data/Quyết định.pdf")
UNSAFE = ["../x", "/abs", "a//b", "a/../../x", "./a", "a\\b", ""]


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "archive")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 64)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_round_trip(store: LocalStorage, source: Path, tmp_path: Path) -> None:
    assert isinstance(store, StorageLocation)
    digest = sha256(source)
    assert not store.exists(KEY)
    store.put(KEY, source)
    assert store.exists(KEY)
    assert store.verify(KEY, digest)
    assert not store.verify(KEY, "0" * 64)

    out = tmp_path / "out.pdf"
    store.get(KEY, out)
    assert out.read_bytes() == source.read_bytes()
    with store.open(KEY) as stream:
        assert stream.read() == source.read_bytes()

    store.put("5b0e-aip/METS.xml", source)
    store.put("5b0e-aip0/other", source)
    assert sorted(store.list("5b0e-aip")) == ["5b0e-aip/METS.xml", KEY]
    assert sorted(store.list()) == ["5b0e-aip/METS.xml", KEY, "5b0e-aip0/other"]
    assert list(store.list("missing")) == []

    store.delete(KEY)
    assert not store.exists(KEY)
    assert not store.verify(KEY, digest)
    store.delete(KEY)  # deleting twice is fine
    assert sorted(store.list("5b0e-aip")) == ["5b0e-aip/METS.xml"]


def test_overwrite_replaces_content(store: LocalStorage, source: Path, tmp_path: Path) -> None:
    store.put("aip/f", source)
    newer = tmp_path / "newer"
    newer.write_bytes(b"newer")
    store.put("aip/f", newer)
    assert store.verify("aip/f", sha256(newer))
    assert files_under(store.root) == ["aip/f"]


@pytest.mark.parametrize("key", UNSAFE)
def test_unsafe_keys_rejected(store: LocalStorage, source: Path, tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError, match="unsafe"):
        store.put(key, source)
    with pytest.raises(StorageError, match="unsafe"):
        store.get(key, tmp_path / "out")
    with pytest.raises(StorageError, match="unsafe"):
        store.open(key)
    with pytest.raises(StorageError, match="unsafe"):
        store.exists(key)
    with pytest.raises(StorageError, match="unsafe"):
        store.delete(key)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


def test_failed_put_leaves_no_partial_file(store: LocalStorage, source: Path, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="aip/new"):
        store.put("aip/new", tmp_path / "does-not-exist")
    assert not store.exists("aip/new")
    assert files_under(store.root) == []

    # A failed overwrite keeps the object that was there.
    store.put("aip/kept", source)
    with pytest.raises(StorageError, match="aip/kept"):
        store.put("aip/kept", tmp_path / "does-not-exist")
    assert store.verify("aip/kept", sha256(source))
    assert files_under(store.root) == ["aip/kept"]


def test_list_hides_partial_files(store: LocalStorage, source: Path) -> None:
    store.put("aip/f", source)
    (store.root / "aip" / ".f.0123.partial").write_bytes(b"half")
    assert list(store.list()) == ["aip/f"]


def test_verify_detects_a_flipped_byte(store: LocalStorage, source: Path) -> None:
    digest = sha256(source)
    store.put(KEY, source)
    stored = store.root / KEY
    data = bytearray(stored.read_bytes())
    data[100] ^= 0x01
    stored.write_bytes(bytes(data))
    assert store.exists(KEY)
    assert not store.verify(KEY, digest)


def test_missing_objects(store: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="aip/none"):
        store.get("aip/none", tmp_path / "out")
    with pytest.raises(StorageError, match="aip/none"):
        store.open("aip/none")
    assert not (tmp_path / "out").exists()


def test_urls(tmp_path: Path) -> None:
    root = tmp_path / "kho lưu trữ"
    store = LocalStorage.from_url(root.as_uri())
    assert store.root == root.resolve()
    assert store.url == root.resolve().as_uri()
    assert isinstance(open_location(root.as_uri()), LocalStorage)
    for bad in ("file://server/share", "s3://bucket/x"):
        with pytest.raises(StorageError):
            LocalStorage.from_url(bad)


def test_replicated_storage_stores_everywhere_and_reads_from_a_good_copy(tmp_path: Path) -> None:
    from storage_adapters.replicated import ReplicatedStorage

    source = tmp_path / "hồ sơ.txt"
    source.write_text("bản gốc", encoding="utf-8")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    first, second = LocalStorage(tmp_path / "a"), LocalStorage(tmp_path / "b")
    replicated = ReplicatedStorage([first, second])
    replicated.store("aip/hồ sơ.txt", source, digest)
    assert first.verify("aip/hồ sơ.txt", digest) and second.verify("aip/hồ sơ.txt", digest)
    assert replicated.exists("aip/hồ sơ.txt") and replicated.verify("aip/hồ sơ.txt", digest)
    (tmp_path / "a" / "aip" / "hồ sơ.txt").unlink()
    assert not replicated.exists("aip/hồ sơ.txt")
    out = tmp_path / "out.txt"
    replicated.get("aip/hồ sơ.txt", out)
    assert out.read_bytes() == source.read_bytes()
    replicated.store("aip/hồ sơ.txt", source, digest)  # repairs the missing copy, leaves the good one
    assert first.verify("aip/hồ sơ.txt", digest)
    assert list(replicated.list("aip")) == ["aip/hồ sơ.txt"]
    with pytest.raises(StorageError, match="different SHA-256"):
        replicated.store("aip/other.txt", source, "0" * 64)
