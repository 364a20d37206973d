"""``kho digitise``: folders of scanned pages + TT 05 ``hoso.json`` -> one BagIt SIP for the normal ingest.

Order matters, and is why this is more than a loop over OCRmyPDF:

1. everything that can refuse the batch is checked first: the arguments, the metadata as it will be
   written (``packages.tt05`` rules, with each ``file`` already pointing at its PDF/A, ``numberOfPage``
   counted and ``confidenceLevel`` 02), and every page against ``digitisation.yaml``. One refusal lists
   every problem, and nothing is written: OCR is slow, and a half-built SIP is a trap;
2. only then is each document built in a staging folder beside ``SIP_DIR``: the masters copied as
   submitted, the pages made into a two-layer PDF/A-2b (``preservation.digitise.ocr``), checked with Kho's
   PDF/A checks (veraPDF where installed), and the recognised text written as UTF-8 NFC;
   When the archive's signing key is configured (``KHO_SIGNING_KEY``) each PDF/A is then signed as the
   organisation's digitised copy (``preservation.digitise.sign``: PAdES, visible at the top right, an
   incremental update) and checked again; without a key ``metadata/digitisation.json`` says the copy is
   unsigned, so an AIP never looks authenticated when it is not;
3. the staging folder is made a bag (the ``bagit`` library), ``metadata/hoso.json`` and
   ``metadata/digitisation.json`` (capture and OCR facts, per page) added as tag files, and the bag
   validated by the very code ``kho ingest`` uses (``packages.sip.validate_sip``) before it is renamed to
   ``SIP_DIR``. A failure at any step removes the staging folder.

Bag layout, per document (``<docCode>`` is the TT 05 docCode; TT 05 Điều 8.1.d names digitised files by
the mã hồ sơ + sequence number, which is what a docCode is)::

    data/<docCode>/<docCode>.pdf        the two-layer PDF/A-2b (the document's ``file`` in hoso.json)
    data/<docCode>/<docCode>.txt        the recognised text, UTF-8, NFC
    data/<docCode>/masters/<name>       the page images exactly as scanned (TIFF, JPEG or PNG, not converted)

Names from the input never reach a path unchecked: a document's folder must lie inside SCANS_DIR (no
``..``, no absolute path, no symbolic link leading out), master names are single path components, and
the output folder is named by the caller only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from packages import tt05
from preservation.digitise.quality import ERROR, WARNING, DocumentScan, Finding, check_document
from preservation.digitise.rules import OcrOptions, Rules
from preservation.digitise.sign import CopySigning, SignedCopy, unsigned

log = logging.getLogger("kho.digitise")
METADATA_NAME = "hoso.json"
REPORT_TAG = "metadata/digitisation.json"
NO_KEY = "no signing key configured (KHO_SIGNING_KEY) / chưa cấu hình khóa ký số của cơ quan (KHO_SIGNING_KEY)"
DIGITISED = "02"  # TT 05 confidenceLevel: số hóa (digitised copy)


class UsageError(ValueError):
    """The command was given something it cannot work with (exit code 2); the message is bilingual."""


class BuildError(RuntimeError):
    """A checked batch could not be made into a SIP (OCR failed, the PDF/A or the bag does not pass Kho's
    checks); nothing is left at SIP_DIR. The message is bilingual."""


@dataclass
class DocumentPlan:
    index: int
    label: str
    name: str  # the folder and file stem in the bag
    scan: DocumentScan
    record: dict[str, Any]

    @property
    def pdf(self) -> str:
        return f"data/{self.name}/{self.name}.pdf"

    @property
    def text(self) -> str:
        return f"data/{self.name}/{self.name}.txt"

    def masters(self) -> list[str]:
        return [f"data/{self.name}/masters/{_nfc(f.name)}" for f in self.scan.files]


@dataclass
class DigitiseResult:
    sip: Path | None
    findings: list[Finding] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return any(f.level == ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"sip": str(self.sip) if self.sip else None, "refused": self.refused,
                "documents": self.documents, "findings": [f.to_dict() for f in self.findings]}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _error(document: str, en: str, vi: str) -> Finding:
    return Finding(ERROR, document, en, vi)


def _read_metadata(path: Path) -> dict[str, Any]:
    """The input hoso.json: ``{"hoso": {...}, "documents": [{"file": "<folder>", ...}, ...]}``."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    try:
        if path.stat().st_size > tt05.MAX_METADATA_BYTES:
            raise UsageError(f"{path}: larger than {tt05.MAX_METADATA_BYTES} bytes / tệp quá lớn")
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read / không đọc được: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not valid UTF-8 JSON / không phải JSON UTF-8 hợp lệ: {exc}") from exc
    if (not isinstance(data, dict) or not isinstance(data.get("hoso"), dict)
            or not isinstance(data.get("documents"), list) or not data["documents"]
            or not all(isinstance(d, dict) for d in data["documents"])):
        raise UsageError(f'{path}: needs {{"hoso": {{...}}, "documents": [{{"file": "<folder of page images>", '
                         '...}]} / cần {"hoso": {...}, "documents": [...]} với ít nhất một tài liệu')
    return data


