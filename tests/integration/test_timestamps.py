"""RFC 3161 time-stamps of each AIP version and their evidence record, end to end: ``kho ingest`` and
``kho migrate`` with ``KHO_TSA_URL`` set against a real TSA over HTTP on 127.0.0.1 (tests/tsa.py), then
``kho authenticity timestamps`` and ``kho authenticity renew`` (docs/decisions/0024)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from packages import ocfl
from preservation import evidence
from preservation.timestamps import load_anchors
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import object_dir
from tests.tsa import TsaPki, TsaServer, running_tsa

EVENT = "message digest calculation"


@pytest.fixture(scope="module")
def pki() -> TsaPki:
    return TsaPki.make()


@pytest.fixture
def tsa(pki: TsaPki) -> Iterator[TsaServer]:
    with running_tsa(pki) as server:
        yield server


@pytest.fixture
def anchors(tmp_path: Path, pki: TsaPki) -> Path:
    return pki.anchors_dir(tmp_path / "anchors")


def env_for(tsa: TsaServer, anchors: Path, path: str = "/tsa") -> dict[str, str]:
    return {"KHO_TSA_URL": tsa.url(path), "KHO_TRUST_ANCHORS": str(anchors)}


def ingest(env: dict[str, str], sip: str = "hoso-2023-sotnmt-02") -> str:
    return str(json.loads(run_kho("ingest", str(FIXTURE_SIPS / sip), "--json", env=env, check=True).stdout)["aip_id"])


def evidence_dir(kho_home: Path, aip_id: str) -> Path:
    return object_dir(kho_home / "storage", aip_id) / "logs" / "kho-evidence"


def record(kho_home: Path, aip_id: str) -> dict:
    return json.loads((evidence_dir(kho_home, aip_id) / "evidence.json").read_text(encoding="utf-8"))


def checked(aip_id: str, env: dict[str, str]) -> tuple[int, dict]:
    done = run_kho("authenticity", "timestamps", aip_id, "--json", env=env)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def stamp_events(aip_id: str) -> list[dict]:
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    return [e for e in shown["events"] if e["type"] == EVENT and "RFC 3161" in e["detail"]]


def test_each_version_is_timestamped_renewed_with_sha512_and_a_tampered_token_is_caught(
    kho_home: Path, tsa: TsaServer, anchors: Path, png_to_tiff_policy: dict[str, str], pki: TsaPki,
) -> None:
    env = env_for(tsa, anchors)
    aip_id = ingest(env)
    data = record(kho_home, aip_id)
    (first,) = data["timestamps"]
    assert (first["kind"], first["versions"], first["outcome"], first["hash_algorithm"]) == (
        "version", ["v1"], "success", "sha256")
    inventory_v1 = (object_dir(kho_home / "storage", aip_id) / "v1" / ocfl.INVENTORY).read_bytes()
    assert first["imprint"] == hashlib.sha256(inventory_v1).hexdigest(), "the first stamp is of inventory.json itself"
    token = evidence_dir(kho_home, aip_id) / f"{first['token_sha256']}.tsr"
    assert token.is_file()
    if shutil.which("openssl"):  # a third party checks the token with nothing of Kho's
        verified = subprocess.run(
            ["openssl", "ts", "-verify", "-digest", first["imprint"], "-in", str(token), "-token_in",
             "-CAfile", str(anchors / "root.pem")], capture_output=True, text=True, timeout=60, check=False)
        assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr

    code, report = checked(aip_id, env)
    assert code == 0 and report["status"] == "valid", report
    assert report["timestamps"][0]["chain"][-1].startswith("Common Name: Tổ chức chứng thực gốc thử nghiệm Kho")

    # a migration publishes v2: stamped, and its event is in the catalog at once
    migrated = json.loads(run_kho("migrate", "--json", env={**png_to_tiff_policy, **env}, check=True).stdout)
    assert migrated["migrated"] == [aip_id]
    data = record(kho_home, aip_id)
    assert [(s["kind"], s["versions"], s["outcome"]) for s in data["timestamps"]] == [
        ("version", ["v1"], "success"), ("version", ["v2"], "success")]
    assert any("version v2" in e["detail"] and e["outcome"] == "success" for e in stamp_events(aip_id))

    # the ingest's stamp event reaches the catalog with the first renew (the store step does not hand it over)
    renewed = json.loads(run_kho("authenticity", "renew", aip_id, "--json", env=env, check=True).stdout)
    assert renewed["action"] == "current"
    details = [e["detail"] for e in stamp_events(aip_id)]
    assert [any(f"inventory of version {v}," in d for d in details) for v in ("v1", "v2")] == [True, True]

    # the policy retires SHA-256: one renewal with SHA-512 covers both versions and both tokens
    renewed = json.loads(run_kho("authenticity", "renew", "--all", "--hash", "sha512", "--json", env=env,
                                 check=True).stdout)
    assert renewed["action"] == "renewed" and "sha512 replaces sha256" in renewed["reason"]
    last = record(kho_home, aip_id)["timestamps"][-1]
    assert (last["kind"], last["versions"], last["previous"], last["hash_algorithm"]) == (
        "renewal", ["v1", "v2"], [1, 2], "sha512")
    assert len(bytes.fromhex(last["imprint"])) == 64
    code, report = checked(aip_id, env)
    assert code == 0 and report["status"] == "valid", report
    assert [t["status"] for t in report["timestamps"]] == ["valid"] * 3
    assert json.loads(run_kho("authenticity", "renew", aip_id, "--hash", "sha512", "--json", env=env,
                              check=True).stdout)["action"] == "current", "nothing more is due"
    assert len(stamp_events(aip_id)) == 3

    text = run_kho("authenticity", "timestamps", aip_id, env=env)
    assert text.returncode == 0 and "#3 renewal [v1, v2 + timestamps 1, 2] sha512" in text.stdout

    # an earlier token altered in storage: that stamp, and the renewal that covered it, fail
    first_token = evidence_dir(kho_home, aip_id) / f"{record(kho_home, aip_id)['timestamps'][0]['token_sha256']}.tsr"
    damaged = bytearray(first_token.read_bytes())
    damaged[-20] ^= 0x01
    first_token.write_bytes(bytes(damaged))
    code, report = checked(aip_id, env)
    assert code == 1 and report["status"] == "invalid"
    assert report["timestamps"][0]["status"] == "invalid" and "altered" in report["timestamps"][0]["reason"]
    first_token.write_bytes(bytes(damaged[:-20]) + bytes([damaged[-20] ^ 0x01]) + bytes(damaged[-19:]))
    assert checked(aip_id, env)[0] == 0, "the original bytes back: valid again"
    assert_valid_ocfl(kho_home / "storage")  # logs/ is outside every version


@pytest.mark.storage_left_damaged("the version's inventory is edited behind Kho's back on purpose")
def test_an_edited_inventory_breaks_its_stamp(kho_home: Path, tsa: TsaServer, anchors: Path) -> None:
    env = env_for(tsa, anchors)
    aip_id = ingest(env)
    inventory_v1 = object_dir(kho_home / "storage", aip_id) / "v1" / ocfl.INVENTORY
    inventory_v1.write_bytes(inventory_v1.read_bytes().replace(b'"message"', b'"message" ', 1))
    code, report = checked(aip_id, env)
    assert code == 1 and report["status"] == "invalid"


def test_tsa_down_the_aip_is_stored_with_a_warning_and_renew_adds_the_stamp(
    kho_home: Path, tsa: TsaServer, anchors: Path,
) -> None:
    env = env_for(tsa, anchors)
    tsa.down()
    aip_id = ingest(env)  # stored all the same
    assert run_kho("aip", "show", aip_id, "--json", check=True).returncode == 0
    (attempt,) = record(kho_home, aip_id)["timestamps"]
    assert attempt["outcome"] == "warning" and attempt["token_sha256"] is None
    assert "cannot be reached" in attempt["outcome_detail"] and "kho authenticity renew" in attempt["outcome_detail"]
    code, report = checked(aip_id, env)
    assert code == 1 and report["status"] == "indeterminate" and "no timestamp of v1" in report["reason"]

    failed = run_kho("authenticity", "renew", aip_id, env=env)
    assert failed.returncode == 1 and "cannot be reached" in failed.stderr
    tsa.up()
    renewed = json.loads(run_kho("authenticity", "renew", aip_id, "--json", env=env, check=True).stdout)
    assert renewed["action"] == "renewed" and "no timestamp of v1" in renewed["reason"]
    stamps = record(kho_home, aip_id)["timestamps"]
    assert [s["outcome"] for s in stamps] == ["warning", "warning", "success"]
    assert stamps[-1]["kind"] == "version" and stamps[-1]["versions"] == ["v1"]
    assert checked(aip_id, env)[0] == 0
    events = stamp_events(aip_id)
    assert [e["outcome"] for e in events] == ["warning", "warning", "success"], "every attempt is on record"


def test_renewal_before_the_tsa_certificate_expires_keeps_the_chain_verifiable(
    kho_home: Path, tsa: TsaServer, anchors: Path, pki: TsaPki,
) -> None:
    aip_id = ingest(env_for(tsa, anchors, "/short"))  # a TSA whose certificate expires in 20 days
    env = env_for(tsa, anchors)
    assert json.loads(run_kho("authenticity", "renew", aip_id, "--before-days", "10", "--json", env=env,
                              check=True).stdout)["action"] == "current"
    renewed = json.loads(run_kho("authenticity", "renew", "--all", "--json", env=env, check=True).stdout)
    assert renewed["action"] == "renewed" and "the TSA certificate of timestamp 1 expires" in renewed["reason"]

    from preservation.catalog_guard import open_catalog
    from preservation.config import load_settings

    catalog = open_catalog(load_settings())
    try:
        roots = load_anchors(anchors)
        later = datetime.now(UTC) + timedelta(days=pki.short_days + 30)  # the first TSA certificate has expired
        report = evidence.verify_aip(catalog, aip_id, roots, now=later)
        assert report.status == "valid", report.to_dict()
        assert "when timestamp 2 covered it" in report.stamps[0].reason

        held = evidence.read_held(evidence.open_location(catalog.copies(aip_id)[0].location), aip_id)
        assert held.record is not None
        unrenewed = evidence.EvidenceRecord(aip_id, held.record.versions, held.record.stamps[:1])
        inventories = {"v1": (object_dir(kho_home / "storage", aip_id) / "v1" / ocfl.INVENTORY).read_bytes()}
        alone = evidence.verify_record(unrenewed, held.tokens, inventories, roots, now=later)
        assert alone.status == "indeterminate" and "not valid at the moment checked" in alone.reason
    finally:
        catalog.close()


def test_a_tsa_under_an_unknown_root_is_indeterminate(kho_home: Path, tsa: TsaServer, anchors: Path) -> None:
    aip_id = ingest(env_for(tsa, anchors, "/untrusted"))
    code, report = checked(aip_id, env_for(tsa, anchors))
    assert code == 1 and report["status"] == "indeterminate"
    assert "does not chain to a trust anchor" in report["timestamps"][0]["reason"]


def test_without_a_tsa_nothing_is_stamped_and_the_commands_say_so(kho_home: Path) -> None:
    aip_id = ingest({})
    assert not (evidence_dir(kho_home, aip_id)).exists()
    done = run_kho("authenticity", "renew", aip_id)
    assert done.returncode == 2 and "KHO_TSA_URL" in done.stderr
    code, report = checked(aip_id, {})
    assert code == 1 and report["status"] == "indeterminate" and "no evidence record" in report["reason"]


def test_the_ingest_records_its_stamp_at_once_and_checkpoints_are_stamped(
    kho_home: Path, tsa: TsaServer, anchors: Path,
) -> None:
    from preservation.timestamps import verify_timestamp

    aip_id = ingest(env_for(tsa, anchors))
    assert len(stamp_events(aip_id)) == 1, "the store step hands the version's stamp event to the catalog"
    checkpoints = kho_home / "storage" / "extensions" / "kho-checkpoints"
    stamped = sorted(checkpoints.glob("*.json.tsr"))
    assert stamped, f"no checkpoint was time-stamped: {sorted(p.name for p in checkpoints.iterdir())}"
    for token in stamped:
        body = token.with_suffix("").read_bytes()  # <seq>.json beside <seq>.json.tsr
        info = verify_timestamp(token.read_bytes(), hashlib.sha256(body).digest(), load_anchors(anchors))
        assert info.status == "valid", info
        tampered = verify_timestamp(token.read_bytes(), hashlib.sha256(body + b" ").digest(), load_anchors(anchors))
        assert tampered.status == "invalid"

    env = env_for(tsa, anchors)
    checked_trail = run_kho("events", "verify", "--json", env=env)
    assert checked_trail.returncode == 0, checked_trail.stdout + checked_trail.stderr
    assert json.loads(checked_trail.stdout)["newest"]["timestamped"], "events verify checks the checkpoint's token"
    run_kho("fixity", "--json", env=env, check=True)  # more events: a later checkpoint, stamped too
    stamped = sorted(checkpoints.glob("*.json.tsr"))
    assert len(stamped) >= 2, [p.name for p in stamped]
    stamped[-1].write_bytes(stamped[0].read_bytes())  # a token moved onto another checkpoint
    moved = run_kho("events", "verify", "--json", env=env)
    assert moved.returncode == 1 and "does not stamp these bytes" in moved.stdout, moved.stdout
