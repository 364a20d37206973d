"""Storage on a local S3 endpoint (moto server over HTTP): Kho's ``S3Storage`` (SHA-256 part checksums,
read-back verification) against plain boto3 ``upload_file`` / ``download_file`` on the same data
(what ``aws s3 cp`` does), for one large object and for many small ones; the same small files as one
tar object (the "one object per AIP" alternative of docs/decisions/0004); and the peak RSS of a process
storing a large AIP file (target <= 200 MB; ``--gb 2`` for the issue's 2 GB).

moto keeps objects in memory and is slower than MinIO or S3: the ratios, not the MB/s, carry over.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

from bench.common import Figure, Result, Target, temp_dir
from tests.s3_server import MotoServer

DEFAULT_GB = 0.25
SMALL_FILES = 500
SMALL_SIZE = 20_000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report its parent's peak.
RSS_WORKER = """
import sys
from pathlib import Path
from storage_adapters.s3 import S3Storage
store = S3Storage(sys.argv[2], "aips", endpoint_url=sys.argv[1])
store.put("aip/big.bin", Path(sys.argv[3]))
assert store.verify("aip/big.bin", sys.argv[4])
status = Path("/proc/self/status").read_text()
print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024)
"""


def _sha256(path: Path) -> str:
    from packages.checksums import hash_file

    return hash_file(path, ["sha256"])["sha256"]


def run(gb: float | None = None, files: int | None = None, runs: int = 3, keep: bool = False, **_: Any) -> Result:
    from storage_adapters.s3 import S3Storage

    gb = gb or DEFAULT_GB
    count = files or SMALL_FILES
    result = Result("storage", {"gb": gb, "small_files": count, "small_size": SMALL_SIZE, "runs": runs})
    os.environ.update(CREDENTIALS)
    with temp_dir("storage", keep) as tmp, MotoServer() as server:
        big = tmp / "big.bin"
        with open(big, "wb") as handle:
            for _ in range(int(gb * 1000)):
                handle.write(os.urandom(1_000_000))
        big_sha = _sha256(big)
        small = []
        for number in range(count):
            path = tmp / "small" / f"tệp-{number:05d}.bin"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(os.urandom(SMALL_SIZE))
            small.append(path)
        tar_path = tmp / "aip.tar"
        with tarfile.open(tar_path, "w") as archive:
            for path in small:
                archive.add(path, arcname=path.name)
        result.corpus = {"large_bytes": big.stat().st_size, "small_files": count, "small_bytes": SMALL_SIZE}
        megabytes = big.stat().st_size / 1e6
        client = boto3.client("s3", endpoint_url=server.endpoint_url)
        up_kho, up_base, down_kho, down_base, many_kho, many_base, tar_base = [], [], [], [], [], [], []
        one_object, one_via_tar = [], []
        for _ in range(runs):
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            client.create_bucket(Bucket=bucket)
            store = S3Storage(bucket, "aips", endpoint_url=server.endpoint_url)
            started = time.perf_counter()
            store.put("aip/big.bin", big)
            assert store.verify("aip/big.bin", big_sha)
            up_kho.append(megabytes / (time.perf_counter() - started))
            started = time.perf_counter()
            client.upload_file(str(big), bucket, "plain/big.bin")
            up_base.append(megabytes / (time.perf_counter() - started))
            started = time.perf_counter()
            store.get("aip/big.bin", tmp / "down-kho.bin")
            down_kho.append(megabytes / (time.perf_counter() - started))
            started = time.perf_counter()
            client.download_file(bucket, "plain/big.bin", str(tmp / "down-plain.bin"))
            down_base.append(megabytes / (time.perf_counter() - started))
            started = time.perf_counter()
            for path in small:
                store.put(f"aip/small/{path.name}", path)
                assert store.verify(f"aip/small/{path.name}", _sha256(path))
            many_kho.append(count / (time.perf_counter() - started))
            started = time.perf_counter()
            for path in small:
                client.upload_file(str(path), bucket, f"plain/small/{path.name}")
            many_base.append(count / (time.perf_counter() - started))
            started = time.perf_counter()
            client.upload_file(str(tar_path), bucket, "plain/aip.tar")
            tar_base.append(count / (time.perf_counter() - started))
            started = time.perf_counter()
            store.get(f"aip/small/{small[count // 2].name}", tmp / "one.bin")
            one_object.append(time.perf_counter() - started)
            started = time.perf_counter()
            whole = io.BytesIO()
            client.download_fileobj(bucket, "plain/aip.tar", whole)  # one file of a tar AIP costs all of it
            with tarfile.open(fileobj=io.BytesIO(whole.getvalue())) as archive:
                member = archive.extractfile(small[count // 2].name)
                assert member is not None and len(member.read()) == SMALL_SIZE
            one_via_tar.append(time.perf_counter() - started)
        result.add(Figure("upload one large object, verified by read-back", "MB/s", up_kho, "boto3 upload_file",
                          up_base))
        result.add(Figure("download one large object", "MB/s", down_kho, "boto3 download_file", down_base))
        result.add(Figure(f"{count} small objects, each verified by read-back", "files/s", many_kho,
                          "boto3 upload_file per file", many_base,
                          other_baselines={"the same files as one tar object": tar_base}))
        result.add(Figure("read one file of a stored AIP", "s", one_object, "the same AIP as one tar object",
                          one_via_tar, higher_is_better=False))
        rss = []
        for _ in range(runs):
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            client.create_bucket(Bucket=bucket)
            done = subprocess.run([sys.executable, "-c", RSS_WORKER, server.endpoint_url, bucket, str(big), big_sha],
                                  capture_output=True, text=True, timeout=3600, check=True,
                                  cwd=str(Path(__file__).resolve().parents[1]))
            rss.append(float(done.stdout.strip().splitlines()[-1]))
        result.add(Figure(f"peak RSS storing and verifying a {megabytes / 1000:g} GB object", "MB", rss,
                          target=Target("value_max", 200, "<= 200 MB"), higher_is_better=False))
        result.notes.append("moto keeps objects in memory; absolute MB/s are moto's, ratios carry over")
    return result
