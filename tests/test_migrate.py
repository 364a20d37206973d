"""Migration campaigns: a policy change yields new copies in a verified AIP revision; resumable."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml
from lxml import etree

from format_registry.policy import DEFAULT_POLICY
from tests.conftest import FIXTURE_SIPS, SCHEMAS, json_lines, run_kho


@pytest.fixture
def png_to_tiff_policy(tmp_path: Path) -> dict[str, str]:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    png = next(e for e in data["formats"] if e["id"] == "png")
    png["preservation"] = {"action": "normalise", "target": "TIFF", "tool": "pillow-tiff"}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return {"KHO_POLICY": str(path)}


def migrations(aip_id: str) -> list[dict[str, str]]:
    events = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)["events"]
    return [e for e in events if e["type"] == "migration"]


def test_campaign_dry_run_then_interrupted_then_resumed(kho_home: Path, png_to_tiff_policy: dict[str, str]) -> None:
    first = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", check=True).stdout)
    second = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                                env={"KHO_DUPLICATES": "new-version"}, check=True).stdout)
    ids = [str(first["aip_id"]), str(second["aip_id"])]
    assert json.loads(run_kho("migrate", "--dry-run", "--json", check=True).stdout)["files"] == 0
    plan = json.loads(run_kho("migrate", "--dry-run", "--json", env=png_to_tiff_policy, check=True).stdout)
    assert (plan["aips"], plan["files"]) == (2, 2) and plan["bytes"] > 0
    assert all(migrations(i) == [] for i in ids), "a dry run changes nothing"

    killed = run_kho("migrate", env={**png_to_tiff_policy, "KHO_FAULT": "migrate:after-aip:1"})
    assert killed.returncode == -signal.SIGKILL
    done = [i for i in ids if migrations(i)]
    assert len(done) == 1
    resumed = json.loads(run_kho("migrate", "--json", env=png_to_tiff_policy, check=True).stdout)
    assert resumed["migrated"] == [i for i in ids if i not in done], "finished AIPs are not redone"
    for aip_id in ids:
        assert [e["outcome"] for e in migrations(aip_id)] == ["success"]
        shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
        tiff = next(f for f in shown["files"] if f["path"] == "representations/rep-02/data/Sơ đồ khu mỏ.tif")
        assert tiff["role"] == "preservation" and tiff["mime"] == "image/tiff"
        stored = kho_home / "storage" / aip_id
        mets = etree.parse(str(stored / "METS.xml"))
        assert etree.XMLSchema(etree.parse(str(SCHEMAS / "mets-premis-combined.xsd"))).validate(mets)
        ns = {"m": "http://www.loc.gov/METS/"}
        assert mets.find("m:metsHdr", ns).get("RECORDSTATUS") == "REVISED"
        assert mets.find("m:metsHdr", ns).get("LASTMODDATE")
        from packages.eark import validate_eark

        assert validate_eark(stored).valid
        assert (stored / "metadata/other/revisions/METS.r1.xml").is_file(), "the previous revision is kept"
        assert (stored / "representations/rep-02/data/Sơ đồ khu mỏ.tif").read_bytes()[:2] in (b"II", b"MM")
    assert json.loads(run_kho("migrate", "--json", env=png_to_tiff_policy, check=True).stdout)["aips"] == 0
    audit = json.loads(run_kho("fixity", "--json", check=True).stdout)
    assert audit["failed"] == 0 and audit["checked"] == 2
    assert run_kho("events", "verify").returncode == 0


def test_migration_keeps_originals_and_earlier_derivatives(kho_home: Path, png_to_tiff_policy: dict[str, str]) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", check=True).stdout)
    aip_id = str(out["aip_id"])
    before = {f["path"]: f["sha256"] for f in json.loads(run_kho("aip", "show", aip_id, "--json").stdout)["files"]
              if f["role"] != "metadata"}
    data = yaml.safe_load(Path(png_to_tiff_policy["KHO_POLICY"]).read_text(encoding="utf-8"))
    jpeg = next(e for e in data["formats"] if e["id"] == "jpeg")
    jpeg["preservation"] = {"action": "normalise", "target": "TIFF", "tool": "pillow-tiff"}
    Path(png_to_tiff_policy["KHO_POLICY"]).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = json.loads(run_kho("migrate", "--puid", "fmt/43", "--json", env=png_to_tiff_policy, check=True).stdout)
    assert result["migrated"] == [aip_id]
    after = {f["path"]: f["sha256"] for f in json.loads(run_kho("aip", "show", aip_id, "--json").stdout)["files"]
             if f["role"] != "metadata"}
    assert all(after[path] == digest for path, digest in before.items())
    assert "representations/rep-02/data/ảnh/Lễ khánh thành.tif" in after
    assert json_lines(run_kho("aip", "list", "--json").stdout)[0]["needs_review"] is False


@pytest.mark.timeout(900)
def test_a_migration_killed_after_any_upload_keeps_the_previous_mets(
    tmp_path: Path, png_to_tiff_policy: dict[str, str]
) -> None:
    """The finding: killed between replacing METS.xml and the catalog commit, the rerun copied the
    *replaced* METS to METS.r1.xml, and the original METS was gone from every copy. Killed after each
    upload in turn (fresh archive each time), the rerun must keep the original byte for byte."""
    point = 1
    while True:
        home = tmp_path / f"home-{point}"
        first, second = tmp_path / f"a-{point}", tmp_path / f"b-{point}"
        archive = {"KHO_HOME": str(home), "KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
        aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=archive,
                                    check=True).stdout)["aip_id"]
        env = {**archive, **png_to_tiff_policy}  # the policy changes after ingest
        original = (first / aip_id / "METS.xml").read_bytes()
        killed = run_kho("migrate", env={**env, "KHO_FAULT": f"migrate:after-put:{point}"})
        if killed.returncode != -signal.SIGKILL:  # past the last upload: the campaign simply finished
            assert killed.returncode == 0, killed.stderr
            break
        resumed = json.loads(run_kho("migrate", "--json", env=env, check=True).stdout)
        assert resumed["migrated"] == [aip_id], (point, resumed)
        for root in (first, second):
            kept = root / aip_id / "metadata/other/revisions/METS.r1.xml"
            assert kept.read_bytes() == original, f"killed after upload {point}: {root.name} lost the original METS"
        audit = json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)
        assert audit["failed"] == 0, (point, audit)
        assert run_kho("events", "verify", env=env).returncode == 0
        point += 1
    assert point > 8, "two locations, each: new copy, revision copy, premis.xml, METS.xml"
