"""store_many: many objects per call with the guarantees of one ``store`` each, on real files
(and a real moto S3 server); faults are injected only by wrapping Kho's own copy and flush helpers."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from storage_adapters import local
from storage_adapters.base import BatchStorageLocation, StorageError, StoreItem
from storage_adapters.local import LocalStorage
from storage_adapters.replicated import ReplicatedStorage
from storage_adapters.s3 import MIN_PART_SIZE, S3Storage
from tests.s3_server import MotoServer

SMALL = 200
BIG = 3 * 1024 * 1024 + 17
AIP = "7c3e-aip"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_items(folder: Path, count: int = SMALL, big: int = BIG) -> list[StoreItem]:
    """``count`` small files over a few nested folders (Vietnamese names included) and one big one."""
    items: list[StoreItem] = []
    for number in range(count):
        relative = f"representations/rep-0{number % 3}/data/tệp {number:04d}.txt"
        data = f"hồ sơ {number}\n".encode() * (1 + number % 50)
        items.append(add(folder, relative, data))
    items.append(add(folder, "representations/rep-00/data/big.bin", os.urandom(big)))
    items.append(add(folder, "empty.txt", b""))
    return items


def add(folder: Path, relative: str, data: bytes) -> StoreItem:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"{AIP}/{relative}", path, sha256(data)


def stored_correctly(root: Path, items: list[StoreItem]) -> bool:
    return all((root / key).read_bytes() == source.read_bytes() for key, source, _sha in items)


def partials(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".partial")] if root.exists() else []


def identity(root: Path, items: list[StoreItem]) -> dict[str, tuple[int, int]]:
    return {key: ((root / key).stat().st_ino, (root / key).stat().st_mtime_ns) for key, _source, _sha in items}


@pytest.fixture
def items(tmp_path: Path) -> list[StoreItem]:
    return make_items(tmp_path / "aip")


def counter() -> tuple[list[int], Callable[[int], None]]:
    seen: list[int] = []
    return seen, seen.append


def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on os.fsync (it still runs)."""
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counted(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted)
    return fsyncs


# -- local locations -----------------------------------------------------------------------------


@pytest.mark.parametrize("copies", [1, 2])
def test_store_many_stores_verifies_and_is_idempotent(tmp_path: Path, items: list[StoreItem], copies: int) -> None:
    roots = [tmp_path / f"copy-{n}" for n in range(copies)]
    replicated = ReplicatedStorage([LocalStorage(root) for root in roots])
    assert all(isinstance(location, BatchStorageLocation) for location in replicated.locations)
    seen, on_stored = counter()
    replicated.store_many(items, on_stored=on_stored)

    assert seen == list(range(1, len(items) + 1))
    for root in roots:
        assert stored_correctly(root, items)
        assert not partials(root)
        assert sorted(LocalStorage(root).list()) == sorted(key for key, _source, _sha in items)
    assert all(replicated.verify(key, digest) for key, _source, digest in items)

    before = [identity(root, items) for root in roots]
    seen.clear()
    replicated.store_many(items, on_stored=on_stored)  # a resumed store: verify, do not rewrite
    assert [identity(root, items) for root in roots] == before
    assert seen == list(range(1, len(items) + 1))


