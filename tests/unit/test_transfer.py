"""preservation/transfer.py: hand-over packages and the signed receipt that closes the loop.

The sender marks an AIP transferred only on a receipt that verifies: signed by the receiving archive with its
X.509 certificate (a detached CMS signature over the receipt's canonical JSON), checked against the receiver's
certificate the sender was given, and naming the SHA-256 of a package that was sent. One changed byte
anywhere in the receipt, another key, a self-made certificate with the receiver's name, or a digest nobody
sent, and nothing is marked. Receipts of before (HMAC with a shared key) are still read, marked legacy.
The package itself is an E-ARK SIP carrying the AIP's files byte for byte and its whole PREMIS history.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from packages.eark import validate_eark
from preservation.catalog import Catalog
from preservation.signing import load_signer
from preservation.transfer import (
    TransferError,
    check_receipt,
    export_aips,
    import_receipt,
    make_receipt,
    receipt_bytes,
    sign,
)
from tests.conftest import FIXTURE_SIPS
from tests.helpers import Ingest, mets_schema, premis_schema
from tests.pki import RECEIVER_NAME, Identity, Pki, build_pki

KEY = "shared-secret-between-the-two-archives"
SENDER, RECEIVER = "UBND tỉnh Nghệ An", RECEIVER_NAME


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def receiver(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Identity:
    """The receiving archive, whose KHO_SIGNING_KEY signs the receipts of these tests."""
    identity = pki.organisation(RECEIVER)
    for name, value in identity.env().items():
        monkeypatch.setenv(name, value)
    return identity


def sent(aip_id: str, digest: str = "ab" * 32) -> dict[str, Any]:
    """The sender's transfer manifest for one package."""
    return {"batch": "b-1", "sender": SENDER, "receiver": RECEIVER,
            "packages": [{"aip_id": aip_id, "package": f"transfer-{aip_id}.zip", "sha256": digest, "size": 10}]}


def receipt_for(manifest: dict[str, Any], status: str = "stored", signer: Identity | None = None) -> dict[str, Any]:
    received = [{"package": p["package"], "sha256": p["sha256"], "status": status, "new_aip_id": "new-1"}
                for p in manifest["packages"]]
    return make_receipt(received, receiver=RECEIVER, sender=SENDER,
                        signer=load_signer(signer.p12, signer.password) if signer else None)


