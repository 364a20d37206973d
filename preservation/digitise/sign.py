"""The archive's signature on a digitised copy (Nghị định 30/2020/NĐ-CP, TT 05/2025/TT-BNV Điều 8).

A digitised copy is authenticated by the organisation's digital signature on the copy, shown at the top
right of the first page with the copy's marking ("Bản sao số hóa") and the organisation's name. Kho makes
it a PAdES signature (pyHanko's ``PdfSigner``, ``ETSI.CAdES.detached``, SHA-256) in an incremental
update: the PDF/A-2b bytes OCRmyPDF wrote stay as they were, and PDF/A-2 allows incremental updates.

The visible box is drawn with Noto Sans (the copy OCRmyPDF ships, which has the Vietnamese glyphs)
embedded as a subset: a PDF/A font must be embedded, and pyHanko's default stamp font, Courier, is not.
Not DejaVu: pyHanko 0.38 writes the glyph widths (``/W``) in the font's own units, right only for fonts
of 1000 units per em (Noto's; DejaVu has 2048, and its text comes out twice as wide as drawn). The
widget is printable, not hidden: the other PDF/A rule a signature appearance can break. The caller
checks the signed file with Kho's PDF/A checks again and, should a visible box fail them on some input,
signs invisibly instead (``visible=False``) and says so in ``metadata/digitisation.json``.

The key is the archive's own (``KHO_SIGNING_KEY``, a PKCS#12 file, loaded by :mod:`preservation.signing`),
the same one that signs hand-over receipts and event-chain checkpoints. Kho's ingest validates PDF
signatures requiring revocation data (decision 0022), so the certificate's revocation status is put into
the signature when it can be had (PAdES-B-LT without a timestamp): CRLs given by the caller, or fetched
from the certificate's own CRL/OCSP addresses when ``allow_fetch`` (``KHO_REVOCATION_FETCH=on``). When
none can be had the copy is still signed (PAdES-B-B) and the record says the revocation data is missing:
a validator with network access can still establish it, and the ingest flags it as indeterminate, not
invalid. pyHanko rewrites the XMP ``pdf:Producer``; the Info ``/Producer`` is set to the same value so
the PDF/A rule that both agree still holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preservation.config import Settings
    from preservation.signing import Signer

FIELD_NAME = "KhoBanSaoSoHoa"
MARKING = "Bản sao số hóa / Digitised copy"
BOX_WIDTH, BOX_HEIGHT, MARGIN = 220.0, 44.0, 14.0  # points: top right of page 1, inside a 2 cm top margin


class SigningFailed(RuntimeError):
    """The copy could not be signed; the message is bilingual."""


@dataclass(frozen=True)
class CopySigning:
    """How digitised copies are signed: the archive's key, the name shown on the copy, revocation data."""

    signer: Signer
    organisation: str
    crls: tuple[bytes, ...] = ()  # DER CRLs covering the signer's chain, embedded in the signature
    trust_roots: tuple[Any, ...] = ()  # cryptography certificates the chain ends in (besides the PKCS#12's own)
    allow_fetch: bool = False  # fetch the chain's CRLs / OCSP responses to embed them
    visible: bool = True


@dataclass(frozen=True)
class SignedCopy:
    """What ``metadata/digitisation.json`` says about the signature."""

    signer: str
    visible: bool
    box: tuple[float, float, float, float] | None
    signed_at: str
    revocation_data: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        level = "PAdES-B-LT without timestamp" if self.revocation_data else "PAdES-B-B"
        return {"signed": True, "format": f"{level} (ETSI.CAdES.detached, SHA-256, incremental update)",
                "signer": self.signer, "field": FIELD_NAME, "marking": MARKING,
                "appearance": "visible, top right of page 1" if self.visible else "invisible",
                "box": [round(v, 1) for v in self.box] if self.box else None, "signed_at": self.signed_at,
                "revocation_data_embedded": self.revocation_data, "notes": self.notes}


def unsigned(reason: str) -> dict[str, Any]:
    """The record of a copy left unsigned, and why."""
    return {"signed": False, "reason": reason}


def stamp_font() -> Path | None:
    """Noto Sans as bundled with OCRmyPDF (1000 units per em, Vietnamese glyphs), if it is there."""
    try:
        import ocrmypdf
    except ImportError:
        return None
    font = Path(ocrmypdf.__file__).parent / "data" / "NotoSans-Regular.ttf"
    return font if font.is_file() else None