def _document_folder(scans: Path, value: Any) -> tuple[Path | None, str, Finding | None]:
    """The folder a document's ``file`` names, if it is a safe relative path to a folder inside ``scans``."""
    if not isinstance(value, str) or not value.strip():
        return None, "", _error("?", 'the document has no "file" naming its folder of page images',
                                'tài liệu thiếu "file" (thư mục ảnh các trang)')
    rel = PurePosixPath(_nfc(value.strip()).replace("\\", "/"))
    label = rel.as_posix()
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None, label, _error(label, "the folder must be a relative path inside SCANS_DIR (no '..', "
                                          "not absolute)",
                                   "thư mục phải là đường dẫn tương đối nằm trong SCANS_DIR (không '..', "
                                   "không tuyệt đối)")
    folder = scans.joinpath(*rel.parts)
    resolved_scans = scans.resolve()
    if not folder.resolve().is_relative_to(resolved_scans) or folder.is_symlink():
        return None, label, _error(label, "the folder leads outside SCANS_DIR (a link)",
                                   "thư mục dẫn ra ngoài SCANS_DIR (liên kết)")
    if not folder.is_dir():
        return None, label, _error(label, f"no folder {label} in SCANS_DIR",
                                   f"không có thư mục {label} trong SCANS_DIR")
    return folder, label, None


def _page_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _same_file(entry: Path, other: Path) -> bool:
    """Whether ``entry`` is ``other`` (the metadata file may lie in SCANS_DIR: it is not a stray file)."""
    try:
        return entry.is_file() and entry.samefile(other)
    except OSError:
        return False


def _check_metadata(hoso: dict[str, Any], plans: list[DocumentPlan], planned: set[str]) -> list[Finding]:
    """The TT 05 rules of ``packages.tt05`` on the metadata exactly as it will be written into the SIP.

    A document with an undecodable page has no page count yet (that page is refused already): it is
    checked as if counted, so that the refusal is not repeated as a missing ``numberOfPage``."""
    findings: list[Finding] = []
    records = [p.record if p.record.get("numberOfPage") not in (None, "") or not p.scan.undecodable
               else {**p.record, "numberOfPage": str(max(1, len(p.scan.pages)))} for p in plans]
    if hoso.get("numberOfPage") in (None, "") and any(p.scan.undecodable for p in plans):
        hoso = {**hoso, "numberOfPage": str(sum(int(r["numberOfPage"]) for r in records
                                                if str(r.get("numberOfPage", "")).isdigit()) or 1)}
    document = {"hoso": hoso, "documents": records}
    with tempfile.TemporaryDirectory(prefix="kho-digitise-meta-") as tmp:
        root = Path(tmp)
        (root / "metadata").mkdir()
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        (root / tt05.HOSO_JSON).write_bytes(data)
        (root / "tagmanifest-sha256.txt").write_text(f"{hashlib.sha256(data).hexdigest()}  {tt05.HOSO_JSON}\n",
                                                     encoding="utf-8")
        meta = tt05.load_metadata(root, planned)
        if meta is None:  # cannot happen: the file was just written
            return [_error(METADATA_NAME, "no TT 05 metadata", "không có dữ liệu đặc tả TT 05")]
        problems, warnings = tt05.validate_metadata(meta)
    for level, found in ((ERROR, problems), (WARNING, warnings)):
        for problem in found:  # masters and texts are described by their document (tt05.digitised_companions)
            where = (problem.path or METADATA_NAME).replace(tt05.HOSO_JSON, METADATA_NAME)
            findings.append(Finding(level, where, f"{problem.message_en} ({problem.detail})"
                                    if problem.detail else problem.message_en, problem.message_vi))
    return findings


