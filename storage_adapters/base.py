"""The storage protocol every location implements (local disk now; S3 and replicas later).

Keys are POSIX-style relative paths (``<aip-id>/METS.xml``). ``verify`` re-reads what the
location holds, so a copy only counts as stored once the location itself returned the
expected checksum.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote

StoreItem = tuple[str, Path, str]
"""One object to store: (key, source file, expected SHA-256 hex)."""

READ_CHUNK = 1024 * 1024


class Readable(Protocol):
    """What :func:`sha256_stream` reads: a binary file, or boto3's ``StreamingBody``."""

    def read(self, size: int = ..., /) -> bytes: ...


def sha256_stream(handle: Readable, chunk_size: int = READ_CHUNK) -> str:
    """SHA-256 (hex) of what ``handle`` yields until its end: every location's ``verify`` reads back with it.

    Kho's one checksum module is ``packages.checksums``, but storage_adapters imports nothing of ours
    (DESIGN.md, import-linter), so its read-back loop is this one. The loops that hash while they copy
    or send (``local``, ``replicated``, ``s3``) hash bytes on their way elsewhere and keep their own."""
    digest = hashlib.sha256()
    while chunk := handle.read(chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


class StorageError(RuntimeError):
    """A location could not do what was asked; the message names the location and key."""


@runtime_checkable
class StorageLocation(Protocol):
    url: str

    def put(self, key: str, source: Path) -> None:
        """Store the file at ``source`` under ``key`` atomically (all or nothing)."""

    def get(self, key: str, destination: Path) -> None:
        """Copy the object ``key`` to the local file ``destination``."""

    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads."""

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, in no particular order."""

    def delete(self, key: str) -> None: ...

    def verify(self, key: str, sha256: str) -> bool:
        """True when the stored object's SHA-256, read back from the location, equals ``sha256``."""


@runtime_checkable
class BatchStorageLocation(Protocol):
    """A location that can store many objects at once, with fewer round trips or flushes than
    one ``put`` + ``verify`` per object, and the same guarantees as ``ReplicatedStorage.store``."""

    def store_many(
        self,
        items: Sequence[StoreItem],
        retain_until: datetime | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        """Store and read back every item; skip (after re-verifying) those already there.

        ``on_stored(n)`` is called with n = 1..len(items) only once the objects are durable and
        verified. Raises StorageError naming the location and key on the first failure."""


def check_key(key: str) -> str:
    """Refuse keys that could leave the location's root."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"unsafe storage key {key!r}")
    return key


_USERINFO = re.compile(r"//[^/?#&]*@")


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` (also inside a percent-encoded ``endpoint_url=``),
    for error messages and logs."""
    return _USERINFO.sub("//…@", unquote(url))


# Exception class names (anywhere in the cause chain) meaning "the location could not be reached at
# all": no connection was made. botocore wraps these; a connection cut after it was made is not one.
_UNREACHABLE_NAMES = frozenset({
    "EndpointConnectionError", "ConnectTimeoutError", "ConnectionRefusedError", "ProxyConnectionError",
    "NewConnectionError",
})
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchVersion"})


def failure_kind(exc: BaseException) -> str:
    """What a StorageError (or any exception) from a location means, from its cause chain:
    ``"missing"`` (the location answered: no such object), ``"unreachable"`` (no connection could be
    made to the location) or ``"error"`` (anything else: a read cut off, an HTTP 500, a timeout...)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FileNotFoundError):
            return "missing"
        response = getattr(current, "response", None)
        if isinstance(response, dict) and str(response.get("Error", {}).get("Code", "")) in _MISSING_CODES:
            return "missing"
        if isinstance(current, ConnectionRefusedError) or any(
            cls.__name__ in _UNREACHABLE_NAMES for cls in type(current).__mro__
        ):
            return "unreachable"
        current = current.__cause__ or current.__context__
    return "error"
