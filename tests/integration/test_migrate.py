"""Migration campaigns: a policy change yields new copies in a verified AIP revision; resumable."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml
from lxml import etree

from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import mets_schema
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import all_stored, inventory, stored_aip, stored_file


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
        stored = stored_aip(kho_home / "storage", aip_id, kho_home / "head")
        assert inventory(kho_home / "storage", aip_id)["head"] == "v2"
        mets = etree.parse(str(stored / "METS.xml"))
        assert mets_schema().validate(mets)
        ns = {"m": "http://www.loc.gov/METS/"}
        assert mets.find("m:metsHdr", ns).get("RECORDSTATUS") == "REVISED"
        assert mets.find("m:metsHdr", ns).get("LASTMODDATE")
        from packages.eark import validate_eark

        assert validate_eark(stored).valid
        assert (stored / "metadata/other/revisions/METS.r1.xml").is_file(), "the previous revision is kept"
        assert (stored / "representations/rep-02/data/Sơ đồ khu mỏ.tif").read_bytes()[:2] in (b"II", b"MM")
    assert json.loads(run_kho("migrate", "--json", env=png_to_tiff_policy, check=True).stdout)["aips"] == 0
    assert_valid_ocfl(kho_home / "storage")
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


KILL_POINTS = [
    "migrate:after-put:1",  # the first new object staged at the first location
    "version:after-stage:1",  # v2 staged at the first location only
    "version:after-stage:2",  # staged everywhere, the catalog not yet committed
    "migrate:after-commit",  # the catalog says v2; no location has published it
    "version:after-publish:1",  # published at one location of two
]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_migration_killed_anywhere_keeps_every_earlier_version(
    tmp_path: Path, png_to_tiff_policy: dict[str, str], point: str
) -> None:
    """The finding: killed between replacing METS.xml and the catalog commit, the rerun copied the
    *replaced* METS to METS.r1.xml, and the original METS was gone from every copy. With OCFL versions,
    killed at each point of the campaign, then run again: every file of v1 is byte-identical at both
    locations, both are valid OCFL objects at v2, the new copy exists once, fixity and the event chain pass."""
    home = tmp_path / "home"
    first, second = tmp_path / "a", tmp_path / "b"
    archive = {"KHO_HOME": str(home), "KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=archive,
                                check=True).stdout)["aip_id"]
    env = {**archive, **png_to_tiff_policy}  # the policy changes after ingest
    v1 = {root: {p: p.read_bytes() for p in all_stored(root, aip_id) if "/v1/" in p.as_posix()}
          for root in (first, second)}
    original_mets = stored_file(first, aip_id, "METS.xml").read_bytes()
    killed = run_kho("migrate", env={**env, "KHO_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
    resumed = json.loads(run_kho("migrate", "--json", env=env, check=True).stdout)
    assert resumed["failed"] == {}, resumed
    for root in (first, second):
        assert {p: p.read_bytes() for p in v1[root]} == v1[root], f"{point}: {root.name} changed v1"
        assert inventory(root, aip_id)["head"] == "v2", (point, root.name)
        assert_valid_ocfl(root)
        tiffs = [p for p in all_stored(root, aip_id) if p.name == "Sơ đồ khu mỏ.tif"]
        assert len(tiffs) == 1 and "/v2/content/" in tiffs[0].as_posix(), (point, tiffs)
        kept = stored_file(root, aip_id, "metadata/other/revisions/METS.r1.xml")
        assert kept.read_bytes() == original_mets, f"killed at {point}: {root.name} lost the original METS"
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    migrations = [e for e in shown["events"] if e["type"] == "migration"]
    assert [e["outcome"] for e in migrations] == ["success"], (point, migrations)
    audit = json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)
    assert audit["failed"] == 0, (point, audit)
    assert run_kho("events", "verify", env=env).returncode == 0
