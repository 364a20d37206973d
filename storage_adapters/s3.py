"""A storage location in an S3 bucket (AWS S3, MinIO, Ceph RGW, ...): ``s3://bucket/prefix``.

One object per AIP file (``<prefix>/<aip-id>/<relative path>``), so reading one file never
touches the rest of the AIP. Uploads stream from disk part by part (constant memory), every part
carries its own SHA-256 for the server to check, and the whole-file SHA-256 is kept as object
metadata (``x-amz-meta-sha256``). A multipart upload is completed only when every part went
through and is aborted otherwise, so a failed ``put`` never leaves a partial object behind.

Kho never creates a bucket as a side effect of storing: a typo in a URL must fail loudly, not
scatter an archive over a new bucket. ``init`` (``kho storage init``) creates and configures it.
"""

from __future__ import annotations

import base64
import functools
import hashlib  # not packages.checksums: storage_adapters imports nothing of ours (DESIGN.md, import-linter)
import io
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from storage_adapters.base import StorageError, StoreItem, check_key, redact_url, sha256_stream
from storage_adapters.local import partial_path

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import ObjectLockRetentionModeType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
CHUNK = MiB
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3 rejects smaller parts (except the last one)
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
MAX_KEY_BYTES = 1024
PROBE_DIR = ".kho-probe"
INCOMPLETE_UPLOAD_DAYS = 7
UPLOAD_WORKERS = 4  # parallel objects in store_many; below botocore's 10 pooled connections

SSE_MODES = ("AES256", "aws:kms")
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
ADDRESSING_STYLES = ("auto", "path", "virtual")
URL_PARAMETERS = (
    "endpoint_url",
    "region",
    "profile",
    "addressing_style",
    "sse",
    "kms_key_id",
    "object_lock",
    "retention_days",
)
# Codes S3 and S3-compatible servers use for "no such object" (HEAD has no body, hence bare 404).
MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchVersion"})
MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
# Errors after which sending the same part again can help (botocore has already retried them).
RETRYABLE_TRANSFER_ERRORS = (BotoConnectionError, HTTPClientError)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")

T = TypeVar("T")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = error.get("Message") or "no message"
        return f"{error.get('Code', '?')}: {message} (HTTP {_http_status(exc)})"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ?profile=)"
    return f"{type(exc).__name__}: {exc}"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _FileRange:
    """One part of the source file as a seekable stream.

    The part is never held in memory, botocore can rewind it for a retry, and the SHA-256 of the
    last complete pass (what actually went on the wire) is kept to catch a source that changed
    after its checksums were computed.
    """

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._handle = handle
        self._offset = offset
        self._length = length
        self._pos = 0
        self._hash = hashlib.sha256()
        self._hashed = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        self._handle.seek(self._offset + self._pos)
        data = self._handle.read(size)
        if self._hashed == self._pos:
            self._hash.update(data)
            self._hashed += len(data)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        if self._pos == 0:
            self._hash = hashlib.sha256()
            self._hashed = 0
        return self._pos

    def tell(self) -> int:
        return self._pos

    def sent_sha256(self) -> str | None:
        """Base64 SHA-256 of the last full pass, or None when no pass read the whole part."""
        return _b64(self._hash.digest()) if self._hashed == self._length else None