def _set(record: dict[str, Any], key: str, value: str, where: str, findings: list[Finding]) -> None:
    """Set a field the digitisation decides; say so when the submitted value differed."""
    before = record.get(key)
    if before not in (None, "", value) and str(before) != value:
        findings.append(Finding(WARNING, where, f'{key} "{before}" replaced by "{value}" (a digitised copy)',
                                f'{key} "{before}" được thay bằng "{value}" (bản số hóa)'))
    record[key] = value


def plan(scans: Path, metadata: Path, rules: Rules) -> tuple[dict[str, Any], list[DocumentPlan], list[Finding]]:
    """Check everything, build nothing: the metadata to write, the documents, and the findings."""
    data = _read_metadata(metadata)
    hoso = dict(data["hoso"])
    findings: list[Finding] = []
    plans: list[DocumentPlan] = []
    names: set[str] = set()
    for index, raw in enumerate(data["documents"]):
        record = dict(raw)
        folder, label, problem = _document_folder(scans, record.get("file"))
        doc_code = record.get("docCode")
        if isinstance(doc_code, str) and tt05.DOC_CODE_PATTERN.fullmatch(doc_code.strip()):
            name = doc_code.strip()
            label = f"{name} ({label})" if label else name
        else:
            name = f"document-{index + 1:04d}"  # tt05 refuses the missing/invalid docCode below
        if name in names:
            name = f"{name}-{index + 1}"  # a duplicate docCode is refused by tt05 too; keep paths apart meanwhile
        names.add(name)
        if problem is not None or folder is None:
            findings.append(problem or _error(label, "no folder", "không có thư mục"))
            continue
        twin = next((p for p in plans if p.scan.folder.resolve() == folder.resolve()), None)
        if twin is not None:
            findings.append(_error(label, f"the same folder as {twin.label}: each document needs its own",
                                   f"trùng thư mục với {twin.label}: mỗi tài liệu cần thư mục riêng"))
            continue
        type_name = record.get("typeName") if isinstance(record.get("typeName"), str) else None
        scan = check_document(folder, label, PurePosixPath(*folder.relative_to(scans).parts).as_posix(),
                              rules.profile_for(type_name), rules, _page_count(record.get("numberOfPage")))
        findings.extend(scan.findings)
        plans.append(DocumentPlan(index=index, label=label, name=name, scan=scan, record=record))
    used = {p.scan.folder.relative_to(scans).parts[0] for p in plans}
    for entry in sorted(scans.iterdir(), key=lambda e: e.name):
        if entry.name not in used and not entry.name.startswith(".") and not _same_file(entry, metadata):
            findings.append(Finding(WARNING, METADATA_NAME, f"{entry.name} in SCANS_DIR is not the folder of any "
                                    "document: left out", f"{entry.name} trong SCANS_DIR không thuộc tài liệu nào "
                                    "trong hoso.json: bỏ qua"))
    for p in plans:
        p.record["file"] = p.pdf
        if not p.scan.undecodable and p.scan.pages:
            p.record["numberOfPage"] = str(len(p.scan.pages))
        _set(p.record, "confidenceLevel", DIGITISED, p.label, findings)
    _set(hoso, "confidenceLevel", DIGITISED, METADATA_NAME, findings)
    if hoso.get("numberOfPage") in (None, "") and plans and all(p.scan.pages for p in plans):
        hoso["numberOfPage"] = str(sum(len(p.scan.pages) for p in plans))
    if len(plans) == len(data["documents"]):  # else the missing folders are the news; tt05 would repeat them
        planned = {path for p in plans for path in (p.pdf, p.text, *p.masters())}
        findings.extend(_check_metadata(hoso, plans, planned))
    return hoso, plans, findings


