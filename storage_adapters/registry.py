"""Turn the ``KHO_STORAGE`` location URLs into storage objects."""

from __future__ import annotations

from urllib.parse import urlparse

from storage_adapters.base import StorageError, StorageLocation, redact_url
from storage_adapters.local import LocalStorage

SUPPORTED = "file:///abs/path, s3://bucket/prefix[?endpoint_url=...&region=...]"


def open_location(url: str) -> StorageLocation:
    scheme = urlparse(url).scheme
    if scheme == "file":
        return LocalStorage.from_url(url)
    if scheme == "s3":
        from storage_adapters.s3 import S3Storage  # boto3 costs ~0.1 s to import: only when used

        return S3Storage.from_url(url)
    raise StorageError(f"{redact_url(url)}: unsupported storage URL scheme {scheme!r}; supported: {SUPPORTED}")
