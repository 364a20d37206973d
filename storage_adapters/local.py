"""A storage location on a local (or mounted) file system: ``file:///abs/path``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from storage_adapters.base import StorageError, check_key

CHUNK = 1024 * 1024


class LocalStorage:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()

    @classmethod
    def from_url(cls, url: str) -> LocalStorage:
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise StorageError(f"{url}: a local location must be file:///absolute/path")
        return cls(path)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, source: Path) -> None:
        target = self._path(key)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise StorageError(f"{self.url}: cannot store {key}: {exc}") from exc

    def get(self, key: str, destination: Path) -> None:
        destination = Path(destination)
        partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
        try:
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
        self._path(key).unlink(missing_ok=True)

    def init(self) -> None:
        """Create the root folder (the CLI's ``kho storage init``)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
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
            probe.write_bytes(b"kho")
            report["writable"] = probe.read_bytes() == b"kho"
        except OSError as exc:
            report["error"] = str(exc)
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        return report

    def verify(self, key: str, sha256: str) -> bool:
        digest = hashlib.sha256()
        try:
            with self.open(key) as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(chunk)
        except StorageError:
            return False
        return digest.hexdigest() == sha256