def _check_output(scans: Path, output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder / đã tồn tại và không phải thư mục rỗng")
    out, src = output.resolve(), scans.resolve()
    if out.is_relative_to(src) or src.is_relative_to(out):
        raise UsageError(f"{output}: must not be inside SCANS_DIR nor contain it / không được nằm trong SCANS_DIR "
                         "hoặc chứa SCANS_DIR")


def _sign_and_check(pdf: Path, work: Path, signing: CopySigning | None, label: str) -> tuple[Any, dict[str, Any]]:
    """The PDF/A signed (when a key is configured) and checked: the check's result and the signature record.

    Signed first, checked after: the file the archive keeps is the signed one. Should a visible signature
    ever fail the PDF/A checks, the copy is signed again, invisibly, from the unsigned file, and the
    record says so: a valid PDF/A with an invisible signature beats a signed file that is not PDF/A."""
    import dataclasses

    from format_registry.validators.pdfa import accepted, check_pdfa
    from preservation.digitise.sign import SigningFailed, sign_copy

    if signing is None:
        return check_pdfa(pdf, "2", "b"), unsigned(NO_KEY)
    original = work / "unsigned.pdf"
    shutil.copyfile(pdf, original)
    try:
        signed: SignedCopy = sign_copy(pdf, signing)
        check = check_pdfa(pdf, "2", "b")
        if not accepted(check) and signing.visible:
            reasons = "; ".join(m.text for m in check.errors()[:3]) or check.status
            shutil.copyfile(original, pdf)
            signed = sign_copy(pdf, dataclasses.replace(signing, visible=False))
            signed.notes.append(f"the visible signature failed the PDF/A checks ({reasons}): signed invisibly / "
                                "chữ ký hiển thị làm hỏng PDF/A: đã ký ẩn")
            check = check_pdfa(pdf, "2", "b")
    except SigningFailed as exc:
        raise BuildError(f"{label}: {exc}") from exc
    return check, signed.to_dict()


def _build_document(p: DocumentPlan, staging: Path, scratch: Path, options: OcrOptions,
                    signing: CopySigning | None = None) -> dict[str, Any]:
    from format_registry.validators.pdfa import accepted
    from preservation.digitise.ocr import images_to_pdf, run_ocr

    folder = staging / p.name
    (folder / "masters").mkdir(parents=True)
    for source, target in zip(p.scan.files, p.masters(), strict=True):
        shutil.copyfile(source, staging / PurePosixPath(target).relative_to("data"))
    work = scratch / p.name
    work.mkdir(parents=True)
    source_pdf = work / "pages.pdf"
    images_to_pdf(p.scan.files, source_pdf)
    pdf, text = folder / f"{p.name}.pdf", folder / f"{p.name}.txt"
    result = run_ocr(source_pdf, pdf, text, options, len(p.scan.pages), work / "ocr")
    check, signature = _sign_and_check(pdf, work, signing, p.label)
    if not accepted(check):
        reasons = "; ".join(m.text for m in check.errors()[:5]) or check.status
        raise BuildError(f"{p.label}: the PDF/A made by OCRmyPDF fails the PDF/A-2b checks ({check.validator}): "
                       f"{reasons} / bản PDF/A không đạt kiểm tra PDF/A-2b")
    log.info("digitised %s: %d pages in %.1f s (%s)", p.label, len(p.scan.pages), result.seconds, check.validator)
    return {
        "document": p.label, "docCode": p.record.get("docCode"), "file": p.pdf, "text": p.text,
        "masters": p.masters(), "profile": p.scan.profile.name, "pages": [pg.to_dict() for pg in p.scan.pages],
        "ocr": {"engine": "OCRmyPDF + Tesseract", "ocrmypdf": result.ocrmypdf_version,
                "tesseract": result.tesseract_version, "language": options.language, "output_type": "pdfa-2",
                "deskew": options.deskew, "clean": options.clean, "seconds": round(result.seconds, 2)},
        "pdfa_check": {"validator": check.validator, "status": check.status,
                       "note": "; ".join(m.text for m in check.messages[:3])},
        "characters_recognised": len(text.read_text(encoding="utf-8").strip()),
        "signature": signature,
    }


def digitise(scans: Path, metadata: Path, output: Path, rules: Rules, *, options: OcrOptions | None = None,
             scratch_dir: Path | None = None, source_organization: str | None = None,
             keep_digests: tuple[str, ...] = ("sha256",), sip_limits: dict[str, int] | None = None,
             signing: CopySigning | None = None) -> DigitiseResult:
    """Check, then build the SIP at ``output``. Refusals come back as findings (``result.refused``), with
    nothing written; usage problems raise UsageError, missing tools ``ocr.ToolsMissing``, a failed build
    ``BuildError`` or ``ocr.OcrError``. With ``signing`` every PDF/A is signed as the organisation's copy."""
    from preservation.digitise.ocr import check_tools

    scans, metadata, output = Path(scans), Path(metadata), Path(os.path.abspath(output))  # "." has a name too
    if not scans.is_dir():
        raise UsageError(f"{scans}: not a folder / không phải thư mục")
    _check_output(scans, output)
    options = options or rules.ocr
    hoso, plans, findings = plan(scans, metadata, rules)
    result = DigitiseResult(sip=None, findings=findings)
    if result.refused:
        return result
    check_tools(options.language)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    scratch = Path(tempfile.mkdtemp(prefix="kho-digitise-", dir=scratch_dir))
    try:
        documents = [_build_document(p, staging, scratch, options, signing) for p in plans]
        _make_bag(staging, hoso, [p.record for p in plans], documents, result.findings, source_organization)
        _validate_bag(staging, keep_digests, sip_limits or {})
        if output.exists():
            output.rmdir()  # checked empty above
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.sip, result.documents = output, documents
    return result


def _make_bag(staging: Path, hoso: dict[str, Any], records: list[dict[str, Any]], documents: list[dict[str, Any]],
              findings: list[Finding], source_organization: str | None) -> None:
    import bagit

    file_code = str(hoso.get("fileCode") or "")
    info = {
        "External-Identifier": file_code,
        "Internal-Sender-Description": "Tài liệu giấy số hóa: ảnh gốc, PDF/A hai lớp (OCR tiếng Việt) và văn bản "
                                       "nhận dạng / Paper records digitised: master images, two-layer PDF/A "
                                       "(Vietnamese OCR) and recognised text",
        "Bag-Software-Agent": "kho digitise (OCRmyPDF + Tesseract vie)",
    }
    if source_organization:
        info["Source-Organization"] = source_organization
    bag = bagit.make_bag(os.fspath(staging), info, processes=1, checksums=["sha256"])
    (staging / "metadata").mkdir()
    document = {"hoso": hoso, "documents": records}
    (staging / tt05.HOSO_JSON).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "standard": "TT 05/2025/TT-BNV Điều 8 (PDF/A hai lớp)",
        "documents": documents,
        "warnings": [f.to_dict() for f in findings if f.level == WARNING],
    }
    (staging / REPORT_TAG).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    bag.save(processes=1)  # rewrites the tag manifest over the tag files added above