def test_store_many_uses_one_syncfs_per_flush(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    if local._LIBC_SYNCFS is None or local._file_system_type(tmp_path) not in local.SYNCFS_FILE_SYSTEMS:
        pytest.skip("no syncfs(2) here, or not one that stands in for fsync on this file system")
    syncs: list[bool] = []
    real_syncfs = local._syncfs

    def counted_syncfs(fd: int) -> bool:
        syncs.append(real_syncfs(fd))
        return syncs[-1]

    monkeypatch.setattr(local, "_syncfs", counted_syncfs)
    fsyncs = count_fsyncs(monkeypatch)
    LocalStorage(tmp_path / "archive").store_many(items)
    assert syncs == [True, True]  # file data, then the renames
    assert fsyncs == []


@pytest.mark.parametrize("why", ["no syncfs", "syncfs returns -1", "file system not trusted with syncfs"])
def test_without_syncfs_every_file_and_folder_is_fsynced(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    if why == "no syncfs":
        monkeypatch.setattr(local, "_LIBC_SYNCFS", None)  # not Linux, old libc, or Linux < 5.8
    elif why == "syncfs returns -1":
        monkeypatch.setattr(local, "_LIBC_SYNCFS", lambda fd: -1)
    else:
        monkeypatch.setattr(local, "SYNCFS_FILE_SYSTEMS", frozenset())  # as on NFS or FUSE
    fsyncs = count_fsyncs(monkeypatch)
    root = tmp_path / "archive"
    seen, on_stored = counter()
    LocalStorage(root).store_many(items, on_stored=on_stored)
    assert stored_correctly(root, items) and not partials(root)
    assert seen == list(range(1, len(items) + 1))
    folders = {root / key for key, _source, _sha in items}
    folders = {parent for key in folders for parent in key.parents if parent.is_relative_to(root)}
    assert len(fsyncs) == len(items) + len(folders)


def test_a_copy_that_reads_back_wrong_is_never_renamed_into_place(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "PARALLEL_HASH_BYTES", 0)  # read back with the thread pool
    root = tmp_path / "archive"
    bad_key, bad_source, _sha = items[57]
    real_copy = local._copy_file

    def corrupting_copy(source: Path, target: Path) -> None:
        real_copy(source, target)
        if source == bad_source:
            with open(target, "r+b") as handle:
                handle.write(b"X")

    monkeypatch.setattr(local, "_copy_file", corrupting_copy)
    seen, on_stored = counter()
    with pytest.raises(StorageError, match=f"{root.as_uri()}: {bad_key} read back with a different SHA-256"):
        ReplicatedStorage([LocalStorage(root)]).store_many(items, on_stored=on_stored)
    assert not (root / bad_key).exists()
    assert not partials(root)
    assert seen == []  # nothing reported stored
    monkeypatch.setattr(local, "_copy_file", real_copy)
    LocalStorage(root).store_many(items)
    assert stored_correctly(root, items)


@pytest.mark.parametrize("threads", [False, True])
def test_a_corrupt_or_truncated_object_already_there_is_rewritten(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    if threads:
        monkeypatch.setattr(local, "PARALLEL_HASH_BYTES", 0)
    root = tmp_path / "archive"
    store = LocalStorage(root)
    store.store_many(items)
    flipped, truncated, big = root / items[3][0], root / items[4][0], root / items[SMALL][0]
    data = bytearray(flipped.read_bytes())
    data[0] ^= 0x01
    flipped.write_bytes(bytes(data))  # same size: caught by the read-back hash
    truncated.write_bytes(truncated.read_bytes()[:-1])  # caught by the size
    big.write_bytes(b"")
    untouched = identity(root, items[5:6])
    store.store_many(items)
    assert stored_correctly(root, items)
    assert all(store.verify(key, digest) for key, _source, digest in items)
    assert identity(root, items[5:6]) == untouched
    assert not partials(root)


def test_an_os_error_mid_batch_leaves_no_partial(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    real_copy = local._copy_file
    copies: list[Path] = []

    def failing_copy(source: Path, target: Path) -> None:
        copies.append(source)
        if len(copies) == 50:
            raise PermissionError(13, "Permission denied", str(target))
        real_copy(source, target)

    monkeypatch.setattr(local, "_copy_file", failing_copy)
    seen, on_stored = counter()
    with pytest.raises(StorageError, match=f"{root.as_uri()}: cannot store {items[49][0]}: .*Permission denied"):
        ReplicatedStorage([LocalStorage(root)]).store_many(items, on_stored=on_stored)
    assert not partials(root)
    assert not any(path.is_file() for path in root.rglob("*"))  # no object under any final key
    assert seen == []


def test_a_failing_flush_leaves_no_partial(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    monkeypatch.setattr(local, "_syncfs", lambda fd: False)

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageError, match=f"cannot store {items[0][0]}: .*Input/output error"):
        LocalStorage(root).store_many(items)
    assert not partials(root)
    assert not any(path.is_file() for path in root.rglob("*"))


def test_bad_batches_are_refused_before_writing(tmp_path: Path, items: list[StoreItem]) -> None:
    root = tmp_path / "archive"
    store = LocalStorage(root)
    with pytest.raises(StorageError, match="unsafe"):
        store.store_many([*items, ("../escape", items[0][1], items[0][2])])
    with pytest.raises(StorageError, match="more than once"):
        store.store_many([*items, items[0]])
    with pytest.raises(StorageError, match=f"cannot store {AIP}/gone"):
        store.store_many([*items, (f"{AIP}/gone", tmp_path / "missing", "0" * 64)])
    assert not root.exists()
    store.store_many([])  # nothing to do is fine


class PlainLocation:
    """A location without store_many (the protocol only), to exercise the per-item fallback."""

    def __init__(self, root: Path) -> None:
        self.inner = LocalStorage(root)
        self.url = self.inner.url
        self.puts: list[str] = []

    def put(self, key: str, source: Path) -> None:
        self.puts.append(key)
        self.inner.put(key, source)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def verify(self, key: str, sha256: str) -> bool:
        return self.inner.verify(key, sha256)

    def __getattr__(self, name: str) -> Any:
        if name == "store_many":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_locations_without_store_many_fall_back_to_put_and_verify(tmp_path: Path, items: list[StoreItem]) -> None:
    plain = PlainLocation(tmp_path / "plain")
    batch = LocalStorage(tmp_path / "batch")
    assert not isinstance(plain, BatchStorageLocation)
    replicated = ReplicatedStorage([plain, batch])
    seen, on_stored = counter()
    replicated.store_many(items, on_stored=on_stored)
    assert seen == list(range(1, len(items) + 1))
    assert stored_correctly(tmp_path / "plain", items) and stored_correctly(tmp_path / "batch", items)
    assert len(plain.puts) == len(items)
    plain.puts.clear()
    replicated.store_many(items)
    assert plain.puts == []  # verified, not rewritten

    wrong = [(f"{AIP}/other", items[0][1], "0" * 64)]
    with pytest.raises(StorageError, match=f"{AIP}/other read back with a different SHA-256"):
        ReplicatedStorage([plain]).store_many(wrong)


def test_threaded_and_serial_hashing_agree(tmp_path: Path, items: list[StoreItem]) -> None:
    paths = [source for _key, source, _sha in items] + [tmp_path / "missing"]
    serial = local._sha256_files(paths, total_bytes=0)
    threaded = local._sha256_files(paths, total_bytes=local.PARALLEL_HASH_BYTES)
    assert serial[:-1] == threaded[:-1] == [digest for _key, _source, digest in items]
    assert isinstance(serial[-1], FileNotFoundError) and isinstance(threaded[-1], FileNotFoundError)


# -- S3 (a real moto server) ---------------------------------------------------------------------


def s3_location(server: MotoServer, query: str = "") -> S3Storage:
    url = f"s3://kho-batch-{uuid.uuid4().hex[:12]}/archive?endpoint_url={server.endpoint_url}{query}"
    store = S3Storage.from_url(url, part_size=MIN_PART_SIZE, max_attempts=2, connect_timeout=2, read_timeout=10)
    assert store.init()["ok"]
    return store


def operations(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: seen.append(model.name))
    return seen


def test_s3_store_many(moto_server: MotoServer, aws_env: None, tmp_path: Path) -> None:
    items = make_items(tmp_path / "aip", count=30, big=MIN_PART_SIZE + 1234)  # the big one is multipart
    store = s3_location(moto_server)
    seen, on_stored = counter()
    ReplicatedStorage([store]).store_many(items, on_stored=on_stored)
    assert seen == list(range(1, len(items) + 1))
    assert sorted(store.list()) == sorted(key for key, _source, _sha in items)
    assert all(store.verify(key, digest) for key, _source, digest in items)

    sent = operations(store.client)
    store.store_many(items)  # idempotent: read back, nothing uploaded again
    assert "PutObject" not in sent and "CreateMultipartUpload" not in sent

    wrong = [(f"{AIP}/other", items[0][1], "0" * 64)]
    with pytest.raises(StorageError, match=f"{AIP}/other read back with a different SHA-256"):
        store.store_many(wrong)
    with pytest.raises(StorageError, match="more than once"):
        store.store_many([*items, items[0]])


def test_s3_store_many_honours_retain_until(moto_server: MotoServer, aws_env: None, tmp_path: Path) -> None:
    items = make_items(tmp_path / "aip", count=6, big=1024)
    store = s3_location(moto_server, "&object_lock=GOVERNANCE&retention_days=30")
    until = datetime(2034, 12, 31, 23, 59, 59, tzinfo=UTC)
    local_copy = LocalStorage(tmp_path / "disk")
    ReplicatedStorage([local_copy, store]).store_many(items, retain_until=until)
    raw = boto3.client("s3", endpoint_url=moto_server.endpoint_url, region_name="us-east-1")
    for key, _source, _sha in items:
        head = raw.head_object(Bucket=store.bucket, Key=f"archive/{key}")
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] == until
    assert stored_correctly(tmp_path / "disk", items)

    # Without a record retention, the location's own minimum applies.
    extra = [add(tmp_path / "aip", "later.txt", b"later")]
    store.store_many(extra)
    head = raw.head_object(Bucket=store.bucket, Key=f"archive/{extra[0][0]}")
    assert timedelta(days=29) < head["ObjectLockRetainUntilDate"] - datetime.now(UTC) <= timedelta(days=30)


def test_partials_left_by_a_killed_store_are_removed_on_resume(tmp_path: Path, items: list[StoreItem]) -> None:
    """A SIGKILL between the copies and their rename leaves ``.partial`` files; the resumed store
    removes those of its own keys (and only those) and stores everything."""
    root = tmp_path / "kho"
    location = LocalStorage(root)
    first_key, second_key = items[0][0], items[1][0]
    left = []
    for key in (first_key, second_key):
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        stale = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        stale.write_bytes(b"half of a copy")
        left.append(stale)
    stranger = root / "khác" / f".tệp-khác.{uuid.uuid4().hex}.partial"  # not a key of this batch
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"someone else's")

    location.store_many(items[1:])  # the first key is not in this batch: its partial stays

    assert stored_correctly(root, items[1:])
    assert left[0].exists() and not left[1].exists() and stranger.exists()


@pytest.fixture
def pipelined(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 3 MiB object of ``items`` takes the large-object path (read back during the copy) in
    small steps, so the read-back thread really runs behind the copy."""
    monkeypatch.setattr(local, "PIPELINE_BYTES", 1024 * 1024)
    monkeypatch.setattr(local, "PIPELINE_STEP", 64 * 1024)


@pytest.mark.usefixtures("pipelined")
def test_large_object_read_back_during_the_copy(tmp_path: Path, items: list[StoreItem]) -> None:
    root = tmp_path / "kho"
    big = next(item for item in items if item[0].endswith("big.bin"))
    assert big[1].stat().st_size >= local.PIPELINE_BYTES
    LocalStorage(root).store_many(items)
    assert stored_correctly(root, items) and not partials(root)


@pytest.mark.usefixtures("pipelined")
def test_large_object_damaged_while_copied_is_refused(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte changed in the target right after a step is copied (as a failing disk or a buggy
    file system would) is seen by the read-back; nothing is stored under the key."""
    real = local._copy_range
    steps: list[int] = []

    def damaging(src: int, dst: int, count: int) -> int:
        copied = real(src, dst, count)
        steps.append(copied)
        if len(steps) == 5 and copied:
            offset = os.lseek(dst, 0, os.SEEK_CUR) - 1
            os.pwrite(dst, b"\x00" if os.pread(src, 1, offset) != b"\x00" else b"\x01", offset)
        return copied

    monkeypatch.setattr(local, "_copy_range", damaging)
    root = tmp_path / "kho"
    big_key = next(key for key, _source, _sha in items if key.endswith("big.bin"))
    with pytest.raises(StorageError, match=r"big\.bin read back with a different SHA-256"):
        LocalStorage(root).store_many(items)
    assert len(steps) > 5 and not (root / big_key).exists() and not partials(root)


@pytest.mark.usefixtures("pipelined")
def test_large_object_without_kernel_copy(
    tmp_path: Path, items: list[StoreItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(src: int, dst: int, count: int) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(local, "_copy_range", unsupported)
    root = tmp_path / "kho"
    LocalStorage(root).store_many(items)
    assert stored_correctly(root, items) and not partials(root)


def test_partials_of_both_name_forms_are_removed_on_resume(tmp_path: Path, items: list[StoreItem]) -> None:
    """Partials are now named after a digest of their object's name; those an older Kho left (the name
    itself) are still recognised."""
    root = tmp_path / "kho"
    key = items[1][0]
    target = root / key
    target.parent.mkdir(parents=True, exist_ok=True)
    new_form, old_form = local.partial_path(target), target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    for stale in (new_form, old_form):
        stale.write_bytes(b"half of a copy")
    LocalStorage(root).store_many(items[1:3])
    assert not new_form.exists() and not old_form.exists() and stored_correctly(root, items[1:3])


@pytest.mark.parametrize("how", ["put", "store_many"])
def test_a_name_of_255_bytes_is_stored(tmp_path: Path, how: str) -> None:
    """The finding: a name of 214 UTF-8 bytes or more failed at every retry (ENAMETOOLONG on its
    ``.<name>.<token>.partial``). The longest name ext4 holds is 255 bytes; it must store."""
    name = ("Quyết định phê duyệt " * 20).encode()[:251].decode("utf-8", "ignore").rstrip() + ".pdf"
    assert 250 <= len(name.encode()) <= 255
    source = tmp_path / "src" / name
    source.parent.mkdir()
    source.write_bytes(b"%PDF-1.7 ho so")
    root = tmp_path / "kho"
    key = f"{AIP}/representations/rep-01/data/{name}"
    if how == "put":
        LocalStorage(root).put(key, source)
    else:
        LocalStorage(root).store_many([(key, source, sha256(source.read_bytes()))])
    assert (root / key).read_bytes() == source.read_bytes() and not partials(root)
