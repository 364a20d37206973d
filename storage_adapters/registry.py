"""Turn the ``KHO_STORAGE`` location URLs into storage objects."""

from __future__ import annotations

from urllib.parse import urlparse

from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage


def open_location(url: str) -> StorageLocation:
    scheme = urlparse(url).scheme
    if scheme == "file":
        return LocalStorage.from_url(url)
    raise StorageError(f"{url}: unsupported storage URL scheme {scheme!r}; this version supports file:///abs/path")