def _validate_bag(staging: Path, keep_digests: tuple[str, ...], limits: dict[str, int]) -> None:
    """The bag must pass the validation ``kho ingest`` runs: a SIP Kho itself would refuse is a bug here."""
    from packages.sip import validate_sip

    report = validate_sip(staging, profile="bagit", keep_digests=keep_digests, **limits)
    if not report.valid:
        raise BuildError("the SIP written does not validate / gói SIP tạo ra không hợp lệ: "
                       + "; ".join(p.line() for p in report.problems[:5]))


# -- the same build in steps, for the ``digitisation`` DAG (one mapped task per document) ---------------
#
# ``stage`` checks everything (as ``digitise`` does) and makes the staging folder; ``build_staged`` builds
# one document into it (re-checking that document's pages: a mapped task may run on another worker, later);
# ``finish_staged`` makes the bag, validates it and renames it to SIP_DIR. What passes between the steps
# is plain JSON (Airflow's XCom). ``discard_staged`` removes what a failed run left.


def stage(scans: Path, metadata: Path, output: Path, rules: Rules, options: OcrOptions | None = None,
          scratch_dir: Path | None = None) -> tuple[dict[str, Any] | None, DigitiseResult]:
    """The checks of :func:`digitise`; when nothing refuses, a staging folder and the plan as JSON."""
    from preservation.digitise.ocr import check_tools

    scans, metadata, output = Path(scans), Path(metadata), Path(os.path.abspath(output))
    if not scans.is_dir():
        raise UsageError(f"{scans}: not a folder / không phải thư mục")
    _check_output(scans, output)
    hoso, plans, findings = plan(scans, metadata, rules)
    result = DigitiseResult(sip=None, findings=findings)
    if result.refused:
        return None, result
    check_tools((options or rules.ocr).language)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    scratch = Path(tempfile.mkdtemp(prefix="kho-digitise-", dir=scratch_dir))
    staged = {
        "scans": os.fspath(scans), "output": os.fspath(output), "staging": os.fspath(staging),
        "scratch": os.fspath(scratch), "hoso": hoso,
        "warnings": [f.to_dict() for f in findings if f.level == WARNING],
        "documents": [{"index": p.index, "label": p.label, "name": p.name, "record": p.record,
                       "folder": PurePosixPath(*p.scan.folder.relative_to(scans).parts).as_posix()}
                      for p in plans],
    }
    return staged, result