class _ObjectReader(io.RawIOBase):
    """A GetObject body as a raw stream, so ``open`` returns a real BinaryIO and network errors
    surface as StorageError like every other failure of a location."""

    def __init__(self, body: Any, where: str) -> None:
        super().__init__()
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, OSError) as exc:
            raise StorageError(f"{self._where}: {_describe(exc)}") from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Storage:
    """A Kho storage location in one S3 bucket, optionally below a key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
        object_lock: str | None = None,
        retention_days: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        part_retries: int = 3,
        retry_backoff: float = 1.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.profile = profile
        self.addressing_style = addressing_style
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.object_lock = object_lock
        self.retention_days = retention_days
        self.part_size = part_size
        self.part_retries = part_retries
        self.retry_backoff = retry_backoff
        self.url = self._canonical_url()
        self._validate()
        extra: dict[str, Any] = {"s3": {"addressing_style": addressing_style}} if addressing_style else {}
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            user_agent_extra="kho-storage",
            **extra,
        )
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            self.client: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except BotoCoreError as exc:
            raise StorageError(f"{self.url}: cannot set up the S3 client: {_describe(exc)}") from exc
        self._bucket_ok = False
        self._page_size = 1000

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Storage:
        """``s3://BUCKET[/PREFIX][?endpoint_url=&region=&profile=&addressing_style=&sse=&kms_key_id=
        &object_lock=&retention_days=]``; ``options`` are passed to the constructor (tuning, tests)."""
        parsed = urlparse(url)
        safe = redact_url(url)  # error messages never echo credentials someone put in the URL
        if parsed.scheme != "s3":
            raise StorageError(f"{safe}: an S3 location must be s3://bucket/prefix")
        if "@" in parsed.netloc:
            raise StorageError(
                f"{safe}: credentials do not belong in a storage URL; "
                "use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ?profile="
            )
        if not parsed.netloc:
            raise StorageError(f"{safe}: the S3 URL names no bucket (s3://bucket/prefix)")
        try:
            query = parse_qs(parsed.query, keep_blank_values=True, strict_parsing=bool(parsed.query))
        except ValueError as exc:
            raise StorageError(f"{safe}: malformed query string") from exc
        unknown = sorted(set(query) - set(URL_PARAMETERS))
        if unknown:
            raise StorageError(f"{safe}: unknown S3 URL parameter(s) {unknown}; known: {', '.join(URL_PARAMETERS)}")
        repeated = sorted(name for name, values in query.items() if len(values) > 1)
        if repeated:
            raise StorageError(f"{safe}: S3 URL parameter(s) {repeated} given more than once")
        params: dict[str, str] = {name: values[0] for name, values in query.items() if values[0] != ""}
        retention: int | None = None
        if "retention_days" in params:
            try:
                retention = int(params.pop("retention_days"))
            except ValueError as exc:
                raise StorageError(f"{safe}: retention_days must be a whole number of days") from exc
        location = cls(
            parsed.netloc,
            unquote(parsed.path),
            endpoint_url=params.get("endpoint_url"),
            region=params.get("region"),
            profile=params.get("profile"),
            addressing_style=params.get("addressing_style"),
            sse=params.get("sse"),
            kms_key_id=params.get("kms_key_id"),
            object_lock=params.get("object_lock"),
            retention_days=retention,
            **options,
        )
        location.url = url
        return location

    def _canonical_url(self) -> str:
        url = f"s3://{self.bucket}" + (f"/{quote(self.prefix)}" if self.prefix else "")
        params = [
            ("endpoint_url", self.endpoint_url),
            ("region", self.region),
            ("profile", self.profile),
            ("addressing_style", self.addressing_style),
            ("sse", self.sse),
            ("kms_key_id", self.kms_key_id),
            ("object_lock", self.object_lock),
            ("retention_days", None if self.retention_days is None else str(self.retention_days)),
        ]
        present = [(name, value) for name, value in params if value]
        return url + ("?" + urlencode(present, safe=":/") if present else "")

    def _validate(self) -> None:
        problems = []
        if not _BUCKET_NAME.match(self.bucket):
            problems.append(f"{self.bucket!r} is not a valid bucket name")
        if self.prefix:
            try:
                check_key(self.prefix)
            except StorageError:
                problems.append(f"unsafe key prefix {self.prefix!r}")
        if self.endpoint_url is not None:
            endpoint = urlparse(self.endpoint_url)
            if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
                problems.append("endpoint_url must be http(s)://host[:port]")
            if "@" in endpoint.netloc:
                problems.append("credentials do not belong in endpoint_url")
        if self.addressing_style is not None and self.addressing_style not in ADDRESSING_STYLES:
            problems.append(f"addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
        if self.sse is not None and self.sse not in SSE_MODES:
            problems.append(f"sse must be one of {', '.join(SSE_MODES)}")
        if self.kms_key_id and self.sse != "aws:kms":
            problems.append("kms_key_id needs sse=aws:kms")
        if self.object_lock is not None and self.object_lock not in LOCK_MODES:
            problems.append(f"object_lock must be one of {', '.join(LOCK_MODES)}")
        if (self.object_lock is None) != (self.retention_days is None):
            problems.append("object_lock and retention_days go together")
        if self.retention_days is not None and self.retention_days < 1:
            problems.append("retention_days must be at least 1")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            problems.append(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if problems:
            # The URL may hold a malformed endpoint with credentials; name the bucket only.
            raise StorageError(f"s3://{self.bucket}: " + "; ".join(problems))

    # -- helpers ----------------------------------------------------------------------------

    def _object_key(self, key: str) -> str:
        check_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise StorageError(f"{self.url}: key {key!r} is longer than S3's {MAX_KEY_BYTES} bytes")
        return full

    def _missing_bucket(self) -> StorageError:
        endpoint = self.client.meta.endpoint_url
        return StorageError(
            f"{self.url}: bucket {self.bucket!r} does not exist at {endpoint}. Kho does not create buckets "
            "while storing; run `kho storage init` for this location to create and configure it."
        )

    def _fail(self, action: str, key: str | None, exc: BaseException) -> StorageError:
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, ClientError) and _error_code(exc) in MISSING_BUCKET_CODES:
            return self._missing_bucket()
        target = f" {key}" if key else ""
        return StorageError(f"{self.url}: cannot {action}{target}: {_describe(exc)}")

    def _require_bucket(self) -> None:
        """One HeadBucket per instance: a 404 from HeadObject cannot tell a missing object from a
        missing bucket, and a missing bucket must be reported as such, not as "not stored yet"."""
        if self._bucket_ok:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _http_status(exc) == 404 or _error_code(exc) in MISSING_BUCKET_CODES:
                raise self._missing_bucket() from exc
            raise self._fail("access bucket", self.bucket, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("reach the S3 endpoint for bucket", self.bucket, exc) from exc
        self._bucket_ok = True

    def _write_args(
        self, sha256_hex: str, *, retention: bool = True, retain_until: datetime | None = None
    ) -> dict[str, Any]:
        args: dict[str, Any] = {"Metadata": {"sha256": sha256_hex}}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        if retention and self.object_lock and self.retention_days:
            until = datetime.now(UTC) + timedelta(days=self.retention_days)
            args["ObjectLockMode"] = self.object_lock
            args["ObjectLockRetainUntilDate"] = max(until, retain_until) if retain_until else until
        return args

    def _with_retries(self, call: Callable[[], T], body: _FileRange) -> T:
        """botocore already retries each request; this re-sends a whole part (or small object)
        a few more times when the connection keeps dropping, with exponential backoff.

        The body is rewound before every attempt: botocore sends a stream from wherever it was
        left, and a failed attempt leaves it part-way through.
        """
        attempt = 0
        while True:
            body.seek(0)
            try:
                return call()
            except RETRYABLE_TRANSFER_ERRORS:
                attempt += 1
                if attempt > self.part_retries:
                    raise
                time.sleep(self.retry_backoff * 2 ** (attempt - 1))

    def _effective_part_size(self, size: int) -> int:
        if size > MAX_OBJECT_SIZE:
            raise StorageError(f"{self.url}: {size} bytes exceed S3's 5 TiB object limit")
        if size <= self.part_size * MAX_PARTS:
            return self.part_size
        return math.ceil(size / MAX_PARTS / MiB) * MiB

    @staticmethod
    def _checksums(handle: BinaryIO, size: int, part_size: int) -> tuple[str, list[tuple[int, int, str]]]:
        """Whole-file hex SHA-256 and (offset, length, base64 SHA-256) per part, in one read.

        The whole-file digest is needed before the upload starts: S3 metadata is fixed when the
        object (or multipart upload) is created.
        """
        whole = hashlib.sha256()
        plan: list[tuple[int, int, str]] = []
        offset = 0
        while offset < size or not plan:
            length = min(part_size, size - offset)
            part = hashlib.sha256()
            remaining = length
            while remaining:
                chunk = handle.read(min(CHUNK, remaining))
                if not chunk:
                    raise OSError("source file shrank while it was being read")
                whole.update(chunk)
                part.update(chunk)
                remaining -= len(chunk)
            plan.append((offset, length, _b64(part.digest())))
            offset += length
        if handle.read(1):
            raise OSError("source file grew while it was being read")
        return whole.hexdigest(), plan

    # -- the StorageLocation protocol --------------------------------------------------------

    def put(self, key: str, source: Path, retain_until: datetime | None = None) -> None:
        """Upload ``source`` atomically: one PutObject up to ``part_size``, else a multipart upload
        that is completed only when every part arrived intact and aborted on any failure.

        With Object Lock configured, ``retain_until`` (the record's own retention, e.g. 10 years after
        its work ended) extends the location's minimum ``retention_days``; it never shortens it."""
        full = self._object_key(key)
        self._require_bucket()
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below, kept open across retries
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot store {key}: {exc}") from exc
        with handle:
            try:
                size = os.fstat(handle.fileno()).st_size
                part_size = self._effective_part_size(size)
                sha256_hex, plan = self._checksums(handle, size, part_size)
            except OSError as exc:
                raise StorageError(f"{self.url}: cannot store {key}: reading {source}: {exc}") from exc
            if len(plan) == 1:
                self._put_single(key, full, handle, plan[0], sha256_hex, retain_until)
            else:
                self._put_multipart(key, full, handle, plan, sha256_hex, retain_until)

    def _put_single(
        self,
        key: str,
        full: str,
        handle: BinaryIO,
        part: tuple[int, int, str],
        sha256_hex: str,
        retain_until: datetime | None = None,
    ) -> None:
        offset, length, checksum = part
        body = _FileRange(handle, offset, length)
        call = functools.partial(
            self.client.put_object,
            Bucket=self.bucket,
            Key=full,
            Body=cast(BinaryIO, body) if length else b"",
            ContentLength=length,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
            **self._write_args(sha256_hex, retain_until=retain_until),
        )
        try:
            self._with_retries(call, body)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._fail("store", key, exc) from exc
        sent = body.sent_sha256() if length else checksum
        if sent is not None and sent != checksum:
            # S3 itself rejects this (BadDigest); S3-compatible servers may not, so say it here.
            raise StorageError(f"{self.url}: cannot store {key}: the source file changed during the upload")

    def _put_multipart(
        self,
        key: str,
        full: str,
        handle: BinaryIO,
        plan: list[tuple[int, int, str]],
        sha256_hex: str,
        retain_until: datetime | None = None,
    ) -> None:
        write_args = self._write_args(sha256_hex, retain_until=retain_until)
        try:
            created = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                ChecksumAlgorithm="SHA256",
                **write_args,
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("start the upload of", key, exc) from exc
        upload_id = created["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, (offset, length, checksum) in enumerate(plan, start=1):
                body = _FileRange(handle, offset, length)
                call = functools.partial(
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=cast(BinaryIO, body),
                    ContentLength=length,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
                response = self._with_retries(call, body)
                sent = body.sent_sha256()
                if sent is not None and sent != checksum:
                    raise StorageError(
                        f"{self.url}: cannot store {key}: the source file changed during the upload (part {number})"
                    )
                parts.append({"ETag": response["ETag"], "PartNumber": number, "ChecksumSHA256": checksum})
            completed = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            leftover = self._abort(full, upload_id)
            if not isinstance(exc, Exception):
                raise
            error = self._fail("store", key, exc)
            if leftover:
                error = StorageError(f"{error}; {leftover}")
            raise error from exc
        if "ObjectLockMode" in write_args:
            mode, until = write_args["ObjectLockMode"], write_args["ObjectLockRetainUntilDate"]
            self._lock_completed(key, full, completed.get("VersionId"), mode, until)

    def _lock_completed(
        self, key: str, full: str, version_id: str | None, mode: ObjectLockRetentionModeType, until: datetime
    ) -> None:
        """Make sure a completed multipart upload is locked as asked.

        AWS applies the Object Lock headers of CreateMultipartUpload; Ceph RGW 16 and moto 5 accept
        and ignore them, which would leave every large file of an AIP deletable. So the new version
        is checked and, if needed, its retention set explicitly. When that fails the version (not
        locked, so removable) is deleted: a failed ``put`` leaves nothing a resume would accept.
        """
        version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full, **version)
            held = head.get("ObjectLockRetainUntilDate")
            if head.get("ObjectLockMode") == mode and held is not None and held >= until - timedelta(seconds=1):
                return
            self.client.put_object_retention(
                Bucket=self.bucket, Key=full, Retention={"Mode": mode, "RetainUntilDate": until}, **version
            )
        except (BotoCoreError, ClientError) as exc:
            error = self._fail("lock", key, exc)
            if version_id:
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=version_id)
                except (BotoCoreError, ClientError) as cleanup:
                    error = StorageError(f"{error}; the unlocked version {version_id} is left: {_describe(cleanup)}")
            raise error from exc

    def store_many(
        self,
        items: Sequence[StoreItem],
        retain_until: datetime | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        """``ReplicatedStorage.store`` for many objects, a few at a time: small objects are bound by
        request latency, not bandwidth, so parallel requests (the client is thread-safe) win.

        Each object is still skipped only when it reads back right, else put and read back.
        ``on_stored(n)`` says the first n items are done. The first failure stops the batch (uploads
        already started finish; each is atomic) and is raised."""
        if not items:
            return
        keys = [key for key, _source, _sha in items]
        if len(set(keys)) != len(keys):  # two threads must never race to write one key
            raise StorageError(f"{self.url}: {next(k for k in keys if keys.count(k) > 1)} is given more than once")
        self._require_bucket()  # once, before the threads: a missing bucket fails fast and clearly

        def store(item: StoreItem) -> None:
            key, source, sha256 = item
            if self.exists(key) and self.verify(key, sha256):
                return
            self.put(key, source, retain_until)
            if not self.verify(key, sha256):
                raise StorageError(f"{self.url}: {key} read back with a different SHA-256")

        done = [False] * len(items)
        reported = 0
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS, thread_name_prefix="kho-s3") as pool:
            futures = {pool.submit(store, item): index for index, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    future.result()
                    done[futures[future]] = True
                    while reported < len(items) and done[reported]:
                        reported += 1
                        if on_stored is not None:
                            on_stored(reported)
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise

    def _abort(self, full: str, upload_id: str) -> str | None:
        """Abort the upload so no parts linger (and bill); return a note when that failed too."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except ClientError as exc:
            if _error_code(exc) == "NoSuchUpload":
                return None
            return f"the incomplete upload {upload_id} could not be aborted ({_describe(exc)})"
        except BotoCoreError as exc:
            return f"the incomplete upload {upload_id} could not be aborted ({_describe(exc)})"
        return None

    def _get_object(self, key: str, action: str, *, missing_ok: bool = False) -> Any:
        """GetObject response, or None for a missing object when ``missing_ok``."""
        full = self._object_key(key)
        self._require_bucket()
        try:
            return self.client.get_object(Bucket=self.bucket, Key=full)
        except (BotoCoreError, ClientError) as exc:
            if isinstance(exc, ClientError) and _error_code(exc) in MISSING_OBJECT_CODES:
                if missing_ok:
                    return None
                raise StorageError(f"{self.url}: cannot {action} {key}: no such object") from exc
            raise self._fail(action, key, exc) from exc

    def get(self, key: str, destination: Path) -> None:
        """Stream the object into a temporary file beside ``destination``, then rename it into place."""
        response = self._get_object(key, "read")
        destination = Path(destination)
        partial = partial_path(destination)  # short: a 255-byte name must fit
        try:
            with closing(response["Body"]) as body, open(partial, "wb") as out:
                for chunk in body.iter_chunks(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, destination)
        except (BotoCoreError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise self._fail("read", key, exc) from exc

    def open(self, key: str) -> BinaryIO:
        """A buffered stream over one GetObject: only this object is fetched, and only as far as read."""
        response = self._get_object(key, "open")
        return io.BufferedReader(_ObjectReader(response["Body"], f"{self.url}: cannot read {key}"), CHUNK)

    def exists(self, key: str) -> bool:
        full = self._object_key(key)
        self._require_bucket()
        try:
            self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if _error_code(exc) in MISSING_OBJECT_CODES or _http_status(exc) == 404:
                return False
            raise self._fail("check", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("check", key, exc) from exc
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys below the directory ``prefix`` (``aip-1`` does not match ``aip-10/...``), relative
        to the location, fetched page by page."""
        sub = prefix.strip("/")
        if sub:
            check_key(sub)
        root = f"{self.prefix}/" if self.prefix else ""
        query = root + (f"{sub}/" if sub else "")
        self._require_bucket()
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=query, PaginationConfig={"PageSize": self._page_size})
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    relative = item["Key"][len(root) :]
                    if relative.endswith("/") or relative.startswith(f"{PROBE_DIR}/"):
                        continue  # folder markers made by consoles; check()'s probe objects
                    yield relative
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix or "/", exc) from exc

    def delete(self, key: str) -> None:
        """Delete the current object. In a versioned bucket this adds a delete marker; earlier
        versions stay (and object-locked ones cannot be removed before their retention ends)."""
        full = self._object_key(key)
        self._require_bucket()
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def verify(self, key: str, sha256: str) -> bool:
        """Read the whole object back and compare its SHA-256; False when it is missing or differs.

        The stored ``sha256`` metadata is deliberately not trusted: it says what was sent, not
        what the location holds now. Failures to reach the location raise StorageError.
        """
        response = self._get_object(key, "verify", missing_ok=True)
        if response is None:
            return False
        try:
            with closing(response["Body"]) as body:
                found = sha256_stream(body, CHUNK)
        except FlexibleChecksumError:
            return False  # the bytes read do not match the checksum S3 stored at upload
        except (BotoCoreError, OSError) as exc:
            raise self._fail("verify", key, exc) from exc
        return found == sha256.lower()

    # -- setup and diagnostics (kho storage init / check) -------------------------------------

    def init(self) -> dict[str, Any]:
        """Create the bucket if needed, enable versioning (and Object Lock when configured) and
        return ``{"created": bool, **check()}``. Safe to run again on an existing bucket."""
        created = False
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _http_status(exc) != 404 and _error_code(exc) not in MISSING_BUCKET_CODES:
                raise self._fail("access bucket", self.bucket, exc) from exc
            created = self._create_bucket()
        except BotoCoreError as exc:
            raise self._fail("reach the S3 endpoint for bucket", self.bucket, exc) from exc
        try:
            self.client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
            if self.object_lock and not created and not self._object_lock_state()["enabled"]:
                # Possible on AWS for existing versioned buckets; other servers may refuse.
                self.client.put_object_lock_configuration(
                    Bucket=self.bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
                )
            if created:
                # Uploads cut off so hard that even the abort failed are cleaned up by S3 itself.
                self.client.put_bucket_lifecycle_configuration(
                    Bucket=self.bucket,
                    LifecycleConfiguration={
                        "Rules": [
                            {
                                "ID": "kho-abort-incomplete-uploads",
                                "Status": "Enabled",
                                "Filter": {"Prefix": f"{self.prefix}/" if self.prefix else ""},
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": INCOMPLETE_UPLOAD_DAYS},
                            }
                        ]
                    },
                )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("configure bucket", self.bucket, exc) from exc
        self._bucket_ok = True
        return {"created": created, **self.check()}

    def _create_bucket(self) -> bool:
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if self.object_lock:
            args["ObjectLockEnabledForBucket"] = True  # only possible at creation on many servers
        try:
            self.client.create_bucket(**args)
        except ClientError as exc:
            if _error_code(exc) == "BucketAlreadyOwnedByYou":
                return False
            raise self._fail("create bucket", self.bucket, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("create bucket", self.bucket, exc) from exc
        return True

    def _object_lock_state(self) -> dict[str, Any]:
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            if _error_code(exc) in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
                return {"enabled": False, "mode": None, "days": None, "years": None}
            raise
        retention = config.get("Rule", {}).get("DefaultRetention", {})
        return {
            "enabled": config.get("ObjectLockEnabled") == "Enabled",
            "mode": retention.get("Mode"),
            "days": retention.get("Days"),
            "years": retention.get("Years"),
        }

    def check(self) -> dict[str, Any]:
        """Diagnose the location without changing it (a probe object is written and removed).

        Returns ``url, bucket, prefix, endpoint, reachable, bucket_exists, writable, versioning
        ("Enabled" | "Suspended" | "Disabled" | None), object_lock ({enabled, mode, days, years} |
        None), problems, warnings, ok``; ``ok`` means no problems.
        """
        result: dict[str, Any] = {
            "url": self.url,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint": self.client.meta.endpoint_url,
            "reachable": False,
            "bucket_exists": False,
            "writable": False,
            "versioning": None,
            "object_lock": None,
            "problems": [],
            "warnings": [],
            "ok": False,
        }
        problems: list[str] = result["problems"]
        warnings: list[str] = result["warnings"]
        try:
            self.client.head_bucket(Bucket=self.bucket)
            result["reachable"] = result["bucket_exists"] = True
        except ClientError as exc:
            result["reachable"] = True
            if _http_status(exc) == 404 or _error_code(exc) in MISSING_BUCKET_CODES:
                problems.append(str(self._missing_bucket()))
            else:
                problems.append(str(self._fail("access bucket", self.bucket, exc)))
        except BotoCoreError as exc:
            problems.append(str(self._fail("reach the S3 endpoint for bucket", self.bucket, exc)))
        if result["bucket_exists"]:
            try:
                status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
                result["versioning"] = status or "Disabled"
                if result["versioning"] != "Enabled":
                    warnings.append("versioning is not enabled: an overwrite or delete destroys the only copy")
            except (BotoCoreError, ClientError) as exc:
                warnings.append(f"cannot read the versioning status: {_describe(exc)}")
            try:
                result["object_lock"] = self._object_lock_state()
            except (BotoCoreError, ClientError) as exc:
                warnings.append(f"cannot read the Object Lock configuration: {_describe(exc)}")
            if self.object_lock and not (result["object_lock"] or {}).get("enabled"):
                problems.append(
                    f"object_lock={self.object_lock} is configured but the bucket has no Object Lock; "
                    "run `kho storage init` on a new bucket"
                )
            self._probe(result)
        result["ok"] = not problems
        return result

    def _probe(self, result: dict[str, Any]) -> None:
        """Write, read back and remove a small object, including the version it left behind."""
        key = f"{PROBE_DIR}/{uuid.uuid4().hex}"
        full = f"{self.prefix}/{key}" if self.prefix else key
        data = b"kho storage check\n"
        sha = hashlib.sha256(data)
        try:
            written = self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(sha.digest()),
                **self._write_args(sha.hexdigest(), retention=False),
            )
        except (BotoCoreError, ClientError) as exc:
            result["problems"].append(f"cannot write a probe object: {_describe(exc)}")
            return
        applied = written.get("ServerSideEncryption")
        if self.sse and applied != self.sse:
            # Ceph RGW accepts AES256 without a KMS back end and stores the object in clear.
            result["problems"].append(
                f"sse={self.sse} is configured but the server stored a probe object "
                f"{'with ' + applied if applied else 'without encryption'}: objects would not be encrypted as asked"
            )
        try:
            if not self.verify(key, sha.hexdigest()):
                result["problems"].append("a probe object read back with a different SHA-256")
            else:
                result["writable"] = True
        except StorageError as exc:
            result["problems"].append(f"cannot read a probe object back: {exc}")
        try:
            if written.get("VersionId"):
                self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=written["VersionId"])
            else:
                self.client.delete_object(Bucket=self.bucket, Key=full)
        except (BotoCoreError, ClientError) as exc:
            result["warnings"].append(f"cannot remove the probe object {full}: {_describe(exc)}")
