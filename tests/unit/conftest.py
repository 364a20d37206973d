"""Fixtures for unit tests that need what an ingest leaves behind: a catalog with a stored AIP.

The AIP is made by the engine's own in-process ingest (``ingest_path``, what ``kho ingest`` calls), so that
these tests exercise the module under test on a real AIP and not on rows invented to suit it. The default
SIP, ``hoso-2023-sotnmt-02`` (a PDF, a PNG, a text file; restricted, mode 02), needs no conversion: about
0.3 s an ingest once the identification signatures are loaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from preservation.catalog import Catalog
from preservation.config import load_settings
from preservation.pipeline import Context, ingest_path
from tests.conftest import FIXTURE_SIPS
from tests.helpers import Ingest, rewrite_manifest, with_bag_info


@pytest.fixture
def context(kho_home: Path) -> Iterator[Context]:
    """The engine's context on this test's KHO_HOME (settings from the environment, as the CLI reads them)."""
    ctx = Context(load_settings())
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def catalog(context: Context) -> Catalog:
    return context.catalog


@pytest.fixture
def ingest(context: Context, tmp_path: Path) -> Ingest:
    """``ingest(name, files={...}, **bag_info)``: ingest a private copy of the fixture SIP ``name`` in-process,
    with ``files`` (path in the bag: bytes) added to its payload and the given ``bag-info.txt`` labels
    changed (``mode="01"`` makes it public); returns the AIP id."""
    def run(name: str = "hoso-2023-sotnmt-02", files: dict[str, bytes] | None = None, **bag_info: str) -> str:
        sip = tmp_path / "sips" / name
        if sip.exists():
            shutil.rmtree(sip)
        shutil.copytree(FIXTURE_SIPS / name, sip)
        for relpath, data in (files or {}).items():
            (sip / relpath).parent.mkdir(parents=True, exist_ok=True)
            (sip / relpath).write_bytes(data)
        if files:
            rewrite_manifest(sip)
        if bag_info:
            with_bag_info(sip, **bag_info)
        result = ingest_path(context, sip)
        assert result.status == "stored", result.to_dict()
        return result.aip_id

    return run