def legacy_receipt(manifest: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    """A receipt as Kho signed them before X.509 signatures: HMAC-SHA256 with the shared key."""
    receipt = {"receipt": str(uuid.uuid4()), "receiver": RECEIVER, "sender": SENDER,
               "received_at": "2025-06-30T08:00:00+00:00",
               "packages": [{"package": p["package"], "sha256": p["sha256"], "status": "stored", "new_aip_id": "n-9"}
                            for p in manifest["packages"]]}
    body = json.dumps(receipt, sort_keys=True, ensure_ascii=False)
    receipt["signature"] = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return receipt


def transferred(catalog: Catalog, aip_id: str) -> bool:
    aip = catalog.get_aip(aip_id)
    assert aip is not None
    return aip.transferred_at is not None


def test_the_receipt_carries_a_cms_signature_and_the_certificate(receiver: Identity) -> None:
    receipt = receipt_for(sent("a-1"))
    signature = receipt["signature"]
    assert signature["format"] == "cms-detached-sha256" and RECEIVER in signature["signer"]
    assert signature["certificate"].encode() == receiver.cert_pem.read_bytes()
    body = receipt_bytes(receipt)
    assert body == receipt_bytes(dict(reversed(receipt.items()))), "key order is not content"
    assert b"signature" not in body
    check = check_receipt(receipt, [receiver.certificate])
    assert not check.legacy and RECEIVER in check.signer


def test_one_changed_byte_anywhere_in_the_receipt_is_refused(ingest: Ingest, catalog: Catalog,
                                                              receiver: Identity) -> None:
    """Every byte of what the receipt says, and of the signer shown with it, is covered. The CMS container has
    parts no signature covers (the bag of certificates sent along, the list of digest algorithms): a changed
    byte there may still verify, but then only as the very receipt the receiver signed, by the receiver."""
    aip_id = ingest()
    manifest = sent(aip_id)
    original = receipt_for(manifest)
    body = json.dumps(original, ensure_ascii=False, indent=1).encode("utf-8")
    cms = body.index(original["signature"]["cms"].encode())
    cms_end = cms + len(original["signature"]["cms"])
    blobs = body.index(b'"signature"')  # the content in full; the signature's blobs every 5th byte (12 ms a check)
    still_a_receipt = container = 0
    for position in [*range(blobs), *range(blobs, len(body), 5)]:
        altered = bytearray(body)
        altered[position] ^= 0x01
        try:
            receipt = json.loads(altered.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # not JSON any more: no receipt to check
        if receipt == json.loads(body):
            continue  # the same receipt in another layout: nothing to refuse
        if cms <= position < cms_end:
            try:
                check = check_receipt(receipt, [receiver.certificate])
            except TransferError:
                continue
            assert receipt_bytes(receipt) == receipt_bytes(original) and RECEIVER in check.signer
            container += 1
            continue
        still_a_receipt += 1
        with pytest.raises((TransferError, KeyError, TypeError)) as refused:
            import_receipt(catalog, receipt, manifest, receiver_certificates=[receiver.certificate])
        assert refused.type is TransferError, f"byte {position}: {refused.value!r}"
        assert "chữ ký biên bản không hợp lệ" in str(refused.value) or "matches no package" in str(refused.value)
    assert still_a_receipt > 200, still_a_receipt
    assert container < (cms_end - cms) / 5 / 2, "most of the CMS is signed"
    assert not transferred(catalog, aip_id)
    assert not [e for e in catalog.events(aip_id) if e.event_type == "transfer"]
    done = import_receipt(catalog, json.loads(body), manifest, receiver_certificates=[receiver.certificate])
    assert done.aip_ids == [aip_id] and not done.legacy and transferred(catalog, aip_id)


@pytest.mark.parametrize("forger", ["another organisation under the same root", "a self-made certificate"])
def test_a_receipt_signed_by_anyone_but_the_receiver_is_refused(
    ingest: Ingest, catalog: Catalog, receiver: Identity, pki: Pki, forger: str
) -> None:
    aip_id = ingest()
    manifest = sent(aip_id)
    other = pki.organisation("Sở Nội vụ tỉnh Nghệ An") if forger.startswith("another") else pki.self_made(RECEIVER)
    forged = receipt_for(manifest, signer=other)
    assert RECEIVER in forged["signature"]["signer"] or forger.startswith("another")
    with pytest.raises(TransferError, match="chữ ký biên bản không hợp lệ") as refused:
        import_receipt(catalog, forged, manifest, receiver_certificates=[receiver.certificate])
    assert "does not verify" in str(refused.value)
    with pytest.raises(TransferError, match="receiver's certificate is needed"):
        import_receipt(catalog, forged, manifest)
    assert not transferred(catalog, aip_id)


def test_a_receipt_checks_against_the_ca_the_receiver_is_issued_under(
    ingest: Ingest, catalog: Catalog, receiver: Identity, pki: Pki
) -> None:
    aip_id = ingest()
    manifest = sent(aip_id)
    done = import_receipt(catalog, receipt_for(manifest), manifest, receiver_certificates=[pki.root.certificate])
    assert done.aip_ids == [aip_id]


def test_without_a_signing_key_no_receipt_is_made(monkeypatch: pytest.MonkeyPatch, kho_home: Path) -> None:
    monkeypatch.delenv("KHO_SIGNING_KEY", raising=False)
    with pytest.raises(TransferError, match="KHO_SIGNING_KEY is not set"):
        receipt_for(sent("a-1"))


def test_a_legacy_hmac_receipt_is_read_and_marked(ingest: Ingest, catalog: Catalog,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    aip_id = ingest()
    manifest = sent(aip_id)
    receipt = legacy_receipt(manifest)
    with pytest.raises(TransferError, match="KHO_TRANSFER_KEY is not set"):
        import_receipt(catalog, receipt, manifest)
    monkeypatch.setenv("KHO_TRANSFER_KEY", "the-receiver-guessed-a-key")
    with pytest.raises(TransferError, match="wrong key or altered receipt"):
        import_receipt(catalog, receipt, manifest)
    assert not transferred(catalog, aip_id)
    monkeypatch.setenv("KHO_TRANSFER_KEY", KEY)
    assert sign(receipt) == receipt["signature"]
    done = import_receipt(catalog, receipt, manifest)
    assert done.legacy and done.aip_ids == [aip_id] and transferred(catalog, aip_id)
    [event] = [e for e in catalog.events(aip_id) if e.event_type == "transfer"]
    assert "legacy receipt" in event.detail and "biên bản kiểu cũ" in event.detail


def test_only_packages_received_as_sent_and_stored_are_marked(ingest: Ingest, catalog: Catalog,
                                                              receiver: Identity) -> None:
    first = ingest()
    second = ingest(files={"data/Phụ lục.txt": "Phụ lục\n".encode()})
    manifest = {"packages": [*sent(first, "aa" * 32)["packages"], *sent(second, "bb" * 32)["packages"]]}
    unknown = receipt_for({"packages": [*manifest["packages"], {"package": "x.zip", "sha256": "cc" * 32}]})
    certificates = [receiver.certificate]
    with pytest.raises(TransferError, match="matches no package sent"):
        import_receipt(catalog, unknown, manifest, receiver_certificates=certificates)
    assert not transferred(catalog, first) and not transferred(catalog, second), "all or nothing"

    receipt = make_receipt([
        {"package": "a.zip", "sha256": "aa" * 32, "status": "stored", "new_aip_id": "n-1"},
        {"package": "b.zip", "sha256": "bb" * 32, "status": "rejected", "reason": "checksum"},
    ], receiver=RECEIVER, sender=SENDER)
    assert import_receipt(catalog, receipt, manifest, receiver_certificates=certificates).aip_ids == [first]
    assert transferred(catalog, first) and not transferred(catalog, second), "a rejected package stays ours"
    [event] = [e for e in catalog.events(first) if e.event_type == "transfer"]
    assert event.outcome == "success" and RECEIVER in event.detail and receipt["receipt"] in event.detail
    assert f"signed by CN={RECEIVER}" in event.detail
    assert "aa" * 32 in event.outcome_detail and "n-1" in event.outcome_detail


def test_the_package_is_an_eark_sip_with_the_files_and_the_whole_history(
    ingest: Ingest, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aip_id = ingest()
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no LibreOffice: the transfer list is CSV only
    result = export_aips(catalog, [aip_id], tmp_path / "out", sender=SENDER, receiver=RECEIVER,
                         organization=SENDER)
    assert result.transfer_list_pdf is None and result.transfer_list_csv is not None
    [package] = result.packages
    archive = tmp_path / "out" / package["package"]
    assert package["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / "transfer-manifest.json").read_text(encoding="utf-8"))
    assert manifest["packages"] == [package]

    (tmp_path / "work").mkdir()
    report = validate_eark(archive, strict=True, workdir=tmp_path / "work")
    assert report.valid, [p.line() for p in report.failures]
    assert report.kind == "SIP"
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(tmp_path / "unzipped")
    root = tmp_path / "unzipped" / f"transfer-{aip_id}"
    for original in (FIXTURE_SIPS / "hoso-2023-sotnmt-02" / "data").iterdir():
        assert (root / "representations/rep-01/data" / original.name).read_bytes() == original.read_bytes()
    mets = etree.parse(str(root / "METS.xml"))
    assert mets_schema().validate(mets), [str(e) for e in mets_schema().error_log][:5]
    premis_tree = etree.parse(str(root / "metadata/preservation/premis.xml"))
    assert premis_schema().validate(premis_tree), [str(e) for e in premis_schema().error_log][:5]
    written = {e.findtext("{http://www.loc.gov/premis/v3}eventIdentifier/{http://www.loc.gov/premis/v3}"
                          "eventIdentifierValue") for e in premis_tree.iter("{http://www.loc.gov/premis/v3}event")}
    history = {e.id for e in catalog.events(aip_id)}
    assert history <= written, "every event of the AIP travels with it, the transfer event included"
    [event] = [e for e in catalog.events(aip_id) if e.event_type == "transfer"]
    assert package["sha256"] in event.outcome_detail and not transferred(catalog, aip_id), "sent, not yet received"
