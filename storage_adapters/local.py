"""A storage location on a local (or mounted) file system: ``file:///abs/path``.

Every file this module creates is ``FILE_MODE`` (0640) and every folder ``DIR_MODE`` (0750), whatever
the process umask: a stored copy of a confidential (mật) record is never world-readable. The modes are
set explicitly (``fchmod``/``chmod`` on what was just created), so a permissive umask (0022, 0000) does
not widen them and a strict one does not narrow them. Folders that already exist are left as they are.
``create_file``, ``make_dirs`` and ``restrict`` are used for the same purpose by the catalog and DIPs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib  # not packages.checksums: storage_adapters imports nothing of ours (DESIGN.md, import-linter)
import os
import re
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from storage_adapters.base import StorageError, StoreItem, check_key, sha256_stream

CHUNK = 1024 * 1024
# Modes of what Kho writes (stored copies, the SQLite catalog, DIPs): owner read/write, group read, others
# nothing. Read when a file or folder is created, so configuration may set them at start-up.
FILE_MODE = 0o640
DIR_MODE = 0o750
HASH_WORKERS = min(4, os.cpu_count() or 1)
# Below this many bytes in all, threads cost more than they save (measured: 2,000 x 10 kB hash
# faster in one thread); above it the hashing itself dominates and spreads over the cores.
PARALLEL_HASH_BYTES = 64 * CHUNK
# copy_file_range errors that mean "not here" (old kernel, cross-device, file system without
# support) rather than a failed write: the copy then goes through sendfile/read-write instead.
_NO_KERNEL_COPY = frozenset({errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM})
# Local file systems whose syncfs(2) writes back data and metadata as an fsync of every file would.
# Elsewhere (NFS, CIFS, FUSE, ...) syncfs may stop at the client's page cache: fsync file by file.
SYNCFS_FILE_SYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "tmpfs"})


def _no_world(mode: int) -> int:
    """Never hand out world bits, even if configured to."""
    return mode & 0o770


def file_mode() -> int:
    return _no_world(FILE_MODE)


def dir_mode() -> int:
    return _no_world(DIR_MODE)


def create_file(path: Path | str, *, exclusive: bool = True) -> int:
    """Open a new file for writing with mode ``FILE_MODE`` whatever the umask; returns the descriptor.
    ``exclusive=False`` truncates an existing file and sets its mode too."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, file_mode())  # the umask can only narrow this, never widen it
    try:
        os.fchmod(fd, file_mode())
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict(path: Path | str) -> None:
    """Give an existing file ``FILE_MODE`` (or a folder ``DIR_MODE``): for files another library created."""
    os.chmod(path, dir_mode() if os.path.isdir(path) else file_mode())


def make_dirs(path: Path | str) -> None:
    """``mkdir -p`` where each folder created (and only those) gets ``DIR_MODE`` whatever the umask."""
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, dir_mode())
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made by someone else meanwhile: theirs to set
        os.chmod(folder, dir_mode())


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2), or None where there is none (not Linux, a libc without it) or where it
    would not say that writing back failed (Linux before 5.8 always returns 0)."""
    version = re.match(r"(\d+)\.(\d+)", os.uname().release) if hasattr(os, "uname") else None
    if version is None or (int(version[1]), int(version[2])) < (5, 8):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_LIBC_SYNCFS = _load_syncfs()


def _syncfs(fd: int) -> bool:
    """Flush the whole file system holding ``fd`` in one call (one journal commit instead of one
    per file). False when syncfs is unavailable or failed; the caller then fsyncs file by file,
    which also surfaces the write error, if any, for the file it belongs to."""
    return _LIBC_SYNCFS is not None and _LIBC_SYNCFS(fd) == 0


def _file_system_type(path: Path) -> str | None:
    """Type of the file system holding ``path`` (``ext4``, ``nfs4``...), from /proc/self/mountinfo."""
    try:
        device = os.stat(path).st_dev
        wanted = f"{os.major(device)}:{os.minor(device)}"
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields, _sep, rest = line.partition(" - ")
                if fields.split()[2:3] == [wanted] and rest:
                    return rest.split()[0]
    except OSError:
        return None
    return None


def _kernel_copy(src: int, dst: int) -> bool:
    """copy_file_range until EOF: the bytes never pass through Python (and may become a reflink).
    False, with nothing written, when the kernel or file system cannot do it."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None:
        return False
    copied = 0
    while True:
        try:
            count = copy_range(src, dst, 1 << 30)
        except OSError as exc:
            if copied == 0 and exc.errno in _NO_KERNEL_COPY:
                return False
            raise
        if count == 0:
            # Some file systems (procfs-like, some FUSE) report 0 instead of an error.
            return copied > 0 or os.fstat(src).st_size == 0
        copied += count