def build_staged(staged: dict[str, Any], number: int, rules: Rules, options: OcrOptions | None = None,
                 signing: CopySigning | None = None) -> dict[str, Any]:
    """Build document ``number`` of ``staged`` into its staging folder; its record for the bag's report."""
    item = staged["documents"][number]
    scans = Path(staged["scans"])
    folder = scans.joinpath(*PurePosixPath(item["folder"]).parts)
    record = dict(item["record"])
    type_name = record.get("typeName") if isinstance(record.get("typeName"), str) else None
    scan = check_document(folder, item["label"], item["folder"], rules.profile_for(type_name), rules,
                          _page_count(record.get("numberOfPage")))
    errors = [f for f in scan.findings if f.level == ERROR]
    if errors:  # the pages changed since they were checked
        raise BuildError("; ".join(f.line() for f in errors[:5]))
    p = DocumentPlan(index=item["index"], label=item["label"], name=item["name"], scan=scan, record=record)
    return _build_document(p, Path(staged["staging"]), Path(staged["scratch"]), options or rules.ocr, signing)


def finish_staged(staged: dict[str, Any], documents: list[dict[str, Any]], *, source_organization: str | None = None,
                  keep_digests: tuple[str, ...] = ("sha256",), sip_limits: dict[str, int] | None = None) -> Path:
    """Bag the staging folder, validate it as ``kho ingest`` will, and rename it to SIP_DIR."""
    staging, output = Path(staged["staging"]), Path(staged["output"])
    warnings = [Finding(WARNING, w["document"], w["message_en"], w["message_vi"], w.get("page"), w.get("source"))
                for w in staged["warnings"]]
    try:
        _make_bag(staging, staged["hoso"], [d["record"] for d in staged["documents"]], documents, warnings,
                  source_organization)
        _validate_bag(staging, keep_digests, sip_limits or {})
        if output.exists():
            output.rmdir()
        os.rename(staging, output)
    except BaseException:
        discard_staged(staged)
        raise
    shutil.rmtree(staged["scratch"], ignore_errors=True)
    return output


def discard_staged(staged: dict[str, Any]) -> None:
    """Remove the staging and scratch folders of a run that will not finish."""
    shutil.rmtree(staged["staging"], ignore_errors=True)
    shutil.rmtree(staged["scratch"], ignore_errors=True)
