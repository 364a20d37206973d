"""Hand-over between two archives (two KHO_HOMEs): export with history, receive, a receipt signed with the
receiver's X.509 certificate, checked by the sender against that certificate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packages.eark import validate_eark
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.pki import RECEIVER_NAME, SENDER_NAME, Pki, build_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


def test_export_receive_receipt(tmp_path: Path, pki: Pki) -> None:
    sender = {"KHO_HOME": str(tmp_path / "agency"), "KHO_ORGANIZATION": SENDER_NAME,
              **pki.organisation(SENDER_NAME).env()}
    receiver_identity = pki.organisation(RECEIVER_NAME)
    receiver = {"KHO_HOME": str(tmp_path / "historical"), "KHO_ORGANIZATION": RECEIVER_NAME,
                **receiver_identity.env()}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=sender,
                                check=True).stdout)["aip_id"]
    sender_events = {e["id"] for e in json_lines(run_kho("events", "export", aip_id, "--format", "json",
                                                         env=sender, check=True).stdout)}
    out = tmp_path / "handover"
    exported = run_kho("transfer", "export", aip_id, "--to", "Trung tâm Lưu trữ lịch sử tỉnh", "-o", str(out),
                       env=sender)
    assert exported.returncode == 0, exported.stderr
    package = out / f"transfer-{aip_id}.zip"
    assert package.is_file() and (out / "muc-luc-ho-so.csv").is_file() and (out / "muc-luc-ho-so.pdf").is_file()
    assert "Hồ sơ về việc khánh thành cầu Cửa Hội" in (out / "muc-luc-ho-so.csv").read_text(encoding="utf-8-sig")
    report = validate_eark(package, strict=True)  # E-ARK SIP 2.2, every file listed (decision 0015)
    assert report.valid and report.kind == "SIP", [f.text for f in report.failures]
    assert report.profile == "https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-2-0.xml", "SIP2 as 2.2 states it"
    assert json_lines(run_kho("transfer", "list", "--json", env=sender).stdout)[0]["status"] != "transferred"

    receipt = tmp_path / "receipt.json"
    received = run_kho("transfer", "receive", str(package), "--from", "UBND tỉnh Hà Tĩnh", "--receipt",
                       str(receipt), env=receiver)
    assert received.returncode == 0, received.stderr
    new_id = json.loads(receipt.read_text(encoding="utf-8"))["packages"][0]["new_aip_id"]
    history = json_lines(run_kho("events", "export", new_id, "--format", "json", env=receiver, check=True).stdout)
    assert sender_events <= {e["id"] for e in history}, "the sender's PREMIS history is kept"
    custody = [e for e in history if e["event_type"] == "transfer" and "custody received" in str(e["detail"])]
    assert len(custody) == 1
    assert run_kho("events", "verify", env=receiver).returncode == 0
    files = json.loads(run_kho("aip", "show", new_id, "--json", env=receiver, check=True).stdout)["files"]
    assert any(f["path"] == "representations/rep-01/data/Tờ trình.docx" for f in files)

    cert = ["--receiver-cert", str(receiver_identity.cert_pem)]
    tampered = json.loads(receipt.read_text(encoding="utf-8"))
    tampered["receiver"] = "someone else"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(tampered), encoding="utf-8")
    refused = run_kho("transfer", "receipt", str(forged), "--export-dir", str(out), *cert, env=sender)
    assert refused.returncode == 1 and "signature" in refused.stderr
    assert "chữ ký biên bản không hợp lệ" in refused.stderr
    # a forger's own certificate with the receiver's name, signing a receipt of its making
    impostor = pki.self_made(RECEIVER_NAME)
    faked = tmp_path / "faked.json"
    made = run_kho("transfer", "receive", str(tmp_path / "missing.zip"), "--from", SENDER_NAME, "--receipt",
                   str(faked), env={**receiver, "KHO_HOME": str(tmp_path / "impostor"), **impostor.env()})
    assert made.returncode == 1 and faked.is_file()
    body = json.loads(faked.read_text(encoding="utf-8"))
    assert RECEIVER_NAME in body["signature"]["signer"]
    refused = run_kho("transfer", "receipt", str(faked), "--export-dir", str(out), *cert, env=sender)
    assert refused.returncode == 1 and "does not verify" in refused.stderr, refused.stderr
    unchecked = run_kho("transfer", "receipt", str(receipt), "--export-dir", str(out), env=sender)
    assert unchecked.returncode == 1 and "--receiver-cert" in unchecked.stderr
    accepted = run_kho("transfer", "receipt", str(receipt), "--export-dir", str(out), *cert, env=sender)
    assert accepted.returncode == 0, accepted.stderr
    assert f"signed by CN={RECEIVER_NAME}" in accepted.stdout
    assert json_lines(run_kho("transfer", "list", "--json", env=sender).stdout)[0]["status"] == "transferred"
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=sender, check=True).stdout)["events"]
    assert [e["type"] for e in events].count("transfer") == 2  # exported, then custody transferred
    verified = run_kho("events", "verify", env=sender)  # the hand-over changed the AIP's row with an event
    assert verified.returncode == 0 and f"signed by CN={SENDER_NAME}" in verified.stdout, verified.stderr


def test_receiving_without_a_key_cannot_sign(tmp_path: Path) -> None:
    home = {"KHO_HOME": str(tmp_path / "a")}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=home,
                                check=True).stdout)["aip_id"]
    run_kho("transfer", "export", aip_id, "--to", "B", "-o", str(tmp_path / "out"), env=home, check=True)
    result = run_kho("transfer", "receive", str(tmp_path / "out" / f"transfer-{aip_id}.zip"), "--from", "A",
                     "--receipt", str(tmp_path / "r.json"), env={"KHO_HOME": str(tmp_path / "b")})
    assert result.returncode == 2 and "KHO_SIGNING_KEY" in result.stderr
    assert not (tmp_path / "b" / "storage").exists(), "refused before anything was ingested"