def _copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to the new file ``target`` in the kernel, else via shutil (sendfile).
    Raw descriptors: for thousands of small files Python's io layer is a visible share of the cost."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = create_file(target)
        try:
            copied = _kernel_copy(src, dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if not copied:
        shutil.copyfile(source, target)


# A partial's name must fit wherever its object's name fits: ".<name>.<token>.partial" added 41 bytes, so a
# 214-byte name (Vietnamese names reach that quickly) could never be stored. The partial is named after a
# digest of its object's name instead; the old form is still recognised when cleaning up.
_PARTIAL_NAME = re.compile(r"^\.kho-([0-9a-f]{16})-[0-9a-f]{32}\.partial$")
_OLD_PARTIAL_NAME = re.compile(r"^\.(.+)\.[0-9a-f]{32}\.partial$", re.S)


def _name_digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def partial_path(target: Path, token: str | None = None) -> Path:
    """Where an object is written before it is verified and renamed: beside it, under a short name."""
    return target.with_name(f".kho-{_name_digest(target.name)}-{token or uuid.uuid4().hex}.partial")


def _remove_stale_partials(targets: list[Path]) -> None:
    """Remove ``.partial`` files an interrupted store left for these keys (a killed ingest that is
    now resumed; one AIP is only ever stored by the ingest holding its workspace lock)."""
    wanted: dict[Path, set[str]] = {}
    for target in targets:
        wanted.setdefault(target.parent, set()).update((target.name, _name_digest(target.name)))
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # no folder yet: nothing was left in it
        for entry in entries:
            found = _PARTIAL_NAME.match(entry.name) or _OLD_PARTIAL_NAME.match(entry.name)
            if found and found.group(1) in names:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


PIPELINE_BYTES = 64 * CHUNK  # objects at least this large are read back while they are being copied
PIPELINE_STEP = 16 * CHUNK  # bytes copied per step: the read-back follows one step behind


def _copy_range(src: int, dst: int, count: int) -> int:
    """One step of a kernel copy (``copy_file_range`` from the current offsets); 0 at the end."""
    return os.copy_file_range(src, dst, count)


def _copy_file_reading_back(source: Path, target: Path) -> str:
    """Copy ``source`` to the new file ``target`` and return the SHA-256 of what ``target`` holds.

    A second thread reads back each range as soon as it is copied, so the copy (in the kernel) and
    the read-back hash (hashlib releases the GIL) overlap on two cores; one after the other they
    cost a quarter more for a large object. What is hashed is read from ``target``, never taken from
    the source, so a bad copy still shows as a different digest."""
    state: dict[str, int] = {"copied": 0, "done": 0}
    changed = threading.Condition()
    digest = hashlib.sha256()
    failure: list[BaseException] = []

    def read_back(reader: int) -> None:
        position = 0
        try:
            while True:
                with changed:
                    while state["copied"] <= position and not state["done"]:
                        changed.wait()
                    limit, finished = state["copied"], state["done"]
                while position < limit:
                    chunk = os.pread(reader, min(CHUNK, limit - position), position)
                    if not chunk:
                        raise OSError(f"{target}: read back ended at byte {position} of {limit}")
                    digest.update(chunk)
                    position += len(chunk)
                if finished and position >= state["copied"]:
                    return
        except BaseException as exc:  # reported by the copying thread
            failure.append(exc)

    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = create_file(target)
        try:
            reader = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
            thread = threading.Thread(target=read_back, args=(reader,), name="kho-read-back", daemon=True)
            thread.start()
            try:
                kernel = hasattr(os, "copy_file_range")
                while not failure:
                    try:
                        count = _copy_range(src, dst, PIPELINE_STEP) if kernel else 0
                    except OSError as exc:
                        if state["copied"] or exc.errno not in _NO_KERNEL_COPY:
                            raise
                        kernel, count = False, 0
                    if not kernel:  # no kernel copy here: read and write through a buffer
                        data = os.read(src, PIPELINE_STEP)
                        count = len(data)
                        view = memoryview(data)
                        while view:
                            view = view[os.write(dst, view):]
                    if count == 0:
                        break
                    with changed:
                        state["copied"] += count
                        changed.notify()
            finally:
                with changed:
                    state["done"] = 1
                    changed.notify()
                thread.join()
                os.close(reader)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if failure:
        raise failure[0]
    if os.stat(target).st_size != state["copied"]:
        raise OSError(f"{target}: {os.stat(target).st_size} bytes after copying {state['copied']}")
    return digest.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_files(paths: Sequence[Path], total_bytes: int) -> list[str | OSError]:
    """SHA-256 of each file; an unreadable file gives its OSError instead.

    For ``total_bytes`` worth hashing in parallel, a few threads (hashlib and reads release the
    GIL) take the next file from a shared counter, not one future per file, whose overhead would
    exceed the hashing of a small file. Each thread reads into one reused buffer."""
    results: list[str | OSError] = [""] * len(paths)
    pending = iter(range(len(paths)))
    lock = threading.Lock()

    def work() -> None:
        buffer = memoryview(bytearray(CHUNK))
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            sha = hashlib.sha256()
            try:
                fd = os.open(paths[index], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    while count := os.readv(fd, [buffer]):
                        sha.update(buffer[:count])
                finally:
                    os.close(fd)
            except OSError as exc:
                results[index] = exc
                continue
            results[index] = sha.hexdigest()

    workers = min(HASH_WORKERS, len(paths)) if total_bytes >= PARALLEL_HASH_BYTES else 1
    if workers < 2:
        work()
        return results
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kho-sha256") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return results


class LocalStorage:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        self._syncfs_trusted: bool | None = None

    @classmethod
    def from_url(cls, url: str) -> LocalStorage:
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise StorageError(f"{url}: a local location must be file:///absolute/path")
        return cls(path)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def path_of(self, key: str) -> Path:
        """Where the object lives on disk (the key checked), for callers that hash many at once."""
        return self._path(key)

    def put(self, key: str, source: Path) -> None:
        target = self._path(key)
        partial = partial_path(target)
        try:
            make_dirs(target.parent)
            with open(source, "rb") as src, open(create_file(partial), "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise StorageError(f"{self.url}: cannot store {key}: {exc}") from exc

    def store_many(
        self,
        items: Sequence[StoreItem],
        retain_until: datetime | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        """Store many objects with the guarantees of ``put`` + ``verify`` each, at a fraction of the
        cost: one syncfs(2) instead of one fsync per file, and no bytes through Python.

        Objects already there that read back right are left alone (not rewritten). The others are
        copied to ``.partial`` names, flushed, read back and compared, and only then renamed to
        their keys; the renames are flushed before ``on_stored`` reports anything. So no key ever
        holds bytes from this call that did not verify, and on any failure the partials are removed.
        ``retain_until`` is accepted for the common interface; a file system has no retention lock.
        """
        del retain_until
        if not items:
            return
        seen: set[str] = set()
        for key, _source, _sha in items:
            if key in seen:
                raise StorageError(f"{self.url}: {key} is given more than once")
            seen.add(key)
        targets = [self._path(key) for key, _source, _sha in items]
        sizes = self._source_sizes(items)
        todo = self._not_yet_stored(items, targets, sizes)
        _remove_stale_partials(targets)
        token = uuid.uuid4().hex
        written: list[tuple[int, Path]] = []  # (item index, partial)
        read_back: dict[int, str | OSError] = {}  # item index -> SHA-256 of its partial as read back
        key = items[0][0]
        root_fd = -1
        try:
            make_dirs(self.root)
            # Opened before writing, so syncfs on it reports any write-back error from here on.
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            folders: set[Path] = set()
            for index in todo:
                key, source, _sha = items[index]
                target = targets[index]
                if target.parent not in folders:
                    make_dirs(target.parent)
                    folders.add(target.parent)
                partial = partial_path(target, token)
                written.append((index, partial))
                if sizes[index] >= PIPELINE_BYTES:  # large: read back during the copy
                    read_back[index] = _copy_file_reading_back(source, partial)
                else:
                    _copy_file(source, partial)
            if written and not self._syncfs(root_fd):
                for index, partial in written:
                    key = items[index][0]
                    _fsync_path(partial)
            later = [(index, partial) for index, partial in written if index not in read_back]
            hashed = _sha256_files([partial for _index, partial in later], sum(sizes[i] for i, _p in later))
            read_back.update((index, digest) for (index, _partial), digest in zip(later, hashed, strict=True))
            digests = [read_back[index] for index, _partial in written]
            for (index, _partial), digest in zip(written, digests, strict=True):
                key, _source, sha256 = items[index]
                if isinstance(digest, OSError):
                    raise digest
                if digest != sha256.lower():
                    raise StorageError(f"{self.url}: {key} read back with a different SHA-256")
            for index, partial in written:
                key = items[index][0]
                os.replace(partial, targets[index])
            # Also when nothing was written: objects left by an interrupted run had their bytes
            # flushed before their rename, but the rename itself may not be durable yet.
            if not self._syncfs(root_fd):
                for folder, below in self._folders(items, targets):
                    key = below
                    _fsync_path(folder)
        except BaseException as exc:
            for _index, partial in written:
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(f"{self.url}: cannot store {key}: {exc}") from exc
            raise
        finally:
            if root_fd >= 0:
                os.close(root_fd)
        if on_stored is not None:
            for number in range(1, len(items) + 1):
                on_stored(number)

    def _source_sizes(self, items: Sequence[StoreItem]) -> list[int]:
        sizes = []
        for key, source, _sha in items:
            try:
                sizes.append(source.stat().st_size)
            except OSError as exc:
                raise StorageError(f"{self.url}: cannot store {key}: {exc}") from exc
        return sizes

    def _not_yet_stored(self, items: Sequence[StoreItem], targets: list[Path], sizes: list[int]) -> list[int]:
        """Indexes of the items whose object is missing or differs. Sizes are compared first; only
        same-size objects are read back and hashed. An unreadable object is rewritten."""
        candidates: list[int] = []
        todo: list[int] = []
        for index, target in enumerate(targets):
            try:
                found = target.stat()
                present = stat.S_ISREG(found.st_mode) and found.st_size == sizes[index]
            except OSError:
                present = False
            (candidates if present else todo).append(index)
        digests = _sha256_files([targets[index] for index in candidates], sum(sizes[i] for i in candidates))
        for index, digest in zip(candidates, digests, strict=True):
            if digest != items[index][2].lower():
                todo.append(index)
        return sorted(todo)

    def _folders(self, items: Sequence[StoreItem], targets: list[Path]) -> list[tuple[Path, str]]:
        """Every folder from the targets up to the root, deepest first, each with a key below it
        (for the error message)."""
        folders: dict[Path, str] = {}
        for (key, _source, _sha), target in zip(items, targets, strict=True):
            folder = target.parent
            while folder not in folders and folder.is_relative_to(self.root):
                folders[folder] = key
                folder = folder.parent
        return sorted(folders.items(), key=lambda entry: len(entry[0].parts), reverse=True)

    def _syncfs(self, root_fd: int) -> bool:
        """syncfs where it is as good as fsync on every file; False means "fsync them instead"."""
        if self._syncfs_trusted is None:
            self._syncfs_trusted = _file_system_type(self.root) in SYNCFS_FILE_SYSTEMS
        return self._syncfs_trusted and _syncfs(root_fd)

    def get(self, key: str, destination: Path) -> None:
        destination = Path(destination)
        partial = partial_path(destination)
        try:
            os.close(create_file(partial))  # FILE_MODE; copyfile writes into it and keeps the mode
            shutil.copyfile(self._path(key), partial)
            os.replace(partial, destination)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise StorageError(f"{self.url}: cannot read {key}: {exc}") from exc

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot open {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.endswith(".partial"):
                    continue
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        """Remove the object, and the folders it leaves empty (up to the root): a disposed-of or moved
        AIP leaves no empty tree behind, which OCFL's storage hierarchy forbids."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone, or another writer is filling it): stop here
                break

    def remove_empty(self, prefix: str) -> None:
        """Remove the empty folders under ``prefix`` (and it, and its parents, when they become empty):
        a write that failed part-way can leave folders with no file in them, which an OCFL storage
        hierarchy must not hold."""
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return
        for dirpath, _dirs, _files in os.walk(base, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        for parent in base.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def init(self) -> None:
        """Create the root folder (the CLI's ``kho storage init``)."""
        try:
            make_dirs(self.root)
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot create {self.root}: {exc}") from exc

    def check(self) -> dict[str, object]:
        """Reachable and writable? A probe file is written, read back and removed."""
        report: dict[str, object] = {"location": self.url, "reachable": self.root.is_dir(), "writable": False}
        if not self.root.is_dir():
            report["error"] = f"{self.root} does not exist (run `kho storage init`)"
            return report
        probe = self.root / f".kho-probe-{uuid.uuid4().hex}"
        try:
            with open(create_file(probe), "wb") as handle:
                handle.write(b"kho")
            report["writable"] = probe.read_bytes() == b"kho"
        except OSError as exc:
            report["error"] = str(exc)
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        return report

    def verify(self, key: str, sha256: str) -> bool:
        try:
            with self.open(key) as handle:
                found = sha256_stream(handle, CHUNK)
        except StorageError:
            return False
        return found == sha256
