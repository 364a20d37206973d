"""Normalisation with the real tools (LibreOffice, Ghostscript, Pillow, ffmpeg) and the format policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from lxml import etree

from format_registry.policy import DEFAULT_POLICY, DEFAULT_TOOLS, PolicyError, load_policy
from tests.conftest import CORPORA, FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import mets_schema, rewrite_manifest
from tests.stored import stored_aip


def need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the Makefile installs it when run as root)")


def test_demo_sip_gets_preservation_and_access_copies(kho_home: Path) -> None:
    need("soffice", "gs")
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", check=True).stdout)
    aip_id = str(out["aip_id"])
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    files = {f["path"]: f for f in shown["files"]}
    docx_pdfa = files["representations/rep-02/data/Tờ trình.pdf"]
    assert (docx_pdfa["role"], docx_pdfa["puid"]) == ("preservation", "fmt/477")  # PDF/A-2b
    assert docx_pdfa["source_id"] == files["representations/rep-01/data/Tờ trình.docx"]["id"]
    assert files["representations/rep-02/data/Quyết định 123-QĐ-UBND.pdf"]["puid"] == "fmt/477"
    tiff_access = files["representations/rep-03/data/ảnh/Bản đồ.jpg"]
    assert (tiff_access["role"], tiff_access["mime"]) == ("access", "image/jpeg")
    assert shown["needs_review"] is False
    stored = stored_aip(kho_home / "storage", aip_id, kho_home / "head")
    assert (stored / "representations/rep-02/data/Tờ trình.pdf").read_bytes().startswith(b"%PDF")
    mets = etree.parse(str(stored / "METS.xml"))
    assert mets_schema().validate(mets)
    ns = {"m": "http://www.loc.gov/METS/", "p": "http://www.loc.gov/premis/v3"}
    assert {g.get("USE") for g in mets.iterfind(".//m:fileGrp", ns)} >= {
        "Representations/rep-01", "Representations/rep-02", "Representations/rep-03"}
    premis_doc = etree.parse(str(stored / "metadata/preservation/premis.xml"))
    sources = premis_doc.xpath("//p:relationship[p:relationshipSubType='has source']"
                               "/p:relatedObjectIdentifier/p:relatedObjectIdentifierValue/text()", namespaces=ns)
    assert files["representations/rep-01/data/Tờ trình.docx"]["id"] in sources
    events = [e for e in shown["events"] if e["type"] == "normalization"]
    assert len(events) == 3 and {e["outcome"] for e in events} == {"success"}


def test_audio_and_video_are_normalised(kho_home: Path, sample_sip: Path) -> None:
    need("ffmpeg")
    shutil.copy(CORPORA / "formats/audio/fits_Jess26676_Pugua.mp3", sample_sip / "data" / "Ghi âm.mp3")
    shutil.copy(CORPORA / "formats/video/small_mp4-with-audio.mp4", sample_sip / "data" / "Phim.mp4")
    for name in ("Tờ trình.docx", "Quyết định 123-QĐ-UBND.pdf", "ảnh"):
        target = sample_sip / "data" / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    rewrite_manifest(sample_sip)
    out = json.loads(run_kho("ingest", str(sample_sip), "--json", check=True).stdout)
    shown = json.loads(run_kho("aip", "show", str(out["aip_id"]), "--json", check=True).stdout)
    by_path = {f["path"]: f for f in shown["files"]}
    assert by_path["representations/rep-02/data/Ghi âm.wav"]["role"] == "preservation"
    assert by_path["representations/rep-03/data/Ghi âm.mp3"]["mime"] == "audio/mpeg"
    assert by_path["representations/rep-02/data/Phim.mkv"]["role"] == "preservation"
    assert by_path["representations/rep-03/data/Phim.mp4"]["role"] == "access"


def test_failed_conversion_is_an_event_and_flags_review(kho_home: Path, tmp_path: Path) -> None:
    tools = yaml.safe_load(DEFAULT_TOOLS.read_text(encoding="utf-8"))
    tools["tools"]["libreoffice-writer-pdfa"] = {
        "command": ["{python}", "-c", "import time; time.sleep(30)"], "output": "{outdir}/{stem}.pdf",
        "extension": "pdf", "timeout": 1, "expect": ["fmt/477"]}
    tools["tools"]["ghostscript-pdfa"]["command"] = ["{python}", "-c", "import sys; sys.exit('gs exploded')"]
    custom = tmp_path / "tools.yaml"
    custom.write_text(yaml.safe_dump(tools, allow_unicode=True), encoding="utf-8")
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json",
                             env={"KHO_TOOLS": str(custom)}, check=True).stdout)
    aip_id = str(out["aip_id"])
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["needs_review"] is True
    assert any("timed out after 1 s" in r for r in shown["review_reasons"])
    failures = [e for e in shown["events"] if e["type"] == "normalization" and e["outcome"] == "failure"]
    assert len(failures) == 2 and any("gs exploded" in e["outcome_detail"] for e in failures)
    assert "representations/rep-01/data/Tờ trình.docx" in {f["path"] for f in shown["files"]}
    flagged = json_lines(run_kho("aip", "list", "--needs-review", "--json", check=True).stdout)
    assert [a["aip_id"] for a in flagged] == [aip_id]


def test_policy_errors_name_file_place_and_rule(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    data["formats"][0]["risk"] = "extreme"
    data["formats"][1]["preservation"] = {"action": "normalise"}
    data["formats"][2]["preservation"]["tool"] = "no-such-tool"
    broken = tmp_path / "policy.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(broken)
    message = str(caught.value)
    assert "formats/0/risk" in message and "'extreme' is not one of" in message
    assert "formats/1/preservation" in message and "'target' is a required property" in message
    result = run_kho("policy", "check", "--policy", str(broken))
    assert result.returncode == 1 and str(broken) in result.stderr
    data["formats"][0]["risk"] = "low"
    data["formats"][1]["preservation"] = {"action": "keep"}
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match="no-such-tool"):
        load_policy(broken)


def test_policy_explain_and_show() -> None:
    explained = json.loads(run_kho("policy", "explain", "--json",
                                   str(FIXTURE_SIPS / "hoso-2024-ubnd-01/data/Tờ trình.docx"), check=True).stdout)
    assert explained["policy_entry"] == "word-processing" and explained["matched_by"] == "puid fmt/412"
    assert "PDF/A" in explained["rule"] and explained["preservation"].startswith("normalise to PDF/A-2b")
    assert run_kho("policy", "check", check=True).returncode == 0
    assert "word-processing" in run_kho("policy", "show", check=True).stdout
    assert run_kho("policy", "explain", "/no/such/file").returncode == 1


def test_normalisation_in_batches_gives_the_same_aip(kho_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches (Airflow maps them over workers) must produce what one batch does, with no path collision."""
    from preservation import pipeline as ingest
    from preservation.config import load_settings
    from preservation.pipeline.steps import normalise

    need("soffice", "gs")
    monkeypatch.setattr(normalise, "NORMALISE_BATCH", 1)
    ctx = ingest.Context(load_settings())
    workspace = ingest.start_copy(ctx, FIXTURE_SIPS / "hoso-2024-ubnd-01")
    for step in ingest.STEPS[: ingest.STEPS.index("normalise")]:
        ingest.run_step(ctx, workspace, step)
    batches = ingest.normalise_plan(ctx, workspace)
    assert batches == [0, 1, 2]
    for index in reversed(batches):  # any order, as on parallel workers
        ingest.normalise_batch(ctx, workspace, index)
    ingest.run_step(ctx, workspace, "normalise")
    output = workspace.output("normalise")
    assert sorted(d["aip_path"] for d in output["derivatives"]) == [
        "representations/rep-02/data/Quyết định 123-QĐ-UBND.pdf", "representations/rep-02/data/Tờ trình.pdf",
        "representations/rep-03/data/ảnh/Bản đồ.jpg"]
    result = ingest.run_pipeline(ctx, workspace)
    assert result.status == "stored"
    ctx.close()
