"""A small Kho archive served over OAI-PMH by a real ``kho serve``, for tests that harvest it.

Copied in part from ``tests/integration/test_oai_pmh.py`` (its record builder and server start/stop), so
that no test module imports another: catalog rows are inserted directly (an ingest per record would take
minutes), with public, restricted (mode 02), confidential (mode 03) and embargoed records, each carrying a
contact person the public must never see. ``kho serve`` runs in a subprocess on 127.0.0.1, so stopping it
is a real server going away mid-harvest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from preservation.catalog import Aip, Catalog
from preservation.config import load_settings
from tests.conftest import BIN

CONTACT = "Nguyễn Thị Liên Hoa"
AGENCIES = ("Ủy ban nhân dân tỉnh Hà Tĩnh", "Sở Tài nguyên và Môi trường", "Đài Phát thanh Truyền hình")
BASE = datetime(2025, 1, 1, tzinfo=UTC)
PREFIX = "oai:kho.kho:"  # the default repositoryIdentifier (no archive_code, organization "Kho")
# settings a developer's shell may carry that would point a test's Kho somewhere else
KHO_VARIABLES = ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS",
                 "KHO_FAULT", "KHO_API_TOKENS", "KHO_ARCHIVE_CODE", "KHO_ORGANIZATION", "KHO_CONFIG")


def kind_of(number: int) -> str:
    return ("public", "public", "public", "public", "public", "restricted", "confidential", "embargoed",
            "public", "restricted")[number % 10]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``kho`` subprocess working in ``home`` and nowhere else."""
    env = {k: v for k, v in os.environ.items() if k not in KHO_VARIABLES}
    return {**env, "KHO_HOME": str(home), **extra}


@dataclass
class Archive:
    home: Path
    catalog: Catalog
    public: set[str] = field(default_factory=set)  # live and public: what a harvester must get
    hidden: set[str] = field(default_factory=set)  # restricted, confidential, embargoed
    port: int = 0
    server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oai"


def aip_row(number: int) -> tuple[Aip, str]:
    """Catalog row ``number`` and its kind; every one has an expired retention ("06") so it may be disposed of."""
    kind = kind_of(number)
    mode = {"restricted": "restricted", "confidential": "confidential"}.get(kind, "public")
    year = 2000 + number % 25
    aip_id = f"{number:08d}-0000-4000-8000-{number:012d}"
    bag_info = {
        "Source-Organization": AGENCIES[number % 3], "Contact-Name": CONTACT, "fileCode": f"H40.{year}.{number:04d}",
        "External-Identifier": f"H40.{year}.{number:04d}", "title": f"Hồ sơ khánh thành công trình số {number}",
        "maintenance": "06", "mode": {"public": "01", "restricted": "02", "confidential": "03"}[mode],
        "language": "01", "startDate": f"02/01/{year}", "endDate": f"28/12/{year}", "totalDoc": "3",
        "description": "Ghi chú nội bộ: không công bố", "Bagging-Date": "2025-01-01",
    }
    stored = BASE + timedelta(minutes=number)
    embargo = date(2999, 1, 1) if kind == "embargoed" else None
    row = Aip(id=aip_id, sip_name=f"hoso-{number}", title=bag_info["title"], status="stored",
              payload_hash=f"{number:064x}", file_count=3, total_bytes=1234, mets_sha256="0" * 64,
              needs_review=False, access_mode=mode, embargo_until=embargo, bag_info=bag_info, review_reasons=[],
              created_at=stored, stored_at=stored)
    return row, kind


def make_archive(home: Path, count: int) -> Archive:
    """A Kho at ``home`` holding ``count`` records (not served yet)."""
    catalog = Catalog(load_settings({"KHO_HOME": str(home)}).database_url)
    archive = Archive(home, catalog, port=free_port())
    rows = []
    for number in range(count):
        row, kind = aip_row(number)
        rows.append(row)
        (archive.public if kind == "public" else archive.hidden).add(row.id)
    with catalog.session() as session:
        session.add_all(rows)
    return archive


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(archive: Archive) -> None:
    archive.server = subprocess.Popen([str(BIN / "kho"), "serve", "--host", "127.0.0.1", "--port", str(archive.port)],
                                      env=clean_env(archive.home), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{archive.port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    stop(archive)
    raise AssertionError("kho serve did not start")


def stop(archive: Archive) -> None:
    if archive.server is not None:
        archive.server.terminate()
        try:
            archive.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            archive.server.kill()
            archive.server.wait()
        archive.server = None
