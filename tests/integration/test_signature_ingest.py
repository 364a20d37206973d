"""Digital signatures at ingest, end to end (issue #18 A and B): ``kho ingest`` of a SIP with signed PDFs,
detached CMS and XML signatures records each verdict as a PREMIS ``digital signature validation`` event,
flags the AIP for review, keeps the evidence in the AIP, and ``kho authenticity verify`` agrees from that
evidence alone; ``KHO_SIGNATURE_POLICY=refuse`` rejects the SIP instead."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import rewrite_manifest
from tests.signed_samples import Samples, signed_samples
from tests.stored import object_dir

EVENT = "digital signature validation"
# file in the samples -> (expected status of each of its signatures)
SIGNED = {
    "one.pdf": ["valid"],
    "two.pdf": ["valid", "valid"],
    "changed-page.pdf": ["invalid"],
    "record.txt": ["valid"],  # with record.txt.p7s beside it
    "stranger.txt": ["indeterminate"],  # signed under a root the archive does not trust
    "valid.xml": ["valid"],
    "tampered.xml": ["invalid"],
}
COMPANIONS = ["record.txt.p7s", "stranger.txt.p7s", "unsigned.pdf"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samples]:
    with signed_samples(tmp_path_factory.mktemp("signed")) as built:
        yield built


def signed_sip(tmp_path: Path, samples: Samples, names: list[str]) -> Path:
    bag = tmp_path / "sips" / "hoso-ky-so"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", bag)
    for name in names:
        shutil.copyfile(samples.files[name], bag / "data" / name)
    rewrite_manifest(bag)
    return bag


def env_for(samples: Samples, **extra: str) -> dict[str, str]:
    return {"KHO_TRUST_ANCHORS": str(samples.pki.anchors_dir), **extra}


def signature_events(aip_id: str) -> list[dict]:
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    return [e for e in shown["events"] if e["type"] == EVENT]


@pytest.mark.timeout(300)
def test_each_signature_gets_its_verdict_and_verify_agrees_from_the_stored_evidence(
    kho_home: Path, tmp_path: Path, samples: Samples,
) -> None:
    sip = signed_sip(tmp_path, samples, [*SIGNED, *COMPANIONS])
    done = run_kho("ingest", str(sip), "--json", env=env_for(samples), check=True)
    aip_id = json.loads(done.stdout)["aip_id"]

    events = signature_events(aip_id)
    outcomes = {"valid": "success", "invalid": "failure", "indeterminate": "warning"}
    for name, statuses in SIGNED.items():
        mine = [e for e in events if f" of data/{name};" in e["detail"]]
        assert sorted(e["outcome"] for e in mine) == sorted(outcomes[s] for s in statuses), (name, mine)
    assert len(events) == sum(len(s) for s in SIGNED.values()), "unsigned files and .p7s files give no event"
    changed = next(e for e in events if "changed-page.pdf" in e["detail"])
    assert "modified_after_signing" in changed["outcome_detail"] and "sau khi ký" in changed["outcome_detail"]

    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["needs_review"] is True
    reasons = " ".join(shown["review_reasons"])
    for name in ("changed-page.pdf", "stranger.txt", "tampered.xml"):
        assert name in reasons
    assert "one.pdf" not in reasons

    stored = object_dir(kho_home / "storage", aip_id)
    head = sorted(p.name for p in stored.iterdir() if p.name.startswith("v"))[-1]
    evidence = stored / head / "content" / "metadata" / "preservation" / "signatures"
    assert evidence.is_dir(), sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*"))[:40]
    records = sorted(evidence.glob("*.json"))
    assert len(records) == len(SIGNED)
    assert any(evidence.glob("crls/*.crl")) and any(evidence.glob("certs/*.cer")) and any(evidence.glob("anchors/*"))
    assert len(sorted(evidence.glob("*.xml"))) == len(SIGNED)
    mets = (stored / head / "content" / "METS.xml").read_text(encoding="utf-8")
    assert "metadata/preservation/signatures/" in mets, "the evidence is listed in METS"

    # B: re-validated from the AIP alone, the trust anchors folder gone (the stored anchors suffice)
    verified = run_kho("authenticity", "verify", aip_id, "--json", env={"KHO_TRUST_ANCHORS": ""})
    assert verified.returncode == 1, verified.stderr  # some signatures are not valid
    listed = json_lines(verified.stdout)
    by_file: dict[str, list[str]] = {}
    for entry in listed:
        assert set(entry) >= {"path", "format", "signer", "signing_time", "status", "reason"}
        assert entry["status"] == entry["stored_status"], entry
        by_file.setdefault(Path(str(entry["path"])).name, []).append(str(entry["status"]))
    assert {k: sorted(v) for k, v in by_file.items()} == {k: sorted(v) for k, v in SIGNED.items()}

    page = run_kho("authenticity", "report", aip_id, "--format", "html")
    assert page.returncode == 1 and "Báo cáo xác thực chữ ký số" in page.stdout and "không hợp lệ" in page.stdout


@pytest.mark.timeout(300)
@pytest.mark.storage_left_damaged  # it flips a byte of a stored CRL on purpose (ocfl-validate rightly objects)
def test_an_aip_of_valid_signatures_verifies_and_a_changed_evidence_file_is_caught(
    kho_home: Path, tmp_path: Path, samples: Samples,
) -> None:
    sip = signed_sip(tmp_path, samples, ["one.pdf", "record.txt", "record.txt.p7s", "valid.xml"])
    aip_id = json.loads(run_kho("ingest", str(sip), "--json", env=env_for(samples), check=True).stdout)["aip_id"]
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["needs_review"] is False, shown["review_reasons"]  # the .p7s is a known format, kept as is
    verified = run_kho("authenticity", "verify", aip_id, "--json", env=env_for(samples))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert [e["status"] for e in json_lines(verified.stdout)] == ["valid"] * 3

    stored = object_dir(kho_home / "storage", aip_id)
    crl = next((stored / "v1" / "content" / "metadata" / "preservation" / "signatures" / "crls").glob("*.crl"))
    crl.write_bytes(crl.read_bytes()[:-1] + b"\x00")  # bit rot in the stored evidence
    broken = run_kho("authenticity", "verify", aip_id, "--json", env=env_for(samples))
    assert broken.returncode == 1, broken.stderr
    problems = [e for e in json_lines(broken.stdout) if "evidence_problem" in e]
    assert problems and {Path(str(p["path"])).name for p in problems} == {crl.name}, problems


@pytest.mark.timeout(300)
def test_the_refuse_policy_rejects_the_sip(kho_home: Path, tmp_path: Path, samples: Samples) -> None:
    sip = signed_sip(tmp_path, samples, ["one.pdf", "changed-page.pdf"])
    done = run_kho("ingest", str(sip), "--json", env=env_for(samples, KHO_SIGNATURE_POLICY="refuse"))
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "rejected"
    assert "signature" in result["reason"] and "changed-page.pdf" in result["reason"]