def _pyhanko_signer(signer: Signer) -> Any:
    from asn1crypto import keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def der(certificate: Any) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))

    key = keys.PrivateKeyInfo.load(signer.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return signers.SimpleSigner(signing_cert=der(signer.certificate), signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs([der(c) for c in signer.chain]))


def _first_page_box(writer: Any) -> tuple[float, float, float, float]:
    """The box at the top right of page 1, inside its crop box (a scan's page is its image's size)."""
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    box = page.get("/CropBox") or page.get("/MediaBox")
    x0, y0, x1, y1 = (float(v) for v in box)
    width, height = min(BOX_WIDTH, (x1 - x0) - 2 * MARGIN), min(BOX_HEIGHT, (y1 - y0) / 3)
    return (x1 - MARGIN - width, y1 - MARGIN - height, x1 - MARGIN, y1 - MARGIN)


def _validation_context(setup: CopySigning) -> Any:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy

    def der(certificate: Any) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))

    chain = (setup.signer.certificate, *setup.signer.chain)
    roots = [der(c) for c in (*setup.trust_roots, *(c for c in chain if c.issuer == c.subject))]
    return ValidationContext(trust_roots=roots, other_certs=[der(c) for c in setup.signer.chain],
                             crls=[asn1_crl.CertificateList.load(c) for c in setup.crls],
                             allow_fetching=setup.allow_fetch,
                             revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO))  # else pyHanko signs without


def _same_producer(writer: Any) -> None:
    """Info /Producer := what pyHanko writes into the XMP (PDF/A: the two must agree)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.metadata.model import VENDOR

    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if isinstance(info_ref, generic.IndirectObject):
        info = info_ref.get_object()
        info["/Producer"] = generic.TextStringObject(VENDOR)
        writer.mark_update(info_ref)


def _sign(pdf: Path, target: Path, setup: CopySigning, embed: bool) -> tuple[float, float, float, float] | None:
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    with pdf.open("rb") as source, target.open("wb") as out:
        writer = IncrementalPdfFileWriter(source, strict=False)
        _same_producer(writer)
        box = _first_page_box(writer) if setup.visible else None
        # pyHanko's annotation says int, but it writes the numbers as given: points need not be whole
        spec = fields.SigFieldSpec(sig_field_name=FIELD_NAME, on_page=0, box=box)  # type: ignore[arg-type]
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
            reason=MARKING, location=setup.organisation, name=setup.organisation,
            embed_validation_info=embed, validation_context=_validation_context(setup) if embed else None)
        style = None
        font = stamp_font()
        if setup.visible and font is not None:
            style = TextStampStyle(
                stamp_text=f"{MARKING}\n{setup.organisation}\nKý số / Signed: %(ts)s",
                timestamp_format="%d/%m/%Y %H:%M UTC",
                text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(os.fspath(font)), font_size=7),
                border_width=1, background=None)
        pdf_signer = signers.PdfSigner(meta, signer=_pyhanko_signer(setup.signer), stamp_style=style,
                                       new_field_spec=spec)
        pdf_signer.sign_pdf(writer, output=out)
    return box


def sign_copy(pdf: Path, setup: CopySigning) -> SignedCopy:
    """Sign ``pdf`` in place (written beside it, then renamed over it); SigningFailed when it cannot be."""
    if setup.visible and stamp_font() is None:
        raise SigningFailed("OCRmyPDF's Noto Sans font, which draws the visible signature, is missing / thiếu "
                            "phông Noto Sans của OCRmyPDF để vẽ chữ ký")
    signed_at = datetime.now(UTC)
    partial = pdf.with_name(pdf.name + ".signing")
    notes: list[str] = []
    embedded = True
    try:
        try:
            box = _sign(pdf, partial, setup, embed=True)
        except Exception as exc:  # no revocation data to be had (offline, no CRL given): sign without it
            embedded = False
            notes.append(f"no revocation data embedded ({type(exc).__name__}: {str(exc)[:200]}) / chữ ký không "
                         "kèm dữ liệu thu hồi chứng thư")
            box = _sign(pdf, partial, setup, embed=False)
        os.replace(partial, pdf)
    except Exception as exc:  # pyHanko and the key raise many kinds; the batch needs one, with the reason
        partial.unlink(missing_ok=True)
        raise SigningFailed(f"the PDF/A could not be signed ({type(exc).__name__}: {exc}) / không ký số được "
                            f"bản PDF/A") from exc
    return SignedCopy(signer=setup.signer.name, visible=setup.visible, box=box,
                      signed_at=signed_at.isoformat(timespec="seconds"), revocation_data=embedded, notes=notes)


def signing_from_settings(settings: Settings) -> CopySigning | None:
    """The archive's key (``KHO_SIGNING_KEY``) to sign each digitised copy with, or None when none is set;
    ``preservation.signing.SigningError`` (a ValueError) when it is set but cannot be used.

    The name on the copy is the organisation the certificate vouches for (its O), else ``KHO_ORGANIZATION``.
    The chain is validated against the PKCS#12's own root and ``KHO_TRUST_ANCHORS``; revocation data is
    fetched only when ``KHO_REVOCATION_FETCH`` is on (else the copy is PAdES-B-B, and says so)."""
    from cryptography.x509.oid import NameOID

    from preservation.signing import load_certificates, signer_from_settings

    signer = signer_from_settings(settings)
    if signer is None:
        return None
    roots = load_certificates([settings.trust_anchors]) if settings.trust_anchors is not None else []
    named = signer.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    organisation = str(named[0].value) if named else settings.organization
    return CopySigning(signer=signer, organisation=organisation, trust_roots=tuple(roots),
                       allow_fetch=settings.revocation_fetch)
