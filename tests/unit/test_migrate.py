"""preservation/migrate.py: migration campaigns act on exactly what the format policy now asks for.

A campaign plans only the originals whose policy asks for a copy they do not have (nothing else is fetched
or converted), a dry run changes nothing, and a migration adds a new OCFL version with the new copy, a
PREMIS ``migration`` event and a revised METS, leaving every byte of the earlier version as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from format_registry.policy import cached_policy, load_policy
from preservation.catalog import Catalog
from preservation.migrate import find_candidates, migrate_aip, run_campaign
from tests.helpers import Ingest, mets_schema
from tests.stored import inventory, object_dir, stored_file

PNG = "data/Sơ đồ khu mỏ.png"  # in hoso-2023-sotnmt-02, beside a PDF and a text file


@pytest.fixture(autouse=True)
def _fresh_policy() -> Iterator[None]:
    """``cached_policy()`` reads KHO_POLICY once per process: each test sees its own policy."""
    cached_policy.cache_clear()
    yield
    cached_policy.cache_clear()


def version_bytes(root: Path, aip_id: str, version: str) -> dict[str, str]:
    base = object_dir(root, aip_id) / version
    return {p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


def test_the_current_policy_plans_nothing_for_a_fresh_aip(ingest: Ingest, catalog: Catalog) -> None:
    ingest()
    assert find_candidates(catalog, load_policy()) == [], "ingest already made every copy the policy asks for"


def test_a_policy_change_plans_only_the_formats_it_names(
    ingest: Ingest, catalog: Catalog, png_to_tiff_policy: dict[str, str]
) -> None:
    aip_id = ingest()
    policy = load_policy(Path(png_to_tiff_policy["KHO_POLICY"]))
    [candidate] = find_candidates(catalog, policy)
    png = next(f for f in catalog.files(aip_id) if f.original_path == PNG)
    assert candidate.aip_id == aip_id
    assert [f.id for f in candidate.files] == [png.id], "the PDF and the text file are left alone"
    assert [(j.source_id, j.source_path, j.purpose, j.tool, j.target) for j in candidate.jobs] == [
        (png.id, PNG, "preservation", "pillow-tiff", "TIFF")]
    assert candidate.bytes == png.size
    [only_png] = find_candidates(catalog, policy, puid=png.puid)
    assert [f.id for f in only_png.files] == [png.id]
    assert find_candidates(catalog, policy, puid="fmt/18") == [], "a campaign limited to PDF finds nothing"


def test_a_dry_run_changes_nothing(
    ingest: Ingest, catalog: Catalog, kho_home: Path, png_to_tiff_policy: dict[str, str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    aip_id = ingest()
    monkeypatch.setenv("KHO_POLICY", png_to_tiff_policy["KHO_POLICY"])
    cached_policy.cache_clear()  # the ingest loaded the default policy; a new `kho migrate` process reads this one
    before = (len(catalog.files(aip_id)), len(catalog.events(aip_id)), inventory(kho_home / "storage", aip_id))
    plan = run_campaign(catalog, dry_run=True).to_dict()
    assert (plan["dry_run"], plan["aips"], plan["files"]) == (True, 1, 1) and plan["migrated"] == []
    assert plan["plan"] == [{"aip_id": aip_id, "files": [
        {"path": PNG, "purpose": "preservation", "target": "TIFF", "tool": "pillow-tiff"}]}]
    after = (len(catalog.files(aip_id)), len(catalog.events(aip_id)), inventory(kho_home / "storage", aip_id))
    assert after == before


def test_a_migration_adds_a_version_and_never_touches_the_earlier_one(
    ingest: Ingest, catalog: Catalog, kho_home: Path, png_to_tiff_policy: dict[str, str]
) -> None:
    aip_id = ingest()
    root = kho_home / "storage"
    v1 = version_bytes(root, aip_id, "v1")
    policy = load_policy(Path(png_to_tiff_policy["KHO_POLICY"]))
    [candidate] = find_candidates(catalog, policy)
    migrate_aip(catalog, policy, candidate, digests=("sha256",), organization="Trung tâm Lưu trữ tỉnh")

    assert version_bytes(root, aip_id, "v1") == v1, "every byte of v1 as it was"
    head = inventory(root, aip_id)
    assert head["head"] == "v2" and catalog.get_aip(aip_id).ocfl_head == "v2"  # type: ignore[union-attr]
    png = next(f for f in catalog.files(aip_id) if f.original_path == PNG)
    [tiff] = [f for f in catalog.files(aip_id) if f.source_id == png.id]
    assert (tiff.role, tiff.puid) == ("preservation", "fmt/353")
    stored_tiff = stored_file(root, aip_id, tiff.path)
    assert stored_tiff.is_relative_to(object_dir(root, aip_id) / "v2")
    assert hashlib.sha256(stored_tiff.read_bytes()).hexdigest() == tiff.sha256
    [event] = [e for e in catalog.events(aip_id) if e.event_type == "migration"]
    assert event.outcome == "success" and tiff.id in event.object_ids and png.id in event.object_ids

    mets = etree.parse(str(stored_file(root, aip_id, "METS.xml")))
    assert mets_schema().validate(mets), [str(e) for e in mets_schema().error_log][:5]
    header = mets.getroot().find("{http://www.loc.gov/METS/}metsHdr")
    assert header.get("RECORDSTATUS") == "REVISED"
    hrefs = {f.get("{http://www.w3.org/1999/xlink}href") for f in mets.iter("{http://www.loc.gov/METS/}FLocat")}
    assert tiff.path in hrefs and "metadata/other/revisions/METS.r1.xml" in hrefs
    v1_mets = stored_file(root, aip_id, "METS.xml", "v1").read_bytes()
    assert stored_file(root, aip_id, "metadata/other/revisions/METS.r1.xml").read_bytes() == v1_mets
    assert find_candidates(catalog, policy) == [], "a migrated AIP is not planned again"
