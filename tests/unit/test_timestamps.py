"""RFC 3161 requests and token checks (preservation.timestamps) against a real TSA over HTTP on 127.0.0.1
(tests/tsa.py), and the evidence record's own rules (preservation.evidence): its digest, renewal inputs,
the time each stamp is checked at."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from preservation import evidence, timestamps
from preservation.timestamps import TimestampError
from tests.tsa import TsaPki, TsaServer, running_tsa

DATA = "Hồ sơ lưu trữ vĩnh viễn".encode()


@pytest.fixture(scope="module")
def pki() -> TsaPki:
    return TsaPki.make()


@pytest.fixture(scope="module")
def tsa(pki: TsaPki) -> Iterator[TsaServer]:
    with running_tsa(pki) as server:
        yield server


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_round_trip(tsa: TsaServer, pki: TsaPki, algorithm: str) -> None:
    digest = timestamps.digest(DATA, algorithm)
    token = timestamps.request_timestamp(digest, algorithm, tsa.url(), timeout=5)
    info = timestamps.verify_timestamp(token, digest, [pki.root.asn1], algorithm=algorithm)
    assert info.status == "valid", info.reason
    assert info.hash_algorithm == algorithm and info.imprint == digest.hex()
    assert info.tsa is not None and "Máy chủ cấp dấu thời gian thử nghiệm" in info.tsa
    assert info.serial is not None and info.gen_time is not None
    assert abs(info.gen_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert info.tsa_certificate_not_after is not None and info.tsa_certificate_not_after.year == 2045
    assert len(info.chain) == 2 and "Tổ chức chứng thực gốc thử nghiệm Kho" in info.chain[-1]
    assert info.to_dict()["serial"] == str(info.serial)


def test_a_tampered_digest_or_token_is_invalid(tsa: TsaServer, pki: TsaPki) -> None:
    digest = timestamps.digest(DATA, "sha256")
    token = timestamps.request_timestamp(digest, "sha256", tsa.url())
    other = timestamps.digest(DATA + b".", "sha256")
    assert timestamps.verify_timestamp(token, other, [pki.root.asn1]).status == "invalid"
    assert timestamps.verify_timestamp(token, digest, [pki.root.asn1], algorithm="sha512").status == "invalid"
    altered = bytearray(token)
    altered[-20] ^= 0x01  # inside the signature value
    broken = timestamps.verify_timestamp(bytes(altered), digest, [pki.root.asn1])
    assert broken.status == "invalid" and "altered" in broken.reason
    assert timestamps.verify_timestamp(b"not a token", digest, [pki.root.asn1]).status == "invalid"


def test_an_untrusted_root_or_no_anchor_is_indeterminate(tsa: TsaServer, pki: TsaPki) -> None:
    digest = timestamps.digest(DATA, "sha256")
    foreign = timestamps.request_timestamp(digest, "sha256", tsa.url("/untrusted"))
    info = timestamps.verify_timestamp(foreign, digest, [pki.root.asn1])
    assert info.status == "indeterminate" and "trust anchor" in info.reason
    ours = timestamps.request_timestamp(digest, "sha256", tsa.url())
    assert timestamps.verify_timestamp(ours, digest, []).status == "indeterminate", "no anchor: nothing trusted"


def test_a_tsa_certificate_is_checked_at_the_moment_asked(tsa: TsaServer, pki: TsaPki) -> None:
    digest = timestamps.digest(DATA, "sha256")
    token = timestamps.request_timestamp(digest, "sha256", tsa.url("/short"))
    assert timestamps.verify_timestamp(token, digest, [pki.root.asn1]).status == "valid"
    later = datetime.now(UTC) + timedelta(days=pki.short_days + 1)
    expired = timestamps.verify_timestamp(token, digest, [pki.root.asn1], at=later)
    assert expired.status == "indeterminate" and "not valid at the moment checked" in expired.reason


@pytest.mark.parametrize(("path", "said"), [
    ("/refuse", "refused the request (rejection: policy refuses / từ chối; unaccepted_policy)"),
    ("/wrong-nonce", "answered another request"),
    ("/wrong-imprint", "stamped another digest"),
    ("/huge", "answered more than"),
    ("/http-500", "answered HTTP 500"),
    ("/nowhere", "answered HTTP 404"),
])
def test_a_bad_answer_is_refused_in_both_languages(tsa: TsaServer, path: str, said: str) -> None:
    with pytest.raises(TimestampError, match="/") as raised:
        timestamps.request_timestamp(timestamps.digest(DATA, "sha256"), "sha256", tsa.url(path))
    assert said in str(raised.value)
    assert any(ord(ch) > 127 for ch in str(raised.value).rsplit(" / ", 1)[-1]), "the Vietnamese half is there"


def test_unreachable_slow_and_wrong_requests_fail_quickly(pki: TsaPki) -> None:
    digest = timestamps.digest(DATA, "sha256")
    with running_tsa(pki) as server:
        url = server.url()
    with pytest.raises(TimestampError, match="cannot be reached"):
        timestamps.request_timestamp(digest, "sha256", url, timeout=2)
    with pytest.raises(TimestampError, match="not an http"):
        timestamps.request_timestamp(digest, "sha256", "file:///etc/passwd")
    with pytest.raises(TimestampError, match="bytes, not"):
        timestamps.request_timestamp(digest[:10], "sha256", url)
    with pytest.raises(TimestampError, match="not one of"):
        timestamps.request_timestamp(hashlib.sha1(DATA).digest(), "sha1", url)


def test_load_anchors(tmp_path: Path, pki: TsaPki) -> None:
    folder = pki.anchors_dir(tmp_path / "anchors")
    (folder / "root.der").write_bytes(pki.root.asn1.dump())  # the same root again, as DER: counted once
    (folder / "notes.txt").write_text("không phải chứng thư", encoding="utf-8")
    (folder / "both.pem").write_bytes(pki.root.pem() + pki.other_root.pem())
    assert {c.sha256 for c in timestamps.load_anchors(folder)} == {pki.root.asn1.sha256, pki.other_root.asn1.sha256}
    assert timestamps.load_anchors(None) == []
    with pytest.raises(TimestampError, match="does not exist"):
        timestamps.load_anchors(tmp_path / "missing")


# -- the evidence record ----------------------------------------------------------------------------------


def _record_with_renewal(tsa: TsaServer, first_path: str = "/short") -> tuple[evidence.EvidenceRecord,
                                                                                 dict[int, bytes], bytes]:
    inventory = b'{"head": "v1"}'
    record = evidence.EvidenceRecord("8d7f6a52-0000-4000-8000-000000000001",
                                     {"v1": evidence.inventory_digests(inventory)})
    stamp, token = evidence._stamp(tsa.url(first_path), record.aip_id, 1, "version", ["v1"], [], "sha256",
                                   bytes.fromhex(record.versions["v1"]["sha256"]), "test", 5)
    assert token is not None and stamp.stamped
    record.stamps.append(stamp)
    tokens = {1: token}
    imprint = hashlib.sha512(evidence.renewal_input(record, ["v1"], [1], tokens, "sha512")).digest()
    renewal, token2 = evidence._stamp(tsa.url(), record.aip_id, 2, "renewal", ["v1"], [1], "sha512", imprint,
                                      "test", 5)
    assert token2 is not None
    record.stamps.append(renewal)
    tokens[2] = token2
    return record, tokens, inventory


def test_the_record_round_trips_and_a_damaged_one_is_told(tsa: TsaServer) -> None:
    record, _tokens, _inventory = _record_with_renewal(tsa)
    raw = record.to_bytes()
    again = evidence.EvidenceRecord.from_bytes(raw, "test")
    assert again.to_bytes() == raw and [s.seq for s in again.heads()] == [2]
    assert again.stamps[0].event["event_type"] == "message digest calculation"
    with pytest.raises(evidence.EvidenceError, match="does not match its sha256"):
        evidence.EvidenceRecord.from_bytes(raw.replace(b'"v1"', b'"v9"', 1), "test")
    with pytest.raises(evidence.EvidenceError, match="not a kho-evidence/1"):
        evidence.EvidenceRecord.from_bytes(b'{"format": "other"}', "test")


def test_a_renewed_chain_outlives_the_first_tsa_certificate(tsa: TsaServer, pki: TsaPki) -> None:
    record, tokens, inventory = _record_with_renewal(tsa)
    anchors = [pki.root.asn1]
    later = datetime.now(UTC) + timedelta(days=pki.short_days + 30)
    report = evidence.verify_record(record, tokens, {"v1": inventory}, anchors, now=later)
    assert report.status == "valid", report.to_dict()
    alone = evidence.EvidenceRecord(record.aip_id, record.versions, record.stamps[:1])
    assert evidence.verify_record(alone, tokens, {"v1": inventory}, anchors, now=later).status == "indeterminate"
    assert evidence.verify_record(record, tokens, {"v1": inventory}, anchors, retired={"sha512"}).status == \
        "indeterminate", "a head made with a retired hash asks for a renewal"
    assert evidence.verify_record(record, tokens, {"v1": inventory + b" "}, anchors).status == "invalid"
    first = bytearray(tokens[1])
    first[-20] ^= 0x01
    tampered = evidence.verify_record(record, {**tokens, 1: bytes(first)}, {"v1": inventory}, anchors)
    assert tampered.status == "invalid"
    assert [c.status for c in tampered.stamps] == ["invalid", "invalid"], "the renewal covered the first token"


def test_what_is_due(tsa: TsaServer) -> None:
    record, _tokens, _inventory = _record_with_renewal(tsa, "/tsa")
    now = datetime.now(UTC)
    assert evidence.due(record, now=now, before_days=365, algorithm=None) == []
    assert evidence.due(record, now=now, before_days=365, algorithm="sha256") == [
        "sha256 replaces sha512 (timestamp 2)"]
    assert evidence.due(record, now=now, before_days=365 * 30, algorithm=None)[0].startswith(
        "the TSA certificate of timestamp 2 expires 2045")
    record.versions["v2"] = evidence.inventory_digests(b"v2")
    assert evidence.due(record, now=now, before_days=365, algorithm=None) == ["no timestamp of v2"]
