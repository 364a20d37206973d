"""preservation/transfer.py: hand-over packages and the signed receipt that closes the loop.

The sender marks an AIP transferred only on a receipt that verifies: signed with the key the two archives
share, and naming the SHA-256 of a package that was sent. One changed byte anywhere in the receipt, another
key, or a digest nobody sent, and nothing is marked. The package itself is an E-ARK SIP carrying the AIP's
files byte for byte and its whole PREMIS history.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from packages.eark import validate_eark
from preservation.catalog import Catalog
from preservation.transfer import TransferError, export_aips, import_receipt, make_receipt, sign
from tests.conftest import FIXTURE_SIPS
from tests.helpers import Ingest, mets_schema, premis_schema

KEY = "shared-secret-between-the-two-archives"
SENDER, RECEIVER = "UBND tỉnh Nghệ An", "Trung tâm Lưu trữ lịch sử tỉnh"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHO_TRANSFER_KEY", KEY)


def sent(aip_id: str, digest: str = "ab" * 32) -> dict[str, Any]:
    """The sender's transfer manifest for one package."""
    return {"batch": "b-1", "sender": SENDER, "receiver": RECEIVER,
            "packages": [{"aip_id": aip_id, "package": f"transfer-{aip_id}.zip", "sha256": digest, "size": 10}]}


def receipt_for(manifest: dict[str, Any], status: str = "stored") -> dict[str, Any]:
    received = [{"package": p["package"], "sha256": p["sha256"], "status": status, "new_aip_id": "new-1"}
                for p in manifest["packages"]]
    return make_receipt(received, receiver=RECEIVER, sender=SENDER)


def transferred(catalog: Catalog, aip_id: str) -> bool:
    aip = catalog.get_aip(aip_id)
    assert aip is not None
    return aip.transferred_at is not None


def test_the_signature_covers_the_content_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"receipt": "r-1", "receiver": RECEIVER, "packages": [{"sha256": "ab" * 32}]}
    signature = sign(document)
    assert len(signature) == 64 and signature == sign(dict(reversed(document.items()))), "key order is not content"
    assert sign({**document, "signature": "anything"}) == signature, "the signature field is not signed"
    assert sign({**document, "receiver": RECEIVER.replace("tỉnh", "tinh")}) != signature
    monkeypatch.setenv("KHO_TRANSFER_KEY", "another-key")
    assert sign(document) != signature
    monkeypatch.delenv("KHO_TRANSFER_KEY")
    with pytest.raises(TransferError, match="KHO_TRANSFER_KEY is not set"):
        sign(document)


def test_one_changed_byte_anywhere_in_the_receipt_is_refused(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest()
    manifest = sent(aip_id)
    body = json.dumps(receipt_for(manifest), ensure_ascii=False, indent=1).encode("utf-8")
    still_a_receipt = 0
    for position in range(len(body)):
        altered = bytearray(body)
        altered[position] ^= 0x01
        try:
            receipt = json.loads(altered.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # not JSON any more: no receipt to check
        if receipt == json.loads(body):
            continue  # the same receipt in another layout: nothing to refuse
        still_a_receipt += 1
        with pytest.raises((TransferError, KeyError, TypeError)) as refused:
            import_receipt(catalog, receipt, manifest)
        assert refused.type is TransferError, f"byte {position}: {refused.value!r}"
        assert "chữ ký biên bản không hợp lệ" in str(refused.value) or "matches no package" in str(refused.value)
    assert still_a_receipt > 200, still_a_receipt
    assert not transferred(catalog, aip_id)
    assert not [e for e in catalog.events(aip_id) if e.event_type == "transfer"]
    import_receipt(catalog, json.loads(body), manifest)  # the receipt as signed
    assert transferred(catalog, aip_id)


def test_a_receipt_signed_with_another_key_is_refused(
    ingest: Ingest, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    aip_id = ingest()
    manifest = sent(aip_id)
    monkeypatch.setenv("KHO_TRANSFER_KEY", "the-receiver-guessed-a-key")
    forged = receipt_for(manifest)
    monkeypatch.setenv("KHO_TRANSFER_KEY", KEY)
    with pytest.raises(TransferError, match="wrong key or altered receipt"):
        import_receipt(catalog, forged, manifest)
    assert not transferred(catalog, aip_id)


def test_only_packages_received_as_sent_and_stored_are_marked(ingest: Ingest, catalog: Catalog) -> None:
    first = ingest()
    second = ingest(files={"data/Phụ lục.txt": "Phụ lục\n".encode()})
    manifest = {"packages": [*sent(first, "aa" * 32)["packages"], *sent(second, "bb" * 32)["packages"]]}
    unknown = receipt_for({"packages": [*manifest["packages"], {"package": "x.zip", "sha256": "cc" * 32}]})
    with pytest.raises(TransferError, match="matches no package sent"):
        import_receipt(catalog, unknown, manifest)
    assert not transferred(catalog, first) and not transferred(catalog, second), "all or nothing"

    receipt = make_receipt([
        {"package": "a.zip", "sha256": "aa" * 32, "status": "stored", "new_aip_id": "n-1"},
        {"package": "b.zip", "sha256": "bb" * 32, "status": "rejected", "reason": "checksum"},
    ], receiver=RECEIVER, sender=SENDER)
    assert import_receipt(catalog, receipt, manifest) == [first]
    assert transferred(catalog, first) and not transferred(catalog, second), "a rejected package stays ours"
    [event] = [e for e in catalog.events(first) if e.event_type == "transfer"]
    assert event.outcome == "success" and RECEIVER in event.detail and receipt["receipt"] in event.detail
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
